import { pgEnum } from "drizzle-orm/pg-core";
import {
  ORDER_CLASSES,
  ORDER_ROLES,
  ORDER_SIDES,
  ORDER_STATUSES,
  ORDER_TYPES,
  TIMES_IN_FORCE,
} from "../../domain/order";
import { EXIT_REASONS, TRADE_STATUSES } from "../../domain/trade";
import { TRADING_MODES, type TradingStateSource } from "../../domain/tradingState";

/*
 * Database enums. The order vocabulary comes from the domain so the two can never drift; the
 * lists that belong to persistence only (who may use the bot, where a decision came from, how an
 * outbox row stands) are defined here.
 */

export const USER_ROLES = ["admin", "trader", "viewer"] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const ACCOUNT_ENVIRONMENTS = ["paper", "live"] as const;
export type AccountEnvironment = (typeof ACCOUNT_ENVIRONMENTS)[number];

export const TRADING_STATE_SOURCES = [
  "AUTO",
  "MANUAL",
] as const satisfies readonly TradingStateSource[];

export const DECISION_SOURCES = ["manual", "alert", "api"] as const;
export type DecisionSource = (typeof DECISION_SOURCES)[number];

/**
 * `executing` is held while one worker submits the entry, so a second worker finds nothing to
 * claim; `failed` records an execution the broker or the pre-trade checks refused.
 */
export const DECISION_STATUSES = [
  "pending",
  "approved",
  "rejected",
  "expired",
  "executing",
  "executed",
  "failed",
] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

export const ALERT_STATUSES = ["received", "sent", "approved", "rejected", "expired"] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export type { ExitReason, TradeStatus } from "../../domain/trade";

/** A long position is bought first; a short one sold first. */
export const POSITION_SIDES = ["long", "short"] as const;
export type PositionSide = (typeof POSITION_SIDES)[number];

/** Where an order event came from: the broker stream, polling, reconciliation (a report or an inferred fill), or ourselves (a local denial). */
export const EVENT_SOURCES = ["stream", "poll", "reconcile", "inferred", "local"] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export const OUTBOX_STATUSES = ["pending", "sent", "failed"] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

export const LOG_ENTITIES = [
  "order",
  "fill",
  "position",
  "trade",
  "decision",
  "alert",
  "account",
  "risk_limits",
] as const;
export type LogEntity = (typeof LOG_ENTITIES)[number];

export const userRole = pgEnum("user_role", USER_ROLES);
export const accountEnvironment = pgEnum("account_environment", ACCOUNT_ENVIRONMENTS);
export const tradingState = pgEnum("trading_state", TRADING_MODES);
export const tradingStateSource = pgEnum("trading_state_source", TRADING_STATE_SOURCES);
export const decisionSource = pgEnum("decision_source", DECISION_SOURCES);
export const decisionStatus = pgEnum("decision_status", DECISION_STATUSES);
export const alertStatus = pgEnum("alert_status", ALERT_STATUSES);
export const tradeStatus = pgEnum("trade_status", TRADE_STATUSES);
export const exitReason = pgEnum("exit_reason", EXIT_REASONS);
export const positionSide = pgEnum("position_side", POSITION_SIDES);
export const eventSource = pgEnum("event_source", EVENT_SOURCES);
export const outboxStatus = pgEnum("outbox_status", OUTBOX_STATUSES);
export const logEntity = pgEnum("log_entity", LOG_ENTITIES);
export const orderSide = pgEnum("order_side", ORDER_SIDES);
export const orderType = pgEnum("order_type", ORDER_TYPES);
export const timeInForce = pgEnum("time_in_force", TIMES_IN_FORCE);
export const orderClass = pgEnum("order_class", ORDER_CLASSES);
export const orderRole = pgEnum("order_role", ORDER_ROLES);
export const orderStatus = pgEnum("order_status", ORDER_STATUSES);
