/**
 * Journal reads for the desk's reports: closed trades with where they came from (the decision's
 * source, the alert's pattern), and the trades closed on one New York trading day.
 */
import { and, asc, eq, gte, lt } from "drizzle-orm";
import type { ClosedTradeSummary, TradeSource } from "../domain/statistics";
import type { Database } from "./database";
import { alerts, decisions, trades } from "./schema";
import { type TradeRecord, tradeRecordOfRow } from "./trades";

/** Every closed trade of an account as statistics need it, in closing order. */
export async function listClosedTradeSummaries(
  db: Database,
  accountId: number,
): Promise<ClosedTradeSummary[]> {
  const rows = await db
    .select({
      realizedPnl: trades.realizedPnl,
      rMultiple: trades.rMultiple,
      closedAt: trades.closedAt,
      source: decisions.source,
      pattern: alerts.pattern,
    })
    .from(trades)
    .leftJoin(decisions, eq(decisions.id, trades.decisionId))
    .leftJoin(alerts, eq(alerts.id, decisions.alertId))
    .where(and(eq(trades.accountId, accountId), eq(trades.status, "CLOSED")))
    .orderBy(asc(trades.closedAt), asc(trades.id));
  return rows.flatMap((row) =>
    row.closedAt === null
      ? []
      : [
          {
            realizedPnl: row.realizedPnl,
            rMultiple: row.rMultiple,
            // An adopted position has no decision: it was opened by hand outside the desk.
            source: (row.source ?? "manual") satisfies TradeSource,
            pattern: row.pattern,
            closedAt: row.closedAt.getTime(),
          },
        ],
  );
}

/** Trades of an account closed in [from, to). */
export async function listTradesClosedBetween(
  db: Database,
  accountId: number,
  from: Date,
  to: Date,
): Promise<TradeRecord[]> {
  const rows = await db
    .select()
    .from(trades)
    .where(
      and(
        eq(trades.accountId, accountId),
        eq(trades.status, "CLOSED"),
        gte(trades.closedAt, from),
        lt(trades.closedAt, to),
      ),
    )
    .orderBy(asc(trades.closedAt));
  return rows.map(tradeRecordOfRow);
}
