/**
 * The lifecycle test bench: a real PostgreSQL database, a Redis prefix, the simulator with its
 * stream, the Alpaca adapter against it, an account with an owner (so notices have a chat),
 * generous risk limits, the queues and job client, and worker runtimes started on demand.
 */
import type { Job } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { createAlpacaBroker } from "../../broker/alpaca/client";
import { createRedisRateLimiter } from "../../broker/rateLimiter";
import { ensureBrokerAccount } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { createDecision, type Decision } from "../../db/decisions";
import { saveRiskLimits } from "../../db/riskLimits";
import { findTradeByDecision } from "../../db/trades";
import { upsertUser } from "../../db/users";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import type { OrderSide } from "../../domain/order";
import { DEFAULT_RISK_LIMITS } from "../../domain/riskLimits";
import type { TradeStatus } from "../../domain/trade";
import { createJobClient, type JobClient } from "../../jobs/client";
import { createJobDeps, type JobDeps, type JobSettings } from "../../jobs/context";
import { createExecuteProcessor, type ExecuteResult } from "../../jobs/execute";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { closeQueues, createQueues, type Queues } from "../../jobs/queues";
import { createWorkerRuntime, type WorkerRuntime } from "../../jobs/worker";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";

export const KEY_ID = "lifecycle-key";
export const SECRET_KEY = "lifecycle-secret";
export const OWNER_CHAT = 7_000_001;

/** Test symbols at $100, one per scenario so scenarios never share a position. */
export const TEST_SYMBOLS = Array.from({ length: 40 }, (_, i) => `T${String(i).padStart(2, "0")}`);

export interface RuntimeOptions {
  readonly streams?: boolean;
  readonly settings?: Partial<JobSettings>;
  /** The broker the runtime talks to, around the simulator's (e.g. to see what it is sent). */
  readonly broker?: (broker: Broker) => Broker;
  /** The runtime's clock (default: the bench's, from the simulator's time with the wall clock). */
  readonly now?: () => Date;
}

export interface Lifecycle {
  readonly db: TestDatabase;
  readonly redis: TestRedis;
  readonly sim: TestSimulator;
  readonly broker: Broker;
  readonly accountId: number;
  readonly queues: Queues;
  readonly jobs: JobClient;
  readonly deps: JobDeps;
  readonly prefix: string;
  /** Starts a worker runtime in this process (stopped by `close`). */
  startRuntime(options?: RuntimeOptions): Promise<WorkerRuntime>;
  /** An approved decision (long by default), ready to execute. */
  decide(options: DecisionOptions): Promise<Decision>;
  close(): Promise<void>;
}

/**
 * Starts a worker runtime that holds the account's trade stream, and waits until it holds it: the
 * stream's events are then applied by this runtime as they come.
 */
export async function startStreamingRuntime(
  t: Lifecycle,
  options: Omit<RuntimeOptions, "streams"> = {},
): Promise<WorkerRuntime> {
  const runtime = await t.startRuntime(options);
  await waitFor(async () => runtime.streams?.held().length === 1, 10_000, "stream lease");
  return runtime;
}

export interface DecisionOptions {
  readonly symbol: string;
  readonly side?: OrderSide;
  readonly quantity?: string;
  readonly entry?: string | null;
  readonly stop?: string;
  readonly target?: string | null;
  readonly scheduledFor?: Date;
}

/**
 * The lifecycle's job dependencies with a clock `aheadMs` ahead of its own (e.g. reconciliation
 * past its grace period), on the same database, broker and queues.
 */
export function depsAhead(t: Lifecycle, aheadMs: number): JobDeps {
  return createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: () => new Date(t.deps.now().getTime() + aheadMs),
    logger: t.deps.logger,
    jobs: t.jobs,
  });
}

/**
 * Runs the execute processor once in this process, as a worker would but with no queue: the
 * decision's NEW_TRADE job on its first attempt, on `deps`, its reports going to `handler` (by
 * default an order-report handler on the same dependencies).
 */
export function executeDecision(
  deps: JobDeps,
  decisionId: number,
  handler: OrderReportHandler = createOrderReportHandler(deps),
): Promise<ExecuteResult> {
  const job = { data: { action: "NEW_TRADE", decisionId }, attemptsMade: 0 } as unknown as Job;
  return createExecuteProcessor(deps, { handler })(job, undefined);
}

/** A clock that starts at the simulator's frozen time and moves with the wall clock. */
export function simulatedClock(start = MARKET_OPEN_TIME): () => Date {
  const origin = Date.parse(start);
  const wallStart = Date.now();
  return () => new Date(origin + (Date.now() - wallStart));
}

/** Polls until `check` answers something truthy; throws after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The decision's trade once it is in `status` (POSITION: its entry fill is stored). */
export function tradeIn(db: Database, decisionId: number, status: TradeStatus) {
  return waitFor(
    async () => {
      const trade = await findTradeByDecision(db, decisionId);
      return trade?.trade.status === status ? trade : null;
    },
    15_000,
    `trade ${status}`,
  );
}

/**
 * Runs `closers` in turn, each even when an earlier one failed (so the database is dropped
 * whatever else failed to close), then throws the first failure.
 */
async function closeAll(closers: readonly (() => Promise<unknown>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const close of closers) {
    try {
      await close();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/** Opens the whole bench; what was opened is closed again when opening the rest fails. */
export async function openLifecycle(name: string): Promise<Lifecycle> {
  const db = await createTestDatabase("postgres");
  const redis = createTestRedis(name);
  let sim: TestSimulator | undefined;
  try {
    sim = await startTestSimulator({
      keyId: KEY_ID,
      secretKey: SECRET_KEY,
      cash: "10000000",
      rateLimitPerMinute: 1_000_000,
      symbols: Object.fromEntries(TEST_SYMBOLS.map((s) => [s, { price: "100.00" }])),
    });
    return await openWith(name, db, redis, sim);
  } catch (error) {
    const started = sim;
    await closeAll([async () => started?.close(), () => redis.cleanup(), () => db.close()]).catch(
      () => {},
    );
    throw error;
  }
}

async function openWith(
  name: string,
  db: TestDatabase,
  redis: TestRedis,
  sim: TestSimulator,
): Promise<Lifecycle> {
  const broker = createAlpacaBroker({
    keyId: KEY_ID,
    secretKey: SECRET_KEY,
    tradingUrl: sim.url,
    dataUrl: sim.url,
    streamUrl: sim.streamUrl,
    rateLimiter: createRedisRateLimiter({
      redis: redis.redis,
      keyPrefix: redis.prefix,
      bucket: "lifecycle",
      limit: 1_000_000,
    }),
    requestTimeoutMs: 5_000,
    retryDelayMs: 10,
    stream: { connectTimeoutMs: 5_000, initialReconnectMs: 50, maxReconnectMs: 200 },
  });
  const now = new Date();
  const owner = await upsertUser(db.db, { telegramUserId: OWNER_CHAT, role: "trader" }, now);
  const account = await ensureBrokerAccount(
    db.db,
    { environment: "paper", brokerAccountId: `PA-${name}`, ownerUserId: owner.id },
    now,
  );
  await saveRiskLimits(
    db.db,
    account.id,
    {
      ...DEFAULT_RISK_LIMITS,
      maxOpenPositions: 100,
      maxPositionPercent: dec("50"),
      maxSectorExposurePercent: dec("100"),
      maxTotalExposurePercent: dec("100"),
      maxOrdersPerMinute: 100_000,
      duplicateWindowMs: 0,
      minRewardToRisk: dec("1"),
    },
    "test",
    now,
  );
  const prefix = redis.prefix.replace(/:$/, "");
  const queues = createQueues({ connection: redis.redis, prefix });
  const jobs = createJobClient(queues);
  const clock = simulatedClock();
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const baseDeps = { db: db.db, brokerFor: () => broker, now: clock, logger, jobs };
  const deps = createJobDeps(baseDeps);
  const runtimes: WorkerRuntime[] = [];
  const workerConnections: Redis[] = [];
  return {
    db,
    redis,
    sim,
    broker,
    accountId: account.id,
    queues,
    jobs,
    deps,
    prefix,
    async startRuntime(options = {}) {
      const runtimeBroker = options.broker ? options.broker(broker) : broker;
      const runtime = await createWorkerRuntime({
        deps: createJobDeps({
          ...baseDeps,
          brokerFor: () => runtimeBroker,
          ...(options.now === undefined ? {} : { now: options.now }),
          settings: { streamLeaseMs: 1_500, ...options.settings },
        }),
        connection: (() => {
          const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
          workerConnections.push(connection);
          return connection;
        })(),
        prefix,
        queues: createQueues({ connection: redis.connect(), prefix }),
        accountIds: [account.id],
        streams: options.streams ?? true,
        lockDurationMs: 3_000,
        stalledIntervalMs: 1_000,
      });
      runtimes.push(runtime);
      return runtime;
    },
    async decide(options) {
      const entry = options.entry === undefined ? "100.00" : options.entry;
      const stop = dec(options.stop ?? "95.00");
      const quantity = dec(options.quantity ?? "10");
      const target = options.target === undefined ? "110.00" : options.target;
      const reference = entry === null ? dec("100") : dec(entry);
      return createDecision(
        db.db,
        {
          accountId: account.id,
          source: "manual",
          symbol: options.symbol,
          side: options.side ?? "buy",
          entryType: entry === null ? "market" : "limit",
          entryPrice: entry === null ? null : dec(entry),
          stopPrice: stop,
          targetPrice: target === null ? null : dec(target),
          quantity,
          riskAmount: reference.minus(stop).abs().times(quantity),
          createdBy: "user:1",
          status: "approved",
          decidedByUserId: owner.id,
          ...(options.scheduledFor ? { scheduledFor: options.scheduledFor } : {}),
        },
        clock(),
      );
    },
    async close() {
      await closeAll([
        () => Promise.all(runtimes.map((r) => r.stop())),
        () => Promise.all(workerConnections.map((c) => c.quit())),
        () => closeQueues(queues),
        () => sim.close(),
        () => redis.cleanup(),
        () => db.close(),
      ]);
    },
  };
}
