/**
 * Kill-switch benchmark: the time from the price move that crosses the daily-loss limit (the
 * `/sim/quotes` call) to the last working entry order cancelled at the broker (the broker's answer
 * to the cancel). The quote reaches the value job as a streamed quote would: in the job's payload,
 * no quote fetch. Each run: the account back to ACTIVE and the held symbol back to $100, five limit
 * entries working at the broker (sent through the execute job), then the price drop. Scratch
 * PostgreSQL database (BENCH_DATABASE_URL or TEST_DATABASE_URL's server), Redis (BENCH_REDIS_URL
 * or TEST_REDIS_URL, own key prefix) and the simulator in this process. Target: under 2 s.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pino from "pino";
import postgres from "postgres";
import { createAlpacaBroker } from "../broker/alpaca/client";
import { createRedisRateLimiter } from "../broker/rateLimiter";
import { changeTradingState, ensureBrokerAccount } from "../db/brokerAccounts";
import { openDatabase } from "../db/database";
import { createDecision } from "../db/decisions";
import { listOpenOrders } from "../db/orders";
import { saveRiskLimits } from "../db/riskLimits";
import { upsertUser } from "../db/users";
import { dec } from "../domain/money";
import { DEFAULT_RISK_LIMITS } from "../domain/riskLimits";
import { createJobClient } from "../jobs/client";
import { createJobDeps } from "../jobs/context";
import { createKillSwitch } from "../jobs/killSwitch";
import {
  createHaltResponse,
  createKillSwitchClient,
  createKillSwitchQueue,
} from "../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../jobs/orderReports";
import { closeQueues, createQueues } from "../jobs/queues";
import { createValueProcessor } from "../jobs/value";
import { createWorkerRuntime } from "../jobs/worker";
import { startSimulator } from "../sim/server";

const DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/test";
const START = "2026-03-02T14:35:00Z";
const HELD = "KHELD";
const ENTRY_SYMBOLS = ["KE0", "KE1", "KE2", "KE3", "KE4"];
const TARGET_MS = 2_000;

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export default async function run(): Promise<void> {
  const serverUrl =
    process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || DEFAULT_SERVER_URL;
  const redisUrl =
    process.env.BENCH_REDIS_URL || process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";
  const runs = Number(process.env.BENCH_KILL_SWITCH_RUNS || 10);
  const name = `bench_killswitch_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const prefix = `bench-killswitch-${randomUUID().slice(0, 8)}`;
  const connections: Redis[] = [];
  const connect = () => {
    const c = new Redis(redisUrl, { maxRetriesPerRequest: null });
    connections.push(c);
    return c;
  };
  const database = await openDatabase({ url: url.toString(), maxConnections: 20 });
  const sim = await startSimulator({
    keyId: "bench-key",
    secretKey: "bench-secret",
    time: START,
    cash: "10000000",
    rateLimitPerMinute: 100_000_000,
    symbols: Object.fromEntries([HELD, ...ENTRY_SYMBOLS].map((s) => [s, { price: "100.00" }])),
  });
  const control = async (path: string, body: unknown) => {
    const res = await fetch(`${sim.url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path} answered ${res.status}`);
    await res.arrayBuffer();
  };
  const runtimes: { stop(): Promise<void> }[] = [];
  const queues = createQueues({ connection: connect(), prefix });
  const killQueue = createKillSwitchQueue({ connection: connect(), prefix });
  try {
    const broker = createAlpacaBroker({
      keyId: "bench-key",
      secretKey: "bench-secret",
      tradingUrl: sim.url,
      dataUrl: sim.url,
      streamUrl: sim.streamUrl,
      rateLimiter: createRedisRateLimiter({
        redis: connect(),
        keyPrefix: `${prefix}:`,
        bucket: "bench",
        limit: 100_000_000,
      }),
      requestTimeoutMs: 20_000,
      retryDelayMs: 10,
    });
    const at = new Date(START);
    const owner = await upsertUser(database.db, { telegramUserId: 9_000_002, role: "trader" }, at);
    const account = await ensureBrokerAccount(
      database.db,
      { environment: "paper", brokerAccountId: "PA-BENCH-KS", ownerUserId: owner.id },
      at,
    );
    await saveRiskLimits(
      database.db,
      account.id,
      {
        ...DEFAULT_RISK_LIMITS,
        maxOpenPositions: 100,
        maxPositionPercent: dec("50"),
        maxSectorExposurePercent: dec("100"),
        maxTotalExposurePercent: dec("100"),
        maxOrdersPerMinute: 1_000_000,
        duplicateWindowMs: 0,
        minRewardToRisk: dec("1"),
        maxDailyLossPercent: dec("0.2"),
      },
      "bench",
      at,
    );
    const origin = Date.parse(START);
    const wallStart = Date.now();
    const deps = createJobDeps({
      db: database.db,
      brokerFor: () => broker,
      now: () => new Date(origin + (Date.now() - wallStart)),
      logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" }),
      jobs: createJobClient(queues),
    });
    const runtime = await createWorkerRuntime({
      deps,
      connection: connect(),
      prefix,
      queues: createQueues({ connection: connect(), prefix }),
      accountIds: [account.id],
      schedules: false,
    });
    runtimes.push(runtime);
    await waitUntil(async () => (runtime.streams?.held().length ?? 0) > 0, "stream");
    const handler = createOrderReportHandler(deps);
    const value = createValueProcessor(deps, {
      onHalted: createHaltResponse(
        deps,
        createKillSwitch(deps, handler),
        createKillSwitchClient(killQueue),
      ),
    });
    let decisions = 0;
    const decide = async (symbol: string, entry: string | null, quantity: string) => {
      decisions += 1;
      const decision = await createDecision(
        database.db,
        {
          accountId: account.id,
          source: "api",
          symbol,
          side: "buy",
          entryType: entry === null ? "market" : "limit",
          entryPrice: entry === null ? null : dec(entry),
          stopPrice: dec("95.00"),
          targetPrice: dec(entry === null ? "120.00" : "102.00"),
          quantity: dec(quantity),
          riskAmount: dec(quantity).times(dec(entry ?? "100").minus(95)),
          createdBy: `bench:${decisions}`,
          status: "approved",
          decidedByUserId: owner.id,
        },
        deps.now(),
      );
      await deps.jobs.executeDecision(decision.id);
    };
    // The position whose fall crosses the limit: 10,000 shares, bracket stop at 95.
    for (const symbol of [HELD, ...ENTRY_SYMBOLS]) {
      await control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    }
    await decide(HELD, null, "10000");
    await waitUntil(async () => (await broker.getPosition(HELD)).ok, "held position");

    const latencies: number[] = [];
    for (let i = 0; i < runs; i++) {
      await control("/sim/quotes", { symbol: HELD, bid: "99.99", ask: "100.01" });
      const reset = deps.now();
      await changeTradingState(
        database.db,
        account.id,
        () => ({ mode: "ACTIVE", setBy: "AUTO", reason: "bench reset", since: reset.getTime() }),
        "bench",
        reset,
      );
      for (const symbol of ENTRY_SYMBOLS) await decide(symbol, "97.00", "10");
      await waitUntil(async () => {
        const open = await listOpenOrders(database.db, account.id);
        const working = open.filter(
          (o) => o.order.role === "ENTRY" && o.order.symbol !== HELD && o.order.status === "new",
        );
        return working.length === ENTRY_SYMBOLS.length;
      }, "working entries");

      const started = performance.now();
      await control("/sim/quotes", { symbol: HELD, bid: "97.49", ask: "97.51" });
      const result = await value({
        data: {
          accountId: account.id,
          quotes: [
            { symbol: HELD, bid: "97.49", ask: "97.51", last: null, at: deps.now().toISOString() },
          ],
        },
      });
      const elapsed = performance.now() - started;
      if (result.dailyLossLevel !== "BREACHED") throw new Error("the limit was not crossed");
      const open = await broker.listOrders({ status: "open", symbols: ENTRY_SYMBOLS });
      if (!open.ok || open.value.length > 0) throw new Error("entries still working at the broker");
      latencies.push(elapsed);
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const max = latencies[latencies.length - 1] ?? Number.NaN;
    process.stdout.write(
      `limit-crossing quote -> last working entry cancelled at the broker (${runs} runs, ` +
        `${ENTRY_SYMBOLS.length} working entries): p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms ` +
        `(target < ${TARGET_MS} ms; streamed quote handed to the value job)\n`,
    );
  } finally {
    for (const r of runtimes) await r.stop();
    await killQueue.close();
    await closeQueues(queues);
    await sim.close();
    await database.close();
    const cleaner = connections[0];
    if (cleaner) {
      let cursor = "0";
      do {
        const [next, keys] = await cleaner.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await cleaner.del(...keys);
      } while (cursor !== "0");
    }
    for (const c of connections) c.disconnect();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}
