/**
 * What /api/execution does, behind the HTTP layer: submissions go through the same planning and
 * pre-trade checks as Telegram and become decisions executed by the `execute` job; cancels are
 * enqueued too. Reads come from the database, which the jobs keep current.
 */
import type { Logger } from "pino";
import { findBrokerAccount, tradingStateOf } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import {
  createDecision,
  createDecisionOnce,
  type Decision,
  findDecisionByIdempotencyKey,
} from "../../db/decisions";
import type { LoggedEvent } from "../../db/executionLog";
import {
  type FillPageFilter,
  listAccountFills,
  listAccountLogEvents,
  listOrdersWithFills,
  type OrderPageFilter,
  type OrderWithFills,
  type Page,
} from "../../db/executionQueries";
import type { FillRecord } from "../../db/fills";
import { findOrder, type OrderRecord } from "../../db/orders";
import { listPositions, type PositionRecord } from "../../db/positions";
import type { Broker, BrokerAccount } from "../../domain/broker";
import type { Decimal } from "../../domain/money";
import { TERMINAL_ORDER_STATUSES } from "../../domain/order";
import {
  type PlannedSize,
  type PlanViolation,
  type PricedPlan,
  planTrade,
  type TradeInput,
} from "../../domain/planTrade";
import type { TradingState } from "../../domain/tradingState";
import type { JobClient } from "../../jobs/client";
import { createSnapshotCaches, loadAccountSnapshot } from "../accountSnapshot";
import type { DeskMetrics } from "../metrics";

/** The part of the job client the API uses. */
export type ExecutionJobs = Pick<JobClient, "executeDecision" | "cancelTrade">;

export interface ExecutionServiceDeps {
  readonly db: Database;
  readonly broker: Broker;
  readonly jobs: ExecutionJobs;
  /** The broker account row this desk trades. */
  readonly accountId: number;
  readonly logger: Logger;
  readonly metrics: DeskMetrics;
  readonly now: () => Date;
}

/** A client's idempotency key for a submit, with what tells its retries from other requests. */
export interface SubmitIdempotency {
  readonly key: string;
  /** SHA-256 of the request as read (normalized), compared with a retry's. */
  readonly requestHash: string;
  /** The answer stored for retries (without the decision's id and time). */
  answerOf(plan: PricedPlan, size: PlannedSize): Record<string, unknown>;
}

export type SubmitOutcome =
  | {
      readonly ok: true;
      readonly replayed: false;
      readonly decision: Decision;
      readonly plan: PricedPlan;
      readonly size: PlannedSize;
    }
  /** The key's earlier request, the same as this one: its decision, nothing new recorded. */
  | { readonly ok: true; readonly replayed: true; readonly decision: Decision }
  /** The key made a decision for another request. */
  | { readonly ok: false; readonly kind: "key_reused"; readonly decision: Decision }
  | { readonly ok: false; readonly kind: "refused"; readonly violations: readonly PlanViolation[] }
  | {
      readonly ok: false;
      readonly kind: "unavailable";
      readonly code: string;
      readonly message: string;
    };

export type CancelOutcome =
  | { readonly ok: true; readonly order: OrderRecord; readonly tradeId: number }
  | {
      readonly ok: false;
      readonly status: 404 | 409;
      readonly code: string;
      readonly message: string;
    };

export interface ExecutionService {
  submit(
    proposal: TradeInput,
    requestedBy: string,
    notes: string | null,
    idempotency?: SubmitIdempotency,
  ): Promise<SubmitOutcome>;
  cancelOrder(orderId: number, requestedBy: string): Promise<CancelOutcome>;
  positions(): Promise<PositionRecord[]>;
  orders(filter: OrderPageFilter): Promise<OrderWithFills[]>;
  fills(filter: FillPageFilter): Promise<FillRecord[]>;
  account(): Promise<{
    broker: BrokerAccount | null;
    brokerError: string | null;
    tradingState: TradingState | null;
    lastSyncedAt: Date | null;
    stored: { equity: Decimal | null; cash: Decimal | null; buyingPower: Decimal | null };
  }>;
  executionLog(page: Page): Promise<ExecutionLogEntry[]>;
}

/**
 * A logged event, with the current row of the order it reports as not at the broker
 * (reconciliation's ORDER_UNKNOWN_AT_BROKER for an order never acknowledged): what the event
 * meant may have changed since (sent after all, or settled as never sent).
 */
export interface ExecutionLogEntry extends LoggedEvent {
  readonly unsentOrder: OrderRecord | null;
}

/** Whether an event reports an order the broker did not know that it had never acknowledged. */
function reportsUnsentOrder(event: LoggedEvent): boolean {
  return (
    event.event === "ORDER_UNKNOWN_AT_BROKER" &&
    event.orderId !== null &&
    event.details.acknowledged === false
  );
}

/** Builds the service for one account. */
export function createExecutionService(deps: ExecutionServiceDeps): ExecutionService {
  const { db, broker, jobs, accountId, logger, metrics } = deps;
  const caches = createSnapshotCaches({ logger });

  /**
   * Answers a request whose key already made a decision: that decision when the request is the
   * same (its execute job asked for again: the first answer may have failed before it was
   * queued, and the job id keeps it one job), else the key's reuse.
   */
  async function answerEarlier(
    earlier: Decision,
    idempotency: SubmitIdempotency,
  ): Promise<SubmitOutcome> {
    if (earlier.requestHash !== idempotency.requestHash) {
      return { ok: false, kind: "key_reused", decision: earlier };
    }
    if (earlier.status === "approved") await jobs.executeDecision(earlier.id);
    logger.info({ decisionId: earlier.id }, "submission retried with its idempotency key");
    return { ok: true, replayed: true, decision: earlier };
  }

  return {
    async submit(proposal, requestedBy, notes, idempotency) {
      if (idempotency !== undefined) {
        const earlier = await findDecisionByIdempotencyKey(db, accountId, idempotency.key);
        if (earlier) return answerEarlier(earlier, idempotency);
      }
      const now = deps.now();
      const account = await findBrokerAccount(db, accountId);
      if (account === null) throw new Error(`broker account ${accountId} does not exist`);
      const loaded = await loadAccountSnapshot(
        { db, broker, caches },
        accountId,
        proposal.symbol,
        now,
      );
      if (!loaded.ok) {
        logger.warn({ code: loaded.code }, "account snapshot unavailable; submission refused");
        return {
          ok: false,
          kind: "unavailable",
          code: "BROKER_UNAVAILABLE",
          message: `the broker could not be asked for a fresh account snapshot (${loaded.code}); nothing was submitted`,
        };
      }
      const planning = planTrade(
        proposal,
        loaded.value.snapshot,
        loaded.value.limits,
        tradingStateOf(account),
        now.getTime(),
      );
      const { plan, size } = planning;
      if (!planning.canConfirm || plan === null || size === null) {
        if (idempotency !== undefined) {
          // A twin with the same key recorded its decision meanwhile (which this one then meets
          // as a duplicate): that decision is the answer.
          const twin = await findDecisionByIdempotencyKey(db, accountId, idempotency.key);
          if (twin) return answerEarlier(twin, idempotency);
        }
        for (const violation of planning.violations) {
          metrics.rejections.inc({ code: violation.code, source: "risk" });
        }
        logger.info(
          { symbol: proposal.symbol, codes: planning.violations.map((v) => v.code), requestedBy },
          "submission refused by the pre-trade checks",
        );
        return { ok: false, kind: "refused", violations: planning.violations };
      }
      const draft = {
        accountId,
        source: "api",
        symbol: plan.symbol,
        side: plan.orderSide,
        entryType: plan.entryType,
        entryPrice: plan.limitPrice,
        stopPrice: plan.stop,
        targetPrice: plan.target,
        quantity: size.quantity,
        riskAmount: size.riskAmount,
        createdBy: requestedBy,
        status: "approved",
        notes,
      } as const;
      let decision: Decision;
      if (idempotency === undefined) {
        decision = await createDecision(db, draft, now);
      } else {
        const once = await createDecisionOnce(
          db,
          draft,
          {
            key: idempotency.key,
            requestHash: idempotency.requestHash,
            submitAnswer: idempotency.answerOf(plan, size),
          },
          now,
        );
        if (!once.created) return answerEarlier(once.decision, idempotency);
        decision = once.decision;
      }
      await jobs.executeDecision(decision.id);
      logger.info(
        { decisionId: decision.id, symbol: plan.symbol, quantity: size.quantity.toString() },
        "submission accepted; execution enqueued",
      );
      return { ok: true, replayed: false, decision, plan, size };
    },

    async cancelOrder(orderId, requestedBy) {
      const order = await findOrder(db, orderId);
      if (order === null || order.accountId !== accountId) {
        return { ok: false, status: 404, code: "ORDER_NOT_FOUND", message: `no order ${orderId}` };
      }
      const status = order.order.status;
      if ((TERMINAL_ORDER_STATUSES as readonly string[]).includes(status)) {
        return {
          ok: false,
          status: 409,
          code: "ORDER_NOT_OPEN",
          message: `order ${orderId} is ${status}; there is nothing to cancel`,
        };
      }
      if (order.order.role !== "ENTRY" && order.order.role !== "SLICE") {
        return {
          ok: false,
          status: 409,
          code: "PROTECTIVE_ORDER",
          message: `order ${orderId} is a protective exit (${order.order.role}); it stays while its position is open. Close the position instead`,
        };
      }
      if (order.tradeId === null) {
        return {
          ok: false,
          status: 409,
          code: "ORDER_NOT_IN_TRADE",
          message: `order ${orderId} belongs to no trade the desk follows`,
        };
      }
      await jobs.cancelTrade(
        accountId,
        order.tradeId,
        `cancel requested by ${requestedBy}`,
        requestedBy,
      );
      logger.info({ orderId, tradeId: order.tradeId, requestedBy }, "cancel enqueued");
      return { ok: true, order, tradeId: order.tradeId };
    },

    positions: () => listPositions(db, accountId),
    orders: (filter) => listOrdersWithFills(db, accountId, filter),
    fills: (filter) => listAccountFills(db, accountId, filter),
    async account() {
      const [stored, live] = await Promise.all([
        findBrokerAccount(db, accountId),
        broker.getAccount(),
      ]);
      return {
        broker: live.ok ? live.value : null,
        brokerError: live.ok ? null : live.code,
        tradingState: stored === null ? null : tradingStateOf(stored),
        lastSyncedAt: live.ok ? deps.now() : (stored?.lastSyncedAt ?? null),
        stored: {
          equity: stored?.equity ?? null,
          cash: stored?.cash ?? null,
          buyingPower: stored?.buyingPower ?? null,
        },
      };
    },
    async executionLog(page) {
      const events = await listAccountLogEvents(db, accountId, page);
      const ids = new Set(events.filter(reportsUnsentOrder).map((event) => event.orderId));
      const orders = new Map<number | null, OrderRecord>();
      for (const id of ids) {
        const order = id === null ? null : await findOrder(db, id);
        if (order !== null) orders.set(id, order);
      }
      return events.map((event) => ({
        ...event,
        unsentOrder: reportsUnsentOrder(event) ? (orders.get(event.orderId) ?? null) : null,
      }));
    },
  };
}
