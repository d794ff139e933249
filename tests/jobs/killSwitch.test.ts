/**
 * Kill switches on the simulator, with real PostgreSQL and Redis: the price falls until the
 * day's loss crosses the limit, the account halts, its working entry is cancelled at the broker
 * while the protective stop stays live, entries are refused by the execute job and the REST
 * submit path, and the next session open resets the automatic halt; /resume's daily-loss check
 * refuses, then lets a forced resume through with its reason logged; a flatten with one symbol
 * failing at the broker reports that symbol and retries it; a manual halt outlives a restart.
 */

import type { Worker } from "bullmq";
import { and, eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../app/execution/service";
import { createMetrics } from "../../app/metrics";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import { changeTradingState, loadTradingState } from "../../db/brokerAccounts";
import { findDecision } from "../../db/decisions";
import { readLog } from "../../db/executionLog";
import { listOrdersForTrade } from "../../db/orders";
import { saveRiskLimits } from "../../db/riskLimits";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { DEFAULT_RISK_LIMITS } from "../../domain/riskLimits";
import { setTradingStateManually } from "../../domain/tradingState";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createDailyProcessor } from "../../jobs/daily";
import { createKillSwitch } from "../../jobs/killSwitch";
import {
  createHaltResponse,
  createKillSwitchClient,
  createKillSwitchProcessor,
  createKillSwitchQueue,
  startKillSwitchWorker,
} from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createValueProcessor } from "../../jobs/value";
import type { WorkerRuntime } from "../../jobs/worker";
import { TEST_REDIS_URL } from "../support/redis";
import {
  type Lifecycle,
  OWNER_CHAT,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";
import { closeResults } from "./killSwitchJobs";

const [HELD, RESTING, REFUSED, SECOND, LATER, REFUSED_CLOSE] = TEST_SYMBOLS as [
  string,
  string,
  string,
  string,
  string,
  string,
];

let t: Lifecycle;
let runtime: WorkerRuntime;
let killWorker: Worker;
let killQueue: ReturnType<typeof createKillSwitchQueue>;
let workerConnection: Redis;
let value: ReturnType<typeof createValueProcessor>;

/** Symbols whose next close the broker refuses (as Alpaca refuses a close it cannot place). */
const closesToRefuse = new Set<string>();

/** Every close the kill switch asked the broker for: its side and position intent. */
const closesSent: { readonly side: string; readonly intent: string | undefined }[] = [];

/** The simulator's broker, refusing the closes of `closesToRefuse` once each. */
function refusingCloses(broker: Broker): Broker {
  return {
    ...broker,
    async submitOrder(request, options) {
      if (request.clientOrderId.startsWith("close-")) {
        closesSent.push({ side: request.side, intent: request.positionIntent });
      }
      if (request.clientOrderId.startsWith("close-") && closesToRefuse.delete(request.symbol)) {
        return {
          ok: false,
          code: "FORBIDDEN",
          message: "insufficient qty available for order",
          retryable: false,
          httpStatus: 403,
        };
      }
      return broker.submitOrder(request, options);
    },
  };
}

/** The kill switch's dependencies: the broker refuses the closes asked for. */
let killDeps: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("killswitch");
  await saveRiskLimits(
    t.db.db,
    t.accountId,
    {
      ...DEFAULT_RISK_LIMITS,
      maxOpenPositions: 100,
      maxPositionPercent: dec("50"),
      maxSectorExposurePercent: dec("100"),
      maxTotalExposurePercent: dec("100"),
      maxOrdersPerMinute: 100_000,
      duplicateWindowMs: 0,
      minRewardToRisk: dec("1"),
      // $20,000 on $10,000,000.
      maxDailyLossPercent: dec("0.2"),
    },
    "test",
    new Date(),
  );
  runtime = await startStreamingRuntime(t);
  workerConnection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  killQueue = createKillSwitchQueue({ connection: t.redis.redis, prefix: t.prefix });
  const handler = createOrderReportHandler(t.deps);
  killDeps = createJobDeps({ ...t.deps, brokerFor: () => refusingCloses(t.broker) });
  killWorker = startKillSwitchWorker({
    deps: killDeps,
    handler,
    connection: workerConnection,
    prefix: t.prefix,
  });
  value = createValueProcessor(t.deps, {
    onHalted: createHaltResponse(
      t.deps,
      createKillSwitch(t.deps, handler),
      createKillSwitchClient(killQueue),
    ),
  });
}, 60_000);
afterAll(async () => {
  await killWorker?.close();
  await killQueue?.close();
  await workerConnection?.quit();
  await t?.close();
});

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

/** Executes a decision through the workers and waits for its entry at the broker. */
async function enter(options: Parameters<Lifecycle["decide"]>[0]) {
  const decision = await t.decide(options);
  await t.jobs.executeDecision(decision.id);
  return waitFor(
    async () => {
      const trade = await findTradeByDecision(t.db.db, decision.id);
      if (!trade) return null;
      const entry = (await listOrdersForTrade(t.db.db, trade.id)).find(
        (o) => o.order.role === "ENTRY",
      );
      return entry?.order.brokerOrderId ? { decision, trade, entry } : null;
    },
    15_000,
    `entry of ${options.symbol}`,
  );
}

async function brokerOpenOrders(symbol: string) {
  const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: false });
  if (!open.ok) throw new Error(open.message);
  return open.value;
}

async function noticeDetails(kind: string): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, kind), eq(notificationOutbox.chatId, OWNER_CHAT)));
  return rows.map((r) => JSON.stringify(r.payload));
}

describe("kill switches on the simulator", () => {
  it("halts when falling prices cross the daily-loss limit: entries cancelled, stops kept, entries refused, reset at the next open", async () => {
    await quote(HELD, "99.99", "100.01");
    // A filled bracket: 10,000 shares, stop 95 (live at the broker).
    const held = await enter({
      symbol: HELD,
      entry: null,
      quantity: "10000",
      stop: "95.00",
      target: "120.00",
    });
    await waitFor(
      async () => (await brokerOpenOrders(HELD)).some((o) => o.type === "stop"),
      15_000,
      "live stop",
    );
    // A working limit entry below the market (inside the price collar).
    const resting = await enter({
      symbol: RESTING,
      entry: "97.00",
      quantity: "100",
      stop: "95.00",
      target: "102.00",
    });
    expect((await brokerOpenOrders(RESTING)).length).toBeGreaterThan(0);

    // Price falls: 10,000 x ~2.5 = ~$25,000 lost, beyond the $20,000 limit.
    await quote(HELD, "97.49", "97.51");
    const result = await value({
      data: {
        accountId: t.accountId,
        quotes: [
          { symbol: HELD, bid: "97.49", ask: "97.51", last: null, at: t.deps.now().toISOString() },
        ],
      },
    });
    expect(result.dailyLossLevel).toBe("BREACHED");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({
      mode: "HALTED",
      setBy: "AUTO",
    });
    // The working entry is cancelled at the broker by the time the valuation returns.
    expect(await brokerOpenOrders(RESTING)).toEqual([]);
    const cancelled = await waitFor(async () => {
      const e = (await listOrdersForTrade(t.db.db, resting.trade.id)).find(
        (o) => o.order.role === "ENTRY",
      );
      return e?.order.status === "canceled" ? e : null;
    });
    expect(cancelled.order.status).toBe("canceled");
    // The protective stop stays live.
    const stops = (await brokerOpenOrders(HELD)).filter((o) => o.type === "stop");
    expect(stops).toHaveLength(1);
    expect(stops[0]?.stopPrice?.toFixed(2)).toBe("95.00");
    expect(
      (await noticeDetails("TRADING_STATE_CHANGED")).some((n) => n.includes('"to":"HALTED"')),
    ).toBe(true);
    expect(held.trade.id).toBeGreaterThan(0);

    // Execute job (the last line of defence): refused with TRADING_HALTED.
    await quote(REFUSED, "99.99", "100.01");
    const refused = await t.decide({ symbol: REFUSED, entry: "100.00", quantity: "10" });
    await t.jobs.executeDecision(refused.id);
    const failed = await waitFor(async () => {
      const d = await findDecision(t.db.db, refused.id);
      return d?.status === "failed" ? d : null;
    });
    expect(failed.statusReason).toContain("TRADING_HALTED");
    expect(await brokerOpenOrders(REFUSED)).toEqual([]);

    // REST submit: refused before any decision exists.
    const service = createExecutionService({
      db: t.db.db,
      broker: t.broker,
      jobs: t.jobs,
      accountId: t.accountId,
      logger: t.deps.logger,
      metrics: createMetrics(),
      now: t.deps.now,
    });
    const submitted = await service.submit(
      {
        symbol: REFUSED,
        side: "long",
        entryType: "limit",
        limitPrice: dec("100.00"),
        stop: { kind: "price", price: dec("95.00") },
        target: { kind: "price", price: dec("110.00") },
        quantity: dec("10"),
      },
      "api",
      null,
    );
    expect(submitted.ok).toBe(false);
    if (!submitted.ok && submitted.kind === "refused") {
      expect(submitted.violations.map((v) => v.code)).toContain("TRADING_HALTED");
    } else throw new Error("expected a refusal");

    // /resume: refused while the loss is beyond the limit, then forced with a reason (logged).
    const resume = createDailyLossResumeCheck({ db: t.db.db, now: t.deps.now });
    const verdict = await resume({ accountId: t.accountId, reason: null });
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.message).toContain("beyond the limit");
    expect(await resume({ accountId: t.accountId, reason: "hedged elsewhere" })).toEqual({
      allowed: true,
    });
    const forced = await readLog(t.db.db, { accountId: t.accountId });
    const entry = forced.find((e) => e.event === "RESUME_FORCED");
    expect(entry?.details).toMatchObject({ reason: "hedged elsewhere" });

    // The next session open resets the automatic halt.
    const daily = createDailyProcessor(
      createJobDeps({ ...t.deps, now: () => new Date("2026-03-03T14:31:00Z") }),
    );
    await daily({ data: { kind: "session-open", accountId: t.accountId } });
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
  }, 60_000);

  it("flattens with one symbol failing at the broker: that symbol is reported and retried", async () => {
    await quote(SECOND, "99.99", "100.01");
    const second = await enter({
      symbol: SECOND,
      entry: null,
      quantity: "10",
      stop: "95.00",
      target: "120.00",
    });
    await waitFor(async () => (await brokerOpenOrders(SECOND)).some((o) => o.type === "stop"));
    // The first close of SECOND is refused once (as Alpaca refuses a close it cannot place).
    closesToRefuse.add(SECOND);
    await createKillSwitchClient(killQueue).flatten({
      accountId: t.accountId,
      requestedBy: "user:1",
      requestId: "flatten-test",
    });
    await waitFor(
      async () => {
        const positions = await t.broker.listPositions();
        return positions.ok && positions.value.length === 0;
      },
      20_000,
      "every position closed",
    );
    const results = await waitFor(
      async () => {
        const found = await closeResults(t);
        const closedOne = (symbol: string) =>
          found.some((n) => n.outcome === "closed" && n.symbol === symbol);
        return closedOne(SECOND) && closedOne(HELD) ? found : null;
      },
      20_000,
      "flatten notices",
    );
    // SECOND's failure is told once, with the broker's reason and what happens next.
    const failures = results.filter((n) => n.outcome === "failed");
    expect(failures).toEqual([
      {
        kind: "POSITION_CLOSE_RESULT",
        accountId: t.accountId,
        symbol: SECOND,
        action: "flatten",
        outcome: "failed",
        quantity: null,
        price: null,
        code: expect.any(String),
        reason: expect.any(String),
        nextStep: "Its stop stays in place and the desk retries the close.",
        requestedBy: "user:1",
      },
    ]);
    expect(results.find((n) => n.outcome === "closed" && n.symbol === SECOND)).toMatchObject({
      action: "flatten",
      quantity: "10",
      requestedBy: "user:1",
    });
    // The flatten's results are not told as reconciliation incidents any more.
    expect(
      (await noticeDetails("RECONCILIATION_INCIDENT")).filter((n) => n.includes("FLATTEN")),
    ).toEqual([]);
    const closed = await waitFor(async () => {
      const trade = await findTradeByDecision(t.db.db, second.decision.id);
      return trade?.trade.status === "CLOSED" ? trade : null;
    });
    expect(closed.trade.exitReason).toBe("FLATTENED");
    // No order is left working for the flattened symbols.
    expect(await brokerOpenOrders(SECOND)).toEqual([]);
    expect(await brokerOpenOrders(HELD)).toEqual([]);
    // Each close only closes: a position gone meanwhile is refused, never sold short.
    expect(closesSent.length).toBeGreaterThan(0);
    expect(closesSent).toEqual(closesSent.map((c) => ({ ...c, intent: `${c.side}_to_close` })));
  }, 60_000);

  it("tells a /close the broker refused on its last attempt that the desk gave up, and what to do", async () => {
    await quote(REFUSED_CLOSE, "99.99", "100.01");
    await enter({
      symbol: REFUSED_CLOSE,
      entry: null,
      quantity: "10",
      stop: "95.00",
      target: "120.00",
    });
    await waitFor(async () =>
      (await brokerOpenOrders(REFUSED_CLOSE)).some((o) => o.type === "stop"),
    );
    closesToRefuse.add(REFUSED_CLOSE);
    const process = createKillSwitchProcessor(
      createKillSwitch(killDeps, createOrderReportHandler(t.deps)),
    );
    const close = {
      action: "close",
      accountId: t.accountId,
      symbol: REFUSED_CLOSE,
      percent: null,
      requestedBy: "user:2",
      requestId: "close-refused",
    } as const;
    // The last of ten attempts.
    await expect(process({ data: close, attemptsMade: 9, opts: { attempts: 10 } })).rejects.toThrow(
      `${REFUSED_CLOSE} not closed`,
    );
    const told = (await closeResults(t)).filter((n) => n.symbol === REFUSED_CLOSE);
    expect(told).toEqual([
      expect.objectContaining({
        action: "close",
        outcome: "failed",
        requestedBy: "user:2",
        nextStep: `Its stop stays in place, but the desk has stopped retrying: close it with /close ${REFUSED_CLOSE} or at the broker.`,
      }),
    ]);
    // The stop is put back while the position waits for the trader.
    await waitFor(
      async () => (await brokerOpenOrders(REFUSED_CLOSE)).some((o) => o.type === "stop"),
      15_000,
      "stop restored",
    );
    // A close that goes through is told by its fill, not by another notice.
    await process({ data: { ...close, requestId: "close-again" }, attemptsMade: 0 });
    await waitFor(async () => !(await t.broker.getPosition(REFUSED_CLOSE)).ok, 15_000, "closed");
    expect((await closeResults(t)).filter((n) => n.symbol === REFUSED_CLOSE)).toHaveLength(1);
  }, 60_000);

  it("keeps a manual halt across a restart: new workers refuse entries, the session open keeps it", async () => {
    const now = t.deps.now();
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("HALTED", "/halt by @ann: news", now.getTime()),
      "user:1",
      now,
    );
    await runtime.stop();
    runtime = await t.startRuntime();
    await quote(LATER, "99.99", "100.01");
    const decision = await t.decide({ symbol: LATER, entry: "100.00", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    const failed = await waitFor(async () => {
      const d = await findDecision(t.db.db, decision.id);
      return d?.status === "failed" ? d : null;
    });
    expect(failed.statusReason).toContain("TRADING_HALTED");
    const daily = createDailyProcessor(
      createJobDeps({ ...t.deps, now: () => new Date("2026-03-04T14:31:00Z") }),
    );
    await daily({ data: { kind: "session-open", accountId: t.accountId } });
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({
      mode: "HALTED",
      setBy: "MANUAL",
      reason: "/halt by @ann: news",
    });
  }, 60_000);
});
