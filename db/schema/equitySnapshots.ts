import { sql } from "drizzle-orm";
import { bigint, date, integer, pgTable, unique } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";

/** One row per account and trading day (America/New_York), rewritten until the day closes. */
export const equitySnapshots = pgTable(
  "equity_snapshots",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    /** The New York trading day, `YYYY-MM-DD`. */
    tradingDay: date("trading_day", { mode: "string" }).notNull(),
    equity: decimal("equity").notNull(),
    /** Equity at the previous close: the base for the day's P&L. */
    previousCloseEquity: decimal("previous_close_equity").notNull(),
    cash: decimal("cash").notNull(),
    /**
     * Cash moved into the account during the day other than by trading: deposits less
     * withdrawals, from the broker's cash activities. It is in `equity` but is no P&L.
     */
    netDeposits: decimal("net_deposits").notNull().default(sql`0`),
    /**
     * The part of `netDeposits` booked after the session's close (a snapshot rewritten after
     * hours): in `equity`, and in the next trading day's `netDeposits` too, which counts from
     * this close. The drawdown weighs each day as of its close without it.
     */
    depositsAfterClose: decimal("deposits_after_close").notNull().default(sql`0`),
    realizedPnl: decimal("realized_pnl").notNull(),
    unrealizedPnl: decimal("unrealized_pnl").notNull(),
    openPositions: integer("open_positions").notNull(),
    takenAt: instant("taken_at").notNull(),
  },
  (t) => [unique("equity_snapshots_account_day").on(t.accountId, t.tradingDay)],
);
