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
    /** The plan: entry (the quote for a market entry), stop, target, quantity and $ risk. */
    plannedEntry: decimal("planned_entry").notNull(),
    plannedStop: decimal("planned_stop").notNull(),
    plannedTarget: decimal("planned_target"),
    plannedQuantity: decimal("planned_quantity").notNull(),
    /** Dollars at risk as planned: the denominator of the R multiple. */
    plannedRisk: decimal("planned_risk").notNull(),
    /** Quantity still open, unsigned. */
    quantity: decimal("quantity").notNull().default(sql`0`),
    /** Cost of the open quantity at average entry cost, unsigned. */
    costBasis: decimal("cost_basis").notNull().default(sql`0`),
    entryQuantity: decimal("entry_quantity").notNull().default(sql`0`),
    entryNotional: decimal("entry_notional").notNull().default(sql`0`),
    /** Average entry price over all entry fills (entry notional / entry quantity). */
    entryPrice: decimal("entry_price"),
    exitQuantity: decimal("exit_quantity").notNull().default(sql`0`),
    exitNotional: decimal("exit_notional").notNull().default(sql`0`),
    /** Average exit price over all exit fills. */
    exitPrice: decimal("exit_price"),
    exitReason: exitReason("exit_reason"),
    /** Net of commissions. */
    realizedPnl: decimal("realized_pnl").notNull().default(sql`0`),
    /** Realized P&L over planned risk; null with a zero planned risk. */
    rMultiple: decimal("r_multiple"),
    commissions: decimal("commissions").notNull().default(sql`0`),
    openedAt: instant("opened_at"),
    closedAt: instant("closed_at"),
    /** Time of the last fill or change applied, as the event reported it. */
    lastEventAt: instant("last_event_at").notNull(),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    index("trades_account_status_idx").on(t.accountId, t.status),
    index("trades_symbol_idx").on(t.accountId, t.symbol),
    // The day's closed trades (realized P&L on every valuation, stop-outs, the day's journal)
    // are read by close time, not from every closed trade of the account.
    index("trades_account_closed_idx").on(t.accountId, t.closedAt),
    check(
      "trades_closed_has_reason",
      sql`${t.status} <> 'CLOSED' or (${t.exitReason} is not null and ${t.closedAt} is not null)`,
    ),
  ],
);
