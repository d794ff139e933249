import { and, desc, eq, gte, sql } from "drizzle-orm";
import { equitiesNetOfLaterTransfers } from "../domain/tradingState";
import type { Database } from "./database";
import { equitySnapshots, trades } from "./schema";

/**
 * Close times (epoch ms) of the account's STOPPED_OUT trades closed since `since` at a loss: a
 * stop moved to or past the entry that is hit locks in a result, it is no loss of the streak.
 */
export async function listStopOutTimes(
  db: Database,
  accountId: number,
  since: Date,
): Promise<number[]> {
  const rows = await db
    .select({ closedAt: trades.closedAt })
    .from(trades)
    .where(
      and(
        eq(trades.accountId, accountId),
        eq(trades.exitReason, "STOPPED_OUT"),
        gte(trades.closedAt, since),
        sql`${trades.realizedPnl} < 0`,
      ),
    );
  return rows.flatMap((r) => (r.closedAt ? [r.closedAt.getTime()] : []));
}

/**
 * The equities of the account's latest `days` daily snapshots, newest first, each with the net
 * deposits of the days after it added: a withdrawal since is no drawdown, and a deposit since
 * hides none. All are as of the newest day's close (`equitiesNetOfLaterTransfers`): the newest
 * is its equity without the transfers booked after that close, which a caller weighing a later
 * equity adds (with any since).
 */
export async function listRecentEquities(db: Database, accountId: number, days: number) {
  const rows = await db
    .select({
      equity: equitySnapshots.equity,
      netDeposits: equitySnapshots.netDeposits,
      depositsAfterClose: equitySnapshots.depositsAfterClose,
    })
    .from(equitySnapshots)
    .where(eq(equitySnapshots.accountId, accountId))
    .orderBy(desc(equitySnapshots.tradingDay))
    .limit(Math.max(1, days));
  return equitiesNetOfLaterTransfers(rows);
}
