import { sql } from "drizzle-orm";
import { bigint, check, index, pgTable, text } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";
import { decisions } from "./decisions";
import { exitReason, positionSide, tradeStatus } from "./enums";

/**
 * The trade journal: one row per trade from order to close, planned beside actual. Never deleted.
 * A trade without a decision is an adopted position found at the broker.
 */
export const trades = pgTable(
  "trades",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    decisionId: bigint("decision_id", { mode: "number" })
      .unique()
      .references(() => decisions.id),
    symbol: text("symbol").notNull(),
    side: positionSide("side").notNull(),
    status: tradeStatus("status").notNull().default("ORDERED"),
    plannedEntry: decimal("planned_entry"),
    plannedStop: decimal("planned_stop"),
    plannedTarget: decimal("planned_target"),
    plannedQuantity: decimal("planned_quantity").notNull(),
    plannedRisk: decimal("planned_risk"),
    /** Average entry price over all entry fills. */
    entryPrice: decimal("entry_price"),
    entryQuantity: decimal("entry_quantity").notNull().default(sql`0`),
    /** Average exit price over all exit fills. */
    exitPrice: decimal("exit_price"),
    exitQuantity: decimal("exit_quantity").notNull().default(sql`0`),
    exitReason: exitReason("exit_reason"),
    realizedPnl: decimal("realized_pnl").notNull().default(sql`0`),
    /** Realized P&L over planned risk; null until closed or without a planned risk. */
    rMultiple: decimal("r_multiple"),
    commission: decimal("commission").notNull().default(sql`0`),
    openedAt: instant("opened_at"),
    closedAt: instant("closed_at"),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    index("trades_account_status_idx").on(t.accountId, t.status),
    index("trades_symbol_idx").on(t.accountId, t.symbol),
    check(
      "trades_closed_has_reason",
      sql`${t.status} <> 'CLOSED' or (${t.exitReason} is not null and ${t.closedAt} is not null)`,
    ),
  ],
);
