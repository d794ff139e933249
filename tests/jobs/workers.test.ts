/**
 * Several worker processes on one account: no duplicate entry, exit or notification; a worker
 * killed (SIGKILL) while placing exits leaves its job to the others; SIGTERM lets the active job
 * finish. Workers are child processes running tests/jobs/fixtures/workerProcess.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Decision, findDecision } from "../../db/decisions";
import { listOrdersForTrade, type OrderRecord } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import { isTerminal } from "../../domain/orderStateMachine";
import { executeJobId } from "../../jobs/client";
import { streamLeaseKey } from "../../jobs/streamLease";
import { KEY_ID, type Lifecycle, openLifecycle, SECRET_KEY, waitFor } from "./harness";

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(here, "fixtures", "workerProcess.ts");

let t: Lifecycle;
const children = new Set<ChildProcess>();

interface SimOrder {
  symbol: string;
  order_class: string;
  status: string;
  qty: string;
  client_order_id: string;
  type: string;
}

function startWorker(): Promise<ChildProcess> {
  // Node itself (not the tsx wrapper), so the pid and the signals reach the worker.
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env: {
      ...process.env,
      LIFECYCLE_PREFIX: t.prefix,
      LIFECYCLE_REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      LIFECYCLE_DATABASE_URL: t.db.url ?? "",
      LIFECYCLE_KEY_ID: KEY_ID,
      LIFECYCLE_SECRET_KEY: SECRET_KEY,
      LIFECYCLE_SIM_URL: t.sim.url,
      LIFECYCLE_STREAM_URL: t.sim.streamUrl,
      LIFECYCLE_ACCOUNT_ID: String(t.accountId),
      LIFECYCLE_CLOCK_START: t.deps.now().toISOString(),
      LIFECYCLE_NATIVE_BRACKETS: "false",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("worker did not start")), 20_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

async function stopAll(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      child.kill("SIGTERM");
      return exited(child);
    }),
  );
}

async function simOrders(symbol: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  return state.orders.filter((o) => o.symbol === symbol);
}

function liveStops(orders: readonly OrderRecord[]): OrderRecord[] {
  return orders.filter(
    (o) => o.order.role === "STOP_LOSS" && !isTerminal(o.order.status) && o.order.brokerOrderId,
  );
}

/**
 * Resolves once the simulator has handled the next request it holds back with a fault's delay:
 * the simulator runs in this process and sleeps on a timer of that length right after taking the
 * fault, so a timer of the same length set just after it fires once the request was handled.
 */
function delayedRequestHandled(): Promise<void> {
  const faults = t.sim.sim.faults;
  const take = faults.take.bind(faults);
  return new Promise((resolve) => {
    faults.take = (method, path) => {
      const fault = take(method, path);
      if (fault?.delayMs) {
        faults.take = take;
        const delayMs = fault.delayMs;
        queueMicrotask(() => setTimeout(resolve, delayMs));
      }
      return fault;
    };
  });
}

beforeAll(async () => {
  t = await openLifecycle("workers");
});
afterAll(async () => {
  await stopAll();
  await t?.close();
});

describe("three worker processes", () => {
  let workers: ChildProcess[];
  // Started once: the batch runs on them, then one of them is killed while placing exits.
  beforeAll(async () => {
    workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
  });
  afterAll(async () => {
    await stopAll();
  });

  it("execute a batch once each: one entry, one OCO per fill, one notice per event", async () => {
    const symbols = ["T20", "T21", "T22", "T23", "T24", "T25"];
    for (const symbol of symbols) {
      await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    }
    const decisions: Decision[] = [];
    for (let i = 0; i < 24; i++) {
      const symbol = symbols[i % symbols.length] ?? "T20";
      decisions.push(await t.decide({ symbol, entry: "100.05", quantity: String(1 + (i % 3)) }));
    }
    // Every decision asked for twice, from two places.
    await Promise.all(
      decisions.flatMap((d) => [t.jobs.executeDecision(d.id), t.jobs.executeDecision(d.id)]),
    );
    await waitFor(
      async () => {
        const all = await Promise.all(decisions.map((d) => findDecision(t.db.db, d.id)));
        return all.every((d) => d?.status === "executed");
      },
      30_000,
      "every decision executed",
    );
    for (const symbol of symbols) {
      await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    }
    for (const d of decisions) {
      await waitFor(
        async () => {
          const trade = await findTradeByDecision(t.db.db, d.id);
          if (trade?.trade.status !== "POSITION") return false;
          const stops = liveStops(await listOrdersForTrade(t.db.db, trade.id));
          return stops.length === 1 && stops[0]?.order.quantity.eq(trade.trade.quantity);
        },
        30_000,
        `trade of decision ${d.id} protected`,
      );
    }
    for (const symbol of symbols) {
      const orders = await simOrders(symbol);
      const entries = orders.filter((o) => o.client_order_id.endsWith("-entry"));
      const ocoParents = orders.filter((o) => o.order_class === "oco" && o.type === "limit");
      const perSymbol = decisions.filter((d) => d.symbol === symbol).length;
      expect(entries).toHaveLength(perSymbol);
      expect(new Set(entries.map((o) => o.client_order_id)).size).toBe(perSymbol);
      expect(ocoParents).toHaveLength(perSymbol);
    }
    const notices = await t.db.db.select().from(notificationOutbox);
    const submitted = notices.filter((n) => n.kind === "ENTRY_SUBMITTED");
    expect(submitted).toHaveLength(decisions.length);
    const fills = notices.filter((n) => n.kind === "ORDER_FILLED");
    const executions = fills.map((n) => (n.payload as { executionId: string }).executionId);
    expect(new Set(executions).size).toBe(executions.length);
    expect(fills).toHaveLength(decisions.length);
  }, 120_000);

  it("finish the exits of a worker killed while placing them", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T30", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T30", entry: "100.05", quantity: "7" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    const trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
    // The next order POST (the protective OCO) hangs for 4 s at the broker.
    const hungRequestHandled = delayedRequestHandled();
    await t.sim.control("/sim/faults", { method: "POST", path: "/v2/orders", delayMs: 4_000 });
    await t.sim.control("/sim/quotes", { symbol: "T30", bid: "99.98", ask: "100.00" });
    // Exits are placed by the stream's holder, which applies the fill itself (or by a job: the
    // order-events job of a fill the holder handed on, the protect job behind it).
    const placing = await waitFor(
      async () => {
        const orders = await listOrdersForTrade(t.db.db, trade.id);
        if (!orders.some((o) => o.order.orderClass === "oco" && !o.order.brokerOrderId))
          return null;
        const jobs = [
          ...(await t.queues.orderEvents.getJobs(["active"])),
          ...(await t.queues.protect.getJobs(["active"])),
        ];
        const job = jobs.find((j) => j.processedBy);
        if (job) return job.processedBy;
        const holder = await t.redis.redis.get(streamLeaseKey(`${t.prefix}:`, t.accountId));
        return holder?.split(":")[0] ?? null;
      },
      15_000,
      "a worker placing the exits",
    );
    const victim = workers.find((w) => `pid-${w.pid}` === placing);
    expect(victim).toBeDefined();
    victim?.kill("SIGKILL");
    await waitFor(
      async () => {
        const stops = liveStops(await listOrdersForTrade(t.db.db, trade.id));
        return stops.length === 1 && stops[0]?.order.quantity.eq(7);
      },
      30_000,
      "the exits placed by another worker",
    );
    // Once the hung request has landed too, there is still exactly one OCO at the broker.
    await hungRequestHandled;
    const ocoParents = (await simOrders("T30")).filter(
      (o) => o.order_class === "oco" && o.type === "limit",
    );
    expect(ocoParents.map((o) => o.qty)).toEqual(["7"]);
    expect((await findPosition(t.db.db, t.accountId, "T30"))?.position.quantity.toFixed()).toBe(
      "7",
    );
    const protectedNotices = (await t.db.db.select().from(notificationOutbox)).filter(
      (n) =>
        n.kind === "PROTECTION_PLACED" && (n.payload as { tradeId: number }).tradeId === trade.id,
    );
    expect(protectedNotices).toHaveLength(1);
  }, 90_000);

  it("SIGTERM: a worker stops taking jobs and finishes the one it is running", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T31", bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/faults", { method: "POST", path: "/v2/orders", delayMs: 1_500 });
    const decision = await t.decide({ symbol: "T31", entry: "100.05", quantity: "3" });
    await t.jobs.executeDecision(decision.id);
    const runningOn = await waitFor(
      async () => (await t.queues.execute.getJob(executeJobId(decision.id)))?.processedBy,
    );
    const worker = workers.find((w) => `pid-${w.pid}` === runningOn);
    expect(worker).toBeDefined();
    worker?.kill("SIGTERM");
    expect(worker && (await exited(worker))).toBe(0);
    const job = await t.queues.execute.getJob(executeJobId(decision.id));
    expect(await job?.getState()).toBe("completed");
    // Finished by the stopped worker itself, not left to stall and be taken up by another.
    expect(job?.processedBy).toBe(runningOn);
    expect(job?.stalledCounter ?? 0).toBe(0);
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
  }, 60_000);
});
