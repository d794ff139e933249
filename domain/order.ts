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
