import type { Dec } from "./decimal";

/** Whether an order opens or closes a position, on which side. */
export type PositionIntent = "buy_to_open" | "buy_to_close" | "sell_to_open" | "sell_to_close";
export type OrderSide = "buy" | "sell";
export type OrderType = "market" | "limit" | "stop" | "stop_limit" | "trailing_stop";
export type TimeInForce = "day" | "gtc" | "opg" | "cls" | "ioc" | "fok";
export type OrderClass = "simple" | "bracket" | "oco" | "oto";
export type OrderStatus =
  | "new"
  | "partially_filled"
  | "filled"
  | "done_for_day"
  | "canceled"
  | "expired"
  | "replaced"
  | "pending_cancel"
  | "pending_replace"
  | "accepted"
  | "pending_new"
  | "rejected"
  | "held";

export type TradeEvent =
  | "new"
  | "fill"
  | "partial_fill"
  | "canceled"
  | "expired"
  | "done_for_day"
  | "replaced"
  | "rejected"
  | "pending_new"
  | "pending_cancel"
  | "pending_replace"
  | "order_replace_rejected"
  | "order_cancel_rejected";

/** Which leg of a multi-leg order this is; drives the group rules. */
export type LegRole = "entry" | "take_profit" | "stop_loss";

export interface SimOrder {
  id: string;
  /** Submission sequence, to order listings when the simulated clock stands still. */
  seq: number;
  clientOrderId: string;
  symbol: string;
  assetId: string;
  side: OrderSide;
  type: OrderType;
  timeInForce: TimeInForce;
  orderClass: OrderClass;
  qty: Dec | null;
  notional: Dec | null;
  filledQty: Dec;
  filledNotional: Dec; // sum of price * qty over executions, for the average price
  limitPrice: Dec | null;
  stopPrice: Dec | null;
  trailPrice: Dec | null;
  trailPercent: Dec | null;
  hwm: Dec | null;
  stopTriggered: boolean;
  status: OrderStatus;
  extendedHours: boolean;
  createdAt: Date;
  updatedAt: Date;
  submittedAt: Date;
  filledAt: Date | null;
  expiredAt: Date | null;
  canceledAt: Date | null;
  failedAt: Date | null;
  replacedAt: Date | null;
  replacedBy: string | null;
  replaces: string | null;
  /** Parent order id for legs of a bracket, OCO or OTO. */
  parentId: string | null;
  legIds: string[];
  role: LegRole;
  /** An exit leg whose entry has completely filled: it executes even while its status is `held`. */
  armed: boolean;
  /**
   * The status before an outstanding cancel or replace request (`pending_cancel`,
   * `pending_replace`): the order keeps working as it did until the venue confirms the request.
   */
  pendingFrom: OrderStatus | null;
  positionIntent: PositionIntent;
}

export interface Quote {
  bid: Dec | null;
  ask: Dec | null;
  bidSize: number;
  askSize: number;
  last: Dec;
  lastSize: number;
  time: Date;
  tradeId: number;
}

export interface Position {
  symbol: string;
  qty: Dec; // signed: negative for a short
  costBasis: Dec; // signed total cost of the open quantity
  lastdayPrice: Dec | null;
}

/** A `trade_updates` payload (the `data` of a stream message). */
export interface TradeUpdate {
  event: TradeEvent;
  order: Record<string, unknown>;
  timestamp: string;
  execution_id?: string;
  price?: string;
  qty?: string;
  position_qty?: string;
}

/** An Alpaca API error: HTTP status plus `{code, message}` body (extra fields allowed). */
export interface ApiFailure {
  ok: false;
  status: number;
  body: { code: number; message: string; [extra: string]: unknown };
}

export type ApiResult<T> = { ok: true; value: T } | ApiFailure;

export function fail(
  status: number,
  code: number,
  message: string,
  extra: Record<string, unknown> = {},
): ApiFailure {
  return { ok: false, status, body: { code, message, ...extra } };
}

export const OPEN_STATUSES: ReadonlySet<OrderStatus> = new Set([
  "new",
  "partially_filled",
  "accepted",
  "pending_new",
  "held",
  "pending_cancel",
  "pending_replace",
  "done_for_day",
]);
