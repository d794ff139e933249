import { type Decimal, ZERO } from "./money";

/** Buy or sell, as the broker names it. */
export const ORDER_SIDES = ["buy", "sell"] as const;
export type OrderSide = (typeof ORDER_SIDES)[number];

/** The broker's order types. */
export const ORDER_TYPES = ["market", "limit", "stop", "stop_limit", "trailing_stop"] as const;
export type OrderType = (typeof ORDER_TYPES)[number];

/** The broker's time-in-force values. */
export const TIMES_IN_FORCE = ["day", "gtc", "opg", "cls", "ioc", "fok"] as const;
export type TimeInForce = (typeof TIMES_IN_FORCE)[number];

/** The broker's order classes: a lone order, an entry with both exits, two exits, an entry with one exit. */
export const ORDER_CLASSES = ["simple", "bracket", "oco", "oto"] as const;
export type OrderClass = (typeof ORDER_CLASSES)[number];

/** What an order is for within a trade. */
export const ORDER_ROLES = ["ENTRY", "STOP_LOSS", "TAKE_PROFIT", "EXIT", "SLICE"] as const;
export type OrderRole = (typeof ORDER_ROLES)[number];

/**
 * The broker's order statuses (Alpaca Trading API v2, `OrderStatus`). Ours are the broker's,
 * so nothing is lost in translation; the transition table lives in the order state machine.
 */
export const ORDER_STATUSES = [
  "new",
  "partially_filled",
  "filled",
  "done_for_day",
  "canceled",
  "expired",
  "replaced",
  "pending_cancel",
  "pending_replace",
  "accepted",
  "pending_new",
  "accepted_for_bidding",
  "stopped",
  "rejected",
  "suspended",
  "calculated",
  "held",
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Statuses after which an order can neither fill nor be cancelled (canceled, expired and rejected orders may still report a late fill: LATE_FILL_STATUSES). */
export const TERMINAL_ORDER_STATUSES = [
  "filled",
  "canceled",
  "expired",
  "replaced",
  "rejected",
] as const satisfies readonly OrderStatus[];

/** Statuses that mark an outstanding cancel or replace request. */
export const PENDING_REQUEST_STATUSES = [
  "pending_cancel",
  "pending_replace",
] as const satisfies readonly OrderStatus[];
export type PendingRequestStatus = (typeof PENDING_REQUEST_STATUSES)[number];

/** Who refused an order: the broker (or its venue), or our own pre-trade risk checks before sending it. */
export type OrderRejectionSource = "broker" | "risk";

/** Why an order ended as `rejected`. A `risk` rejection (a local denial) never reached the broker. */
export interface OrderRejection {
  readonly source: OrderRejectionSource;
  readonly reason: string;
}

/**
 * An order as we know it: the broker's view folded from its events, never edited by hand.
 *
 * - `brokerOrderId` is null until the broker acknowledges the order; the `clientOrderId` is ours
 *   and deterministic, so a retried submission can find the order it already made.
 * - `filledNotional` is the exact sum of price x quantity over the applied executions. It is the
 *   source of truth for the average fill price (`filledNotional / filledQuantity`), so repeated
 *   partial fills never accumulate rounding in the average.
 * - `statusBeforePending` holds the status to restore when a cancel or replace request is rejected;
 *   it is set only while the status is `pending_cancel` or `pending_replace`.
 * - `appliedExecutionIds` lists every execution (fill) id already folded in, in the order applied:
 *   an order has a handful of executions, so a list is enough for the duplicate check and it
 *   stores as one array column.
 */
export interface Order {
  readonly clientOrderId: string;
  readonly brokerOrderId: string | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly orderClass: OrderClass;
  readonly role: OrderRole;
  readonly quantity: Decimal;
  readonly filledQuantity: Decimal;
  readonly filledNotional: Decimal;
  readonly averageFillPrice: Decimal | null;
  readonly limitPrice: Decimal | null;
  readonly stopPrice: Decimal | null;
  readonly status: OrderStatus;
  readonly statusBeforePending: OrderStatus | null;
  readonly appliedExecutionIds: readonly string[];
  /** The broker order id of the order that replaced this one (status `replaced`). */
  readonly replacedByOrderId: string | null;
  readonly rejection: OrderRejection | null;
  /** ISO-8601 time of the last event applied (or of creation). */
  readonly updatedAt: string;
}

/** What it takes to create an order before it is sent. */
export interface OrderDraft {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly orderClass: OrderClass;
  readonly role: OrderRole;
  readonly quantity: Decimal;
  readonly limitPrice: Decimal | null;
  readonly stopPrice: Decimal | null;
}

/** Fields every broker event may carry. */
interface BrokerEventBase {
  /** ISO-8601 time of the event, as reported by the broker. */
  readonly at: string;
  /** The broker's order id, when the event carries it; recorded on the first acknowledgement. */
  readonly brokerOrderId?: string;
}

/** One execution: the price and quantity of THIS fill, not the cumulative figures. */
export interface OrderFillEvent extends BrokerEventBase {
  readonly event: "fill" | "partial_fill";
  readonly executionId: string;
  readonly price: Decimal;
  readonly quantity: Decimal;
}

/** A broker event that only reports a status. */
export interface OrderStatusEvent extends BrokerEventBase {
  readonly event:
    | "new"
    | "accepted"
    | "pending_new"
    | "canceled"
    | "expired"
    | "done_for_day"
    | "pending_cancel"
    | "pending_replace"
    | "stopped"
    | "suspended"
    | "calculated"
    | "held";
}

/** The broker replaced the order; the replacing order has its own id. */
export interface OrderReplacedEvent extends BrokerEventBase {
  readonly event: "replaced";
  readonly replacedByOrderId: string;
}

/** The broker (or its venue) rejected the order. */
export interface OrderRejectedEvent extends BrokerEventBase {
  readonly event: "rejected";
  readonly reason: string;
}

/** The broker refused our cancel or replace request; the order keeps working as before. */
export interface OrderRequestRejectedEvent extends BrokerEventBase {
  readonly event: "order_cancel_rejected" | "order_replace_rejected";
  readonly reason?: string;
}

/** Our own pre-trade risk checks refused the order: it never reached the broker. */
export interface OrderDeniedEvent {
  readonly event: "denied";
  readonly at: string;
  readonly reason: string;
}

/** Everything that can happen to an order: the broker's `trade_updates` events plus the local denial. */
export type OrderEvent =
  | OrderFillEvent
  | OrderStatusEvent
  | OrderReplacedEvent
  | OrderRejectedEvent
  | OrderRequestRejectedEvent
  | OrderDeniedEvent;

export type OrderEventName = OrderEvent["event"];

/** Every event name, for parsers and tests. */
export const ORDER_EVENT_NAMES = [
  "new",
  "accepted",
  "pending_new",
  "partial_fill",
  "fill",
  "canceled",
  "expired",
  "done_for_day",
  "replaced",
  "rejected",
  "pending_cancel",
  "pending_replace",
  "order_cancel_rejected",
  "order_replace_rejected",
  "stopped",
  "suspended",
  "calculated",
  "held",
  "denied",
] as const satisfies readonly OrderEventName[];

/** Statuses a new order starts in: sent and not yet acknowledged, or a bracket leg held for its entry. */
export type InitialOrderStatus = "pending_new" | "held";

/**
 * Creates the order we are about to send: nothing filled, no broker id yet. It starts as
 * `pending_new` (sent, not yet acknowledged), or `held` for a bracket leg that waits for its entry
 * to fill. A non-positive quantity is a bug in the caller (sizing refuses those before), so it throws.
 */
export function createOrder(
  draft: OrderDraft,
  at: string,
  initialStatus: InitialOrderStatus = "pending_new",
): Order {
  if (!draft.quantity.isFinite() || draft.quantity.lte(0)) {
    throw new RangeError(`order quantity must be positive: ${draft.quantity.toString()}`);
  }
  return {
    ...draft,
    brokerOrderId: null,
    filledQuantity: ZERO,
    filledNotional: ZERO,
    averageFillPrice: null,
    status: initialStatus,
    statusBeforePending: null,
    appliedExecutionIds: [],
    replacedByOrderId: null,
    rejection: null,
    updatedAt: at,
  };
}
