/**
 * Valuation benchmark: quote updates per second applied to 1,000 open positions in the in-memory
 * mark book (mark price from bid/ask, market value, unrealized P&L, running portfolio totals,
 * changed-set for the batched database write). Quotes come from a seeded generator, so runs are
 * comparable. Two figures: quotes already decoded to decimals (what the broker port hands over),
 * and quotes decoded from their wire strings inside the timed loop, beside a floor measured in the
 * same run (the same quotes applied as floats to plain arrays). Then the batched write the book
 * feeds: 1,000 changed marks in one statement, on the embedded database (in memory).
 */
import { cpus, loadavg } from "node:os";
import { ensureBrokerAccount } from "../db/brokerAccounts";
import { openDatabase } from "../db/database";
import { positions as positionsTable } from "../db/schema";
import { recordMarks } from "../db/valuation";
import { Decimal } from "../domain/money";
import type { Position } from "../domain/position";
import { roundToTick } from "../domain/tick";
import { MarkBook, type QuoteFigures } from "../domain/valuation";
import { seededRandom } from "../sim/engine/randomWalk";

const POSITIONS = 1_000;
const QUOTES = 1_000_000;
const WARM_UP = 100_000;
const TARGET_PER_SECOND = 100_000;
/** Flush cadence of the value job's batched write: changed marks are taken this often. */
const FLUSH_EVERY = 10_000;

const random = seededRandom(20260302);
const cents = (n: number) => roundToTick(new Decimal(n.toFixed(4)), "nearest");

interface WireQuote {
  readonly symbol: string;
  readonly bid: string;
  readonly ask: string;
  readonly at: number;
}

function buildBook(): { book: MarkBook; symbols: string[]; mids: number[] } {
  const book = new MarkBook();
  const symbols: string[] = [];
  const mids: number[] = [];
  for (let i = 0; i < POSITIONS; i++) {
    const symbol = `SYM${String(i).padStart(4, "0")}`;
    const mid = i % 50 === 0 ? 0.2 + random() * 0.7 : 5 + random() * 600;
    const quantity = new Decimal(Math.floor(1 + random() * 500) * (random() < 0.2 ? -1 : 1));
    const position: Position = {
      symbol,
      quantity,
      costBasis: quantity.times(cents(mid)),
      realizedPnl: new Decimal(0),
      commissions: new Decimal(0),
    };
    book.upsert(`1:${symbol}`, position);
    symbols.push(symbol);
    mids.push(mid);
  }
  return { book, symbols, mids };
}

function wireQuotes(symbols: readonly string[], mids: number[], count: number): WireQuote[] {
  const quotes: WireQuote[] = [];
  for (let i = 0; i < count; i++) {
    const k = Math.floor(random() * symbols.length);
    const mid = (mids[k] ?? 1) * (1 + (random() - 0.5) * 0.002);
    mids[k] = mid;
    const spread = mid < 1 ? 0.0002 : 0.01 * (1 + Math.floor(random() * 3));
    quotes.push({
      symbol: symbols[k] ?? "",
      bid: cents(mid - spread / 2).toString(),
      ask: cents(mid + spread / 2).toString(),
      at: i + 1,
    });
  }
  return quotes;
}

function decoded(
  quotes: readonly WireQuote[],
): { symbol: string; figures: QuoteFigures; at: number }[] {
  return quotes.map((q) => ({
    symbol: q.symbol,
    figures: { bid: new Decimal(q.bid), ask: new Decimal(q.ask), last: null },
    at: q.at,
  }));
}

/**
 * Floor: the same quotes from their strings into floats on plain arrays (symbol lookup, mid, value
 * and unrealized P&L per position, a running total): the least a quote update could cost, with
 * none of the exact arithmetic, tick checks or changed-set upkeep. Floats only measure here; money
 * is never computed this way. Answers the elapsed time and the total, which keeps the loop live.
 */
function applyAsFloats(
  symbols: readonly string[],
  book: MarkBook,
  quotes: readonly WireQuote[],
): { elapsedNs: bigint; total: number } {
  const index = new Map(symbols.map((symbol, i) => [symbol, i]));
  const quantity = new Float64Array(symbols.length);
  const cost = new Float64Array(symbols.length);
  const pnl = new Float64Array(symbols.length);
  for (const [i, symbol] of symbols.entries()) {
    const held = book.get(`1:${symbol}`);
    quantity[i] = Number(held?.position.quantity.toString() ?? 0);
    cost[i] = Number(held?.position.costBasis.toString() ?? 0);
  }
  let total = 0;
  const start = process.hrtime.bigint();
  for (const q of quotes) {
    const i = index.get(q.symbol);
    if (i === undefined) continue;
    const mid = (Number(q.bid) + Number(q.ask)) / 2;
    const next = (quantity[i] ?? 0) * mid - (cost[i] ?? 0);
    total += next - (pnl[i] ?? 0);
    pnl[i] = next;
  }
  return { elapsedNs: process.hrtime.bigint() - start, total };
}

function perSecond(count: number, elapsedNs: bigint): number {
  return (count * 1e9) / Number(elapsedNs);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Median time to write a mark for every position in one statement, embedded database in memory. */
async function benchBatchedWrite(book: MarkBook): Promise<{ medianMs: number; rows: number }> {
  const opened = await openDatabase({ dataDir: "memory://" });
  try {
    const at = new Date("2026-03-02T15:00:00Z");
    const account = await ensureBrokerAccount(
      opened.db,
      { environment: "paper", brokerAccountId: "bench-valuation" },
      at,
    );
    const holdings = book.symbols().flatMap((symbol) => {
      const held = book.get(`1:${symbol}`);
      return held ? [held] : [];
    });
    await opened.db.insert(positionsTable).values(
      holdings.map((h) => ({
        accountId: account.id,
        symbol: h.position.symbol,
        quantity: h.position.quantity,
        costBasis: h.position.costBasis,
        averageCost: h.position.costBasis.div(h.position.quantity),
        realizedPnl: new Decimal(0),
        commissions: new Decimal(0),
        openedAt: at,
        updatedAt: at,
      })),
    );
    const times: number[] = [];
    let rows = 0;
    for (let round = 1; round <= 7; round++) {
      const marks = holdings.map((h) => ({
        symbol: h.position.symbol,
        markPrice: (h.mark?.price ?? new Decimal(1)).plus(new Decimal(round).div(100)),
        at: new Date(at.getTime() + round * 1000),
      }));
      const start = process.hrtime.bigint();
      rows = (await recordMarks(opened.db, account.id, marks)).length;
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    return { medianMs: times[Math.floor(times.length / 2)] ?? 0, rows };
  } finally {
    await opened.close();
  }
}

export default async function run(): Promise<void> {
  const { book, symbols, mids } = buildBook();
  const warm = decoded(wireQuotes(symbols, mids, WARM_UP));
  for (const q of warm) book.applyQuote(q.symbol, q.figures, q.at);
  book.takeChanged();

  const wire = wireQuotes(symbols, mids, QUOTES).map((q) => ({ ...q, at: q.at + WARM_UP }));
  const ready = decoded(wire);

  let remarked = 0;
  let flushed = 0;
  let start = process.hrtime.bigint();
  for (let i = 0; i < ready.length; i++) {
    const q = ready[i];
    if (q === undefined) continue;
    remarked += book.applyQuote(q.symbol, q.figures, q.at).remarked;
    if (i % FLUSH_EVERY === FLUSH_EVERY - 1) {
      flushed += book.takeChanged().length;
      book.totals();
    }
  }
  const decodedNs = process.hrtime.bigint() - start;

  // Same quotes again, decoded from wire strings in the loop (book restarted so marks move again).
  const second = buildBook();
  for (const q of warm) second.book.applyQuote(q.symbol, q.figures, q.at);
  start = process.hrtime.bigint();
  for (let i = 0; i < wire.length; i++) {
    const q = wire[i];
    if (q === undefined) continue;
    second.book.applyQuote(
      q.symbol,
      { bid: new Decimal(q.bid), ask: new Decimal(q.ask), last: null },
      q.at,
    );
    if (i % FLUSH_EVERY === FLUSH_EVERY - 1) {
      second.book.takeChanged();
      second.book.totals();
    }
  }
  const wireNs = process.hrtime.bigint() - start;

  const floor = applyAsFloats(symbols, book, wire);
  const write = await benchBatchedWrite(book);
  const rate = perSecond(QUOTES, decodedNs);
  const wireRate = perSecond(QUOTES, wireNs);
  const totals = book.totals();
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  process.stdout.write(
    [
      `MarkBook.applyQuote, ${fmt(QUOTES)} random quotes over ${fmt(POSITIONS)} open positions (${fmt(WARM_UP)} warm-up):`,
      `  decimals in hand:     ${fmt(rate)} quotes/s (${(Number(decodedNs) / QUOTES / 1000).toFixed(2)} us each)`,
      `  decoded from strings: ${fmt(wireRate)} quotes/s (${(Number(wireNs) / QUOTES / 1000).toFixed(2)} us each)`,
      `  floor (the same quotes from strings into floats on plain arrays, no decimals): ${fmt(perSecond(QUOTES, floor.elapsedNs))} quotes/s (total ${floor.total.toFixed(0)})`,
      `  target >= ${fmt(TARGET_PER_SECOND)} quotes/s: ${rate >= TARGET_PER_SECOND && wireRate >= TARGET_PER_SECOND ? "met" : "NOT met"}`,
      `  ${fmt(remarked)} re-marks, ${fmt(flushed)} rows handed to the batched write and totals summed every ${fmt(FLUSH_EVERY)} quotes; unrealized P&L ${totals.unrealizedPnl.toFixed(2)}`,
      `recordMarks, ${fmt(write.rows)} changed marks in one statement (embedded database, in memory): median ${write.medianMs.toFixed(1)} ms over 7 rounds`,
      `  context: node ${process.version}, ${cpus().length} cores (${cpu}), load average ${loadavg()[0]?.toFixed(1) ?? "?"} at the end, single thread`,
      "",
    ].join("\n"),
  );
}
