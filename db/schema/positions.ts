import { sql } from "drizzle-orm";
import { bigint, check, pgTable, text, unique } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";
import { trades } from "./trades";

/**
 * Open positions only, as the domain's `Position` (average cost): a row is removed when its
 * quantity reaches zero (the trade journal and the execution log keep the history). One row per
 * account and symbol, as the broker nets them.
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
    /** Signed: positive long, negative short (as the broker's `qty`); never zero here. */
    quantity: decimal("quantity").notNull(),
    /** Signed like the quantity: what the open quantity cost at entry. */
    costBasis: decimal("cost_basis").notNull(),
    /** Cost basis over quantity, always positive; stored for readers, derived from the two above. */
    averageCost: decimal("average_cost").notNull(),
    /** Realized on partial closes while open, net of commissions. */
    realizedPnl: decimal("realized_pnl").notNull(),
    commissions: decimal("commissions").notNull(),
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
    check("positions_quantity_nonzero", sql`${t.quantity} <> 0`),
  ],
);
