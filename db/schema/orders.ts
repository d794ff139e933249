import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  pgTable,
  text,
  unique,
} from "drizzle-orm/pg-core";
import { TERMINAL_ORDER_STATUSES } from "../../domain/order";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";
import {
  eventSource,
  exitReason,
  orderClass,
  orderRole,
  orderSide,
  orderStatus,
  orderType,
  timeInForce,
} from "./enums";
import { trades } from "./trades";

/**
 * Every order ever sent or about to be sent, permanent for the audit trail. The row exists before
 * the broker call (status `pending_new`, no broker order id), so a retried job finds it by its
 * deterministic client order id instead of sending a second order.
 */
/**
 * The ended order statuses as a literal list, `('filled', ...)`: a statement that names them so
 * (not as parameters) is served by the partial index of working orders whatever its plan.
 */
export const endedStatuses = sql.raw(
  `(${TERMINAL_ORDER_STATUSES.map((status) => `'${status}'`).join(", ")})`,
);

export const orders = pgTable(
  "orders",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    tradeId: bigint("trade_id", { mode: "number" }).references(() => trades.id),
    /** The entry of a bracket, or the entry whose fill this exit protects. */
    parentOrderId: bigint("parent_order_id", { mode: "number" }).references(
      (): AnyPgColumn => orders.id,
    ),
    /** For protective exits placed per entry fill: the fill they cover. */
    protectsFillId: bigint("protects_fill_id", { mode: "number" }).references(
      (): AnyPgColumn => fills.id,
    ),
    /** The order this one replaced at the broker (a resize or a price change). */
    replacesOrderId: bigint("replaces_order_id", { mode: "number" }).references(
      (): AnyPgColumn => orders.id,
    ),
    clientOrderId: text("client_order_id").notNull().unique(),
    brokerOrderId: text("broker_order_id").unique(),
    symbol: text("symbol").notNull(),
    role: orderRole("role").notNull(),
    /** For EXIT orders: why the position is being closed (MANUAL_EXIT, FLATTENED). */
    exitReason: exitReason("exit_reason"),
    orderClass: orderClass("order_class").notNull().default("simple"),
    type: orderType("type").notNull(),
    side: orderSide("side").notNull(),
    timeInForce: timeInForce("time_in_force").notNull(),
    extendedHours: boolean("extended_hours").notNull().default(false),
    quantity: decimal("quantity").notNull(),
    filledQuantity: decimal("filled_quantity").notNull().default(sql`0`),
    /** Exact sum of price x quantity over the applied fills; the average is derived from it. */
    filledNotional: decimal("filled_notional").notNull().default(sql`0`),
    filledAvgPrice: decimal("filled_avg_price"),
    limitPrice: decimal("limit_price"),
    stopPrice: decimal("stop_price"),
    trailPercent: decimal("trail_percent"),
    status: orderStatus("status").notNull(),
    /** The status to restore if a pending cancel or replace is refused. */
    statusBeforePending: orderStatus("status_before_pending"),
    /** Every execution id folded into this order, in the order applied. */
    appliedExecutionIds: text("applied_execution_ids").array().notNull().default(sql`'{}'::text[]`),
    /** The broker order id of the order that replaced this one. */
    replacedByBrokerOrderId: text("replaced_by_broker_order_id"),
    /** `broker`, or `risk` for our own denial (never reached the broker). */
    rejectionSource: text("rejection_source"),
    rejectionReason: text("rejection_reason"),
    /** Price the order was expected to fill at when sent (the quote or the limit). */
    expectedPrice: decimal("expected_price"),
    estimatedSlippage: decimal("estimated_slippage"),
    actualSlippage: decimal("actual_slippage"),
    commission: decimal("commission").notNull().default(sql`0`),
    submittedAt: instant("submitted_at"),
    acceptedAt: instant("accepted_at"),
    filledAt: instant("filled_at"),
    canceledAt: instant("canceled_at"),
    expiredAt: instant("expired_at"),
    rejectedAt: instant("rejected_at"),
    /** Time of the last event applied (or of creation), as the event reported it. */
    lastEventAt: instant("last_event_at").notNull(),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    index("orders_account_status_idx").on(t.accountId, t.status),
    index("orders_trade_idx").on(t.tradeId),
    index("orders_parent_idx").on(t.parentOrderId),
    // The reads every decision and fill make stay as cheap after a year of orders as on the first
    // day: recent entries (the rate and duplicate rules), a symbol's orders (a new position's
    // protective orders), the working orders (exposure), which the partial index holds alone, and
    // the orders changed lately (reconciliation, beside the working ones).
    index("orders_account_created_idx").on(t.accountId, t.createdAt),
    index("orders_account_symbol_idx").on(t.accountId, t.symbol),
    index("orders_account_updated_idx").on(t.accountId, t.updatedAt),
    index("orders_working_idx").on(t.accountId).where(sql`${t.status} not in ${endedStatuses}`),
    /** One stop and one target per protected entry fill, however many workers race. */
    unique("orders_protects_fill_role").on(t.protectsFillId, t.role),
    check("orders_quantity_positive", sql`${t.quantity} > 0`),
    check(
      "orders_filled_within_quantity",
      sql`${t.filledQuantity} >= 0 and ${t.filledQuantity} <= ${t.quantity}`,
    ),
  ],
);

/** Executions reported by the broker (or inferred by reconciliation), one row per execution id. */
export const fills = pgTable(
  "fills",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    orderId: bigint("order_id", { mode: "number" })
      .notNull()
      .references(() => orders.id),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    /** The broker's execution id; a deterministic id for fills inferred by reconciliation. */
    executionId: text("execution_id").notNull().unique(),
    symbol: text("symbol").notNull(),
    side: orderSide("side").notNull(),
    quantity: decimal("quantity").notNull(),
    price: decimal("price").notNull(),
    commission: decimal("commission").notNull().default(sql`0`),
    /** The order's filled quantity and average price after this execution. */
    cumulativeQuantity: decimal("cumulative_quantity").notNull(),
    orderAvgPrice: decimal("order_avg_price").notNull(),
    source: eventSource("source").notNull(),
    filledAt: instant("filled_at").notNull(),
    recordedAt: instant("recorded_at").notNull(),
  },
  (t) => [
    index("fills_order_idx").on(t.orderId),
    index("fills_account_time_idx").on(t.accountId, t.filledAt),
    check("fills_quantity_positive", sql`${t.quantity} > 0 and ${t.price} > 0`),
  ],
);
