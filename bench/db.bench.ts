/**
 * Database throughput: applied fills per second (read of order, position and trade, then fill,
 * order, position, trade and three execution log rows written in one atomic statement) next to
 * single-row inserts per second into the execution log, on the same database in the same run, in
 * interleaved rounds. Fills are measured twice: reading the rows every time, and with a worker's
 * cache of the rows it last wrote (the read is skipped; the write still checks row versions).
 * Runs on PostgreSQL (a scratch database created on BENCH_DATABASE_URL's or TEST_DATABASE_URL's
 * server, dropped afterwards) and on the embedded database (in memory). Target: applied fills at
 * least 30% of the single-row insert rate.
 *
 * On the embedded database every query costs a fixed half millisecond or so (several protocol
 * calls into the engine) and is parsed and planned afresh (no prepared statements): the single-row
 * insert is mostly that fixed cost. The read and the write of a fill are therefore calls of
 * plpgsql functions (`order_snapshot`, `apply_order_writes`), whose plans the engine keeps, sent
 * as one simple query each. The machine may be busy with other work: the CPU time per operation
 * (this process and the database session) is printed beside the rates and moves less with load.
 * BENCH_DB_INSERTS, BENCH_DB_FILLS and BENCH_DB_ONLY (postgres or pglite) adjust a run.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { ensureBrokerAccount } from "../db/brokerAccounts";
import {
  type Database,
  type DatabaseDriver,
  type OpenDatabase,
  openDatabase,
  queryRows,
} from "../db/database";
import { applyOrderUpdate } from "../db/orderEvents";
import { createOrderStateCache, type OrderStateCache } from "../db/orderStateCache";
import { orderColumns } from "../db/orders";
import { executionLog, orders, trades } from "../db/schema";
import { tradeColumns } from "../db/trades";
import { dec } from "../domain/money";
import { createOrder } from "../domain/order";
import { createTrade } from "../domain/trade";

const DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/test";
const T0 = new Date("2026-03-02T14:35:00Z");
const SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD", "NFLX", "AVGO"];
const FILLS_PER_ORDER = 4;
/** Applied fills per second as a share of single-row inserts per second. */
const TARGET_SHARE = 0.3;

interface Figures {
  readonly rawPerSecond: number;
  readonly fillsPerSecond: number;
  readonly cachedFillsPerSecond: number;
  /** CPU time per operation (ms), of this process and the database session together. */
  readonly rawCpuMs: number;
  readonly fillCpuMs: number;
  readonly cachedFillCpuMs: number;
}

export default async function run(): Promise<void> {
  const serverUrl =
    process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || DEFAULT_SERVER_URL;
  const rawCount = Number(process.env.BENCH_DB_INSERTS || 3000);
  const fillCount = Number(process.env.BENCH_DB_FILLS || 2000);
  const only = process.env.BENCH_DB_ONLY;
  for (const driver of ["postgres", "pglite"] as const satisfies readonly DatabaseDriver[]) {
    if (only && only !== driver) continue;
    const figures = await withScratchDatabase(driver, serverUrl, (db) =>
      measure(db, driver, rawCount, fillCount),
    );
    const share = (rate: number) => rate / figures.rawPerSecond;
    const verdict = (rate: number) =>
      `${(share(rate) * 100).toFixed(1)}% of inserts, target >= ${TARGET_SHARE * 100}%: ${
        share(rate) >= TARGET_SHARE ? "PASS" : "FAIL"
      }`;
    process.stdout.write(
      `${driver}: single-row inserts/s ${figures.rawPerSecond.toFixed(0)}; ` +
        `applied fills/s ${figures.fillsPerSecond.toFixed(0)} (${verdict(figures.fillsPerSecond)}); ` +
        `with a worker cache ${figures.cachedFillsPerSecond.toFixed(0)} (${verdict(figures.cachedFillsPerSecond)})\n`,
    );
    const cpuShare = (ms: number) => `${((figures.rawCpuMs / ms) * 100).toFixed(1)}%`;
    process.stdout.write(
      `${driver}: CPU per operation (client and database): insert ${figures.rawCpuMs.toFixed(3)} ms; ` +
        `fill ${figures.fillCpuMs.toFixed(3)} ms (${cpuShare(figures.fillCpuMs)} of the inserts' rate); ` +
        `with a worker cache ${figures.cachedFillCpuMs.toFixed(3)} ms (${cpuShare(figures.cachedFillCpuMs)})\n`,
    );
  }
}

async function withScratchDatabase<T>(
  driver: DatabaseDriver,
  serverUrl: string,
  work: (db: Database) => Promise<T>,
): Promise<T> {
  if (driver === "pglite") {
    const opened = await openDatabase({ dataDir: "memory://" });
    try {
      return await work(opened.db);
    } finally {
      await opened.close();
    }
  }
  const name = `bench_db_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let opened: OpenDatabase | null = null;
  try {
    opened = await openDatabase({ url: url.toString(), maxConnections: 1 });
    return await work(opened.db);
  } finally {
    await opened?.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

/**
 * Times the three workloads in interleaved rounds so that a change in the machine's load during
 * the run weighs on all of them alike.
 */
async function measure(
  db: Database,
  driver: DatabaseDriver,
  rawCount: number,
  fillCount: number,
): Promise<Figures> {
  const account = await ensureBrokerAccount(
    db,
    { environment: "paper", brokerAccountId: "BENCH" },
    T0,
  );
  const warmup = 100;
  const perSet = Math.ceil((fillCount + warmup) / FILLS_PER_ORDER);
  const plainOrders = await createEntries(db, account.id, perSet, "plain");
  const cachedOrders = await createEntries(db, account.id, perSet, "cached");
  const cache = createOrderStateCache();

  // Warm up every path (connections, prepared statements, caches) before timing.
  await rawInserts(db, warmup, "warm");
  await applyFills(db, plainOrders, 0, warmup, undefined);
  await applyFills(db, cachedOrders, 0, warmup, cache);

  // The server's session runs in another process: its CPU time is read from /proc.
  const backendPid =
    driver === "postgres"
      ? (await queryRows<{ pid: number }>(db, sql`select pg_backend_pid() as pid`))[0]?.pid
      : undefined;
  const rounds = 5;
  const raw = { ms: 0, cpuMs: 0 };
  const plain = { ms: 0, cpuMs: 0 };
  const cached = { ms: 0, cpuMs: 0 };
  const timed = async (total: { ms: number; cpuMs: number }, work: () => Promise<void>) => {
    const cpuStart = await cpuMillis(backendPid);
    const start = performance.now();
    await work();
    total.ms += performance.now() - start;
    total.cpuMs += (await cpuMillis(backendPid)) - cpuStart;
  };
  for (let round = 0; round < rounds; round++) {
    const raws = Math.floor(rawCount / rounds);
    const fills = Math.floor(fillCount / rounds);
    const from = warmup + round * fills;
    await timed(raw, () => rawInserts(db, raws, `raw-${round}`));
    await timed(plain, () => applyFills(db, plainOrders, from, fills, undefined));
    await timed(cached, () => applyFills(db, cachedOrders, from, fills, cache));
  }
  const done = (count: number) => Math.floor(count / rounds) * rounds;
  const perSecond = (count: number, ms: number) => done(count) / (ms / 1000);
  return {
    rawPerSecond: perSecond(rawCount, raw.ms),
    fillsPerSecond: perSecond(fillCount, plain.ms),
    cachedFillsPerSecond: perSecond(fillCount, cached.ms),
    rawCpuMs: raw.cpuMs / done(rawCount),
    fillCpuMs: plain.cpuMs / done(fillCount),
    cachedFillCpuMs: cached.cpuMs / done(fillCount),
  };
}

/**
 * CPU time (ms) used so far by this process (with the embedded database in it) and by the server
 * session `backendPid` when given (read from /proc: the server runs on this machine).
 */
async function cpuMillis(backendPid: number | undefined): Promise<number> {
  const usage = process.cpuUsage();
  let ms = (usage.user + usage.system) / 1000;
  if (backendPid !== undefined) {
    const stat = await readFile(`/proc/${backendPid}/stat`, "utf8");
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th,
    // in clock ticks of 10 ms.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ms += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return ms;
}

/** Single-row inserts, one statement each, one after the other. */
async function rawInserts(db: Database, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    await db.insert(executionLog).values({
      entity: "order",
      entityId: `${tag}-${i}`,
      event: "BENCH",
      details: { i },
      source: "bench",
      occurredAt: T0,
    });
  }
}

/** Journalled trades with an accepted entry order each, written in bulk (not timed). */
async function createEntries(
  db: Database,
  accountId: number,
  count: number,
  tag: string,
): Promise<number[]> {
  const at = T0.toISOString();
  const tradeRows = await db
    .insert(trades)
    .values(
      Array.from({ length: count }, (_, i) => {
        const symbol = SYMBOLS[i % SYMBOLS.length] ?? "AAPL";
        const planned = createTrade(
          {
            id: "bench",
            symbol,
            side: "long",
            plannedEntryPrice: dec("100"),
            plannedStopPrice: dec("95"),
            plannedTargetPrice: dec("110"),
            plannedQuantity: dec("400"),
            plannedRisk: dec("2000"),
          },
          at,
        );
        return {
          accountId,
          symbol,
          side: "long" as const,
          plannedEntry: planned.plannedEntryPrice,
          plannedStop: planned.plannedStopPrice,
          plannedTarget: planned.plannedTargetPrice,
          plannedQuantity: planned.plannedQuantity,
          plannedRisk: planned.plannedRisk,
          ...tradeColumns(planned),
          createdAt: T0,
          updatedAt: T0,
        };
      }),
    )
    .returning({ id: trades.id, symbol: trades.symbol });
  const orderRows = await db
    .insert(orders)
    .values(
      tradeRows.map((trade) => {
        const order = {
          ...createOrder(
            {
              clientOrderId: `bench-${tag}-${trade.id}-entry`,
              symbol: trade.symbol,
              side: "buy",
              type: "limit",
              timeInForce: "day",
              orderClass: "simple",
              role: "ENTRY",
              quantity: dec("400"),
              limitPrice: dec("100"),
              stopPrice: null,
            },
            at,
          ),
          brokerOrderId: `bench-broker-${tag}-${trade.id}`,
          status: "new" as const,
        };
        return {
          ...orderColumns(order),
          accountId,
          tradeId: trade.id,
          expectedPrice: dec("100"),
          createdAt: T0,
          updatedAt: T0,
        };
      }),
    )
    .returning({ id: orders.id });
  return orderRows.map((o) => o.id);
}

/** Partial fills of 10 shares, `FILLS_PER_ORDER` per order, one after the other. */
async function applyFills(
  db: Database,
  orderIds: readonly number[],
  from: number,
  count: number,
  cache: OrderStateCache | undefined,
): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const orderId = orderIds[Math.floor(n / FILLS_PER_ORDER)];
    if (orderId === undefined) throw new Error("not enough bench orders");
    const at = new Date(T0.getTime() + n * 10);
    const outcome = await applyOrderUpdate(
      db,
      { orderId },
      {
        event: "partial_fill",
        executionId: `bench-exec-${orderId}-${n}`,
        quantity: dec("10"),
        price: dec("100.01"),
        at: at.toISOString(),
      },
      { source: "stream", recordedAt: at, commission: dec("0.01"), ...(cache ? { cache } : {}) },
    );
    if (!outcome.ok || !outcome.value.changed) throw new Error(`bench fill ${n} not applied`);
  }
}
