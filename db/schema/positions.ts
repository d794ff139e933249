import { sql } from "drizzle-orm";
import { bigint, check, pgTable, text, unique } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";
import { positionSide } from "./enums";
import { trades } from "./trades";

/**
 * Open positions only: a row is removed when its quantity reaches zero (the trade journal and the
 * execution log keep the history). One row per account and symbol, as the broker nets them.
 */
export const positions = pgTable(
  "positions",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    tradeId: bigint("trade_id", { mode: "number" }).references(() => trades.id),
    symbol: text("symbol").notNull(),
    side: positionSide("side").notNull(),
    /** Always positive; the side says which way. */
    quantity: decimal("quantity").notNull(),
    averageCost: decimal("average_cost").notNull(),
    markPrice: decimal("mark_price"),
    marketValue: decimal("market_value"),
    unrealizedPnl: decimal("unrealized_pnl"),
    /** Live stop and target orders (ids in `orders`) protecting this position. */
    protectiveOrderIds: bigint("protective_order_ids", { mode: "number" })
      .array()
      .notNull()
      .default(sql`'{}'::bigint[]`),
    openedAt: instant("opened_at").notNull(),
    markedAt: instant("marked_at"),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    unique("positions_account_symbol").on(t.accountId, t.symbol),
    check("positions_quantity_positive", sql`${t.quantity} > 0`),
  ],
);
