/**
 * Valuation writes and reads: marks for many positions in one statement (quotes are applied in
 * memory and written in batches, never one write per quote), and the realized figures of a
 * trading day for the daily P&L, the kill switch and the end-of-day summary.
 */
import { type SQL, sql } from "drizzle-orm";
import { type Decimal, ZERO } from "../domain/money";
import { type Database, queryRows } from "./database";
import { executionLog, trades } from "./schema";

/** A new mark for one symbol of an account. */
export interface MarkUpdate {
  readonly symbol: string;
  readonly markPrice: Decimal;
  /** When the quote behind the mark was taken. */
  readonly at: Date;
}

/**
 * Writes marks for an account's positions in one statement: mark price, market value (quantity x
 * mark) and unrealized P&L (market value - cost basis, the domain's formulas, in exact numeric
 * arithmetic), computed from each row as it stands when written, so a fill applied meanwhile is
 * never overwritten. A mark older than the one stored is skipped. Returns the symbols written.
 */
export async function recordMarks(
  db: Database,
  accountId: number,
  marks: readonly MarkUpdate[],
): Promise<string[]> {
  if (marks.length === 0) return [];
  const values: SQL[] = marks.map(
    (m) =>
      sql`(${m.symbol}::text, ${m.markPrice.toFixed()}::numeric, ${m.at.toISOString()}::timestamptz)`,
  );
  const rows = await queryRows<{ symbol: string }>(
    db,
    sql`update positions as p
      set mark_price = v.mark,
          market_value = p.quantity * v.mark,
          unrealized_pnl = p.quantity * v.mark - p.cost_basis,
          marked_at = v.at
      from (values ${sql.join(values, sql`, `)}) as v(symbol, mark, at)
      where p.account_id = ${accountId} and p.symbol = v.symbol
        and (p.marked_at is null or p.marked_at <= v.at)
      returning p.symbol`,
  );
  return rows.map((r) => r.symbol);
}

/**
 * What fills in [from, to) of the account's trades not closed in it (still open, or closed
 * after it) realized: partial exits, net of commissions. Each fill's position event carries what
 * that fill realized; an open trade's own total would put earlier days' partial exits in this
 * period.
 */
export async function sumOpenTradesRealized(
  db: Database,
  accountId: number,
  from: Date,
  to: Date,
): Promise<Decimal> {
  return (await partialExitsRealized(db, accountId, from, to)).all;
}

/**
 * What fills in [from, to) of the account's trades not closed in it realized (partial exits of
 * trades still open, or closed later): all of them, and the part of the trades opened in the
 * period too.
 */
async function partialExitsRealized(
  db: Database,
  accountId: number,
  from: Date,
  to: Date,
): Promise<{ readonly all: Decimal; readonly openedInPeriod: Decimal }> {
  const fromAt = sql`${from.toISOString()}::timestamptz`;
  const toAt = sql`${to.toISOString()}::timestamptz`;
  const [row] = await queryRows<{ pnl: string | null; opened: string | null }>(
    db,
    sql`select sum((e.details->>'realizedPnl')::numeric)::text as pnl,
        sum((e.details->>'realizedPnl')::numeric)
          filter (where t.opened_at >= ${fromAt})::text as opened
      from ${executionLog} e join ${trades} t on t.id = e.trade_id
      where e.account_id = ${accountId} and e.entity = 'position'
        and e.occurred_at >= ${fromAt} and e.occurred_at < ${toAt}
        and not (t.status = 'CLOSED' and t.closed_at >= ${fromAt} and t.closed_at < ${toAt})`,
  );
  return {
    all: row?.pnl ? ZERO.plus(row.pnl) : ZERO,
    openedInPeriod: row?.opened ? ZERO.plus(row.opened) : ZERO,
  };
}

/** What an account's trades closed in a period realized. */
export interface RealizedSummary {
  /**
   * The closed trades' realized P&L, plus what fills of trades still open realized in the
   * period (a partial exit, net of commissions).
   */
  readonly realizedPnl: Decimal;
  /**
   * The part of `realizedPnl` from trades also opened in the period (closed, or partial exits of
   * those still open): all of their P&L was made in it. A trade opened earlier realizes P&L that
   * earlier days' equity already moved by.
   */
  readonly openedInPeriodPnl: Decimal;
  readonly tradesClosed: number;
  readonly wins: number;
  readonly losses: number;
}

/**
 * Realized P&L (net of commissions) and wins/losses of the trades closed in [from, to), with the
 * P&L that partial exits of trades still open realized in it.
 */
export async function summarizeClosedTrades(
  db: Database,
  accountId: number,
  from: Date,
  to: Date,
): Promise<RealizedSummary> {
  const fromAt = sql`${from.toISOString()}::timestamptz`;
  // A trade's total holds what its partial exits realized before the period: that was an
  // earlier period's P&L (and is in its figures), so it is taken out of the close's.
  const rows = await queryRows<{
    pnl: string;
    earlier: string | null;
    opened_at: Date | string | null;
  }>(
    db,
    sql`select t.realized_pnl::text as pnl, t.opened_at,
        (select sum((e.details->>'realizedPnl')::numeric)::text
          from ${executionLog} e
          where e.trade_id = t.id and e.entity = 'position' and e.occurred_at < ${fromAt}) as earlier
      from ${trades} t
      where t.account_id = ${accountId} and t.status = 'CLOSED'
        and t.closed_at >= ${fromAt} and t.closed_at < ${to.toISOString()}::timestamptz`,
  );
  const partials = await partialExitsRealized(db, accountId, from, to);
  let realizedPnl = partials.all;
  // A partial exit of a trade opened in the period is all the period's too.
  let openedInPeriodPnl = partials.openedInPeriod;
  let wins = 0;
  let losses = 0;
  for (const r of rows) {
    const total = ZERO.plus(r.pnl);
    const inPeriod = r.earlier === null ? total : total.minus(r.earlier);
    realizedPnl = realizedPnl.plus(inPeriod);
    if (r.opened_at !== null && new Date(r.opened_at) >= from) {
      openedInPeriodPnl = openedInPeriodPnl.plus(inPeriod);
    }
    // A trade wins or loses by its whole result.
    if (total.gt(ZERO)) wins += 1;
    else if (total.lt(ZERO)) losses += 1;
  }
  return { realizedPnl, openedInPeriodPnl, tradesClosed: rows.length, wins, losses };
}
