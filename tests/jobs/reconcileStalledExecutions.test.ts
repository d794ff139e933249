/**
 * Decisions left `executing` by an execute job that is gone, settled by reconciliation against
 * the simulator, with real PostgreSQL and Redis: an entry that never reached the broker (decision
 * failed, entry rejected, the trader told once, nothing sent), an entry the broker took while the
 * job heard nothing (decision executed, the trader told once as the job would have, the trade
 * followed), a job still retrying (left alone), a claim that recorded nothing, and two workers
 * reconciling at once.
 */
import type { Job } from "bullmq";
import { and, eq, sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimDecisionForExecution, type Decision, findDecision } from "../../db/decisions";
import { readLog } from "../../db/executionLog";
import { findOrderByClientOrderId, listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import { executeJobId } from "../../jobs/client";
import type { JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { openWorker } from "../../jobs/queueConnection";
import { QUEUE_NAMES } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { TEST_REDIS_URL } from "../support/redis";
import { depsAhead, type Lifecycle, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;
let workerConnection: Redis;

beforeAll(async () => {
  t = await openLifecycle("reconcile-stalled");
  later = depsAhead(t, 120_000);
  workerConnection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await workerConnection?.quit();
  await t?.close();
});

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/**
 * Runs a decision's execute job (under its usual job id) on a worker until the job reaches
 * `until`: `failed` for a job that used up its attempts, `delayed` for one waiting to retry.
 */
async function executeUntil(
  decision: Decision,
  attempts: number,
  until: "failed" | "delayed" | "completed",
): Promise<void> {
  await t.queues.execute.add(
    "NEW_TRADE",
    { action: "NEW_TRADE", decisionId: decision.id },
    { jobId: executeJobId(decision.id), attempts, backoff: { type: "fixed", delay: 600_000 } },
  );
  const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
  const worker = openWorker(
    QUEUE_NAMES.execute,
    (job: Job, token?: string) => execute(job, token),
    workerConnection,
    {
      prefix: t.prefix,
      concurrency: 1,
    },
  );
  try {
    await waitFor(
      async () => (await t.queues.execute.getJobState(executeJobId(decision.id))) === until,
      20_000,
      `execute job ${until}`,
    );
  } finally {
    await worker.close();
  }
}

/** `executeUntil` while the broker answers every order post with a 503. */
async function executeWhileUnreachable(
  decision: Decision,
  attempts: number,
  until: "failed" | "delayed",
): Promise<void> {
  await t.sim.control("/sim/faults", {
    method: "POST",
    path: "/v2/orders",
    status: 503,
    times: true,
  });
  try {
    await executeUntil(decision, attempts, until);
  } finally {
    await t.sim.control("/sim/faults", { clear: true });
  }
}

async function brokerOrdersFor(clientOrderId: string): Promise<{ status: string }[]> {
  const state = (await t.sim.control("/sim/state")) as {
    orders: { client_order_id: string; status: string }[];
  };
  return state.orders.filter((o) => o.client_order_id === clientOrderId);
}

/** A decision's outbox rows of one kind. */
function outboxOf(decisionId: number, kind: "ORDER_REJECTED" | "ENTRY_SUBMITTED") {
  return t.db.db
    .select()
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.kind, kind),
        sql`${notificationOutbox.payload}->>'decisionId' = ${String(decisionId)}`,
      ),
    );
}

async function rejectionsOf(decisionId: number): Promise<Record<string, unknown>[]> {
  return (await outboxOf(decisionId, "ORDER_REJECTED")).map((r) => r.payload);
}

async function entryOf(decisionId: number) {
  const entry = await findOrderByClientOrderId(t.db.db, entryClientOrderId(decisionId));
  if (entry === null) throw new Error(`no entry for decision ${decisionId}`);
  return entry;
}

/** What reconciliation may have changed about a decision: its log, its orders, its notices. */
async function footprint(decisionId: number) {
  const trade = await findTradeByDecision(t.db.db, decisionId);
  return {
    decision: (await findDecision(t.db.db, decisionId))?.status,
    log: (await readLog(t.db.db, { decisionId })).length,
    tradeLog: trade ? (await readLog(t.db.db, { tradeId: trade.id })).length : 0,
    orders: trade
      ? (await listOrdersForTrade(t.db.db, trade.id)).map((o) => [
          o.order.status,
          o.updatedAt.getTime(),
        ])
      : [],
    notices: (await rejectionsOf(decisionId)).length,
    submitted: (await outboxOf(decisionId, "ENTRY_SUBMITTED")).length,
  };
}

describe("stalled executions", () => {
  it("fails a decision whose entry never reached the broker after the job gave up: entry rejected, one notice, nothing sent", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T01", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T01", entry: "99.00" });
    await executeWhileUnreachable(decision, 1, "failed");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executing");
    expect((await entryOf(decision.id)).order.status).toBe("pending_new");

    // Two workers reconcile at once: the decision is settled once.
    const [first, second] = await Promise.all([reconcileNow(), reconcileNow()]);
    expect([...first, ...second].filter((c) => c === "ENTRY_NEVER_SENT")).toHaveLength(1);

    const failed = await findDecision(t.db.db, decision.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toContain("ENTRY_NEVER_SENT");
    const entry = await entryOf(decision.id);
    expect(entry.order.status).toBe("rejected");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("CANCELLED");
    // The bracket legs held for the entry end with it.
    const orders = trade ? await listOrdersForTrade(t.db.db, trade.id) : [];
    expect(orders.map((o) => o.order.status)).toEqual(["rejected", "rejected", "rejected"]);
    const notices = await rejectionsOf(decision.id);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ code: "ENTRY_NEVER_SENT", tradeId: trade?.id });
    const log = await readLog(t.db.db, { decisionId: decision.id });
    expect(log.filter((e) => e.event === "STATUS_FAILED")).toHaveLength(1);
    expect(log.filter((e) => e.event === "ENTRY_NEVER_SENT")).toHaveLength(1);
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);

    // A third run changes nothing, and still sends nothing.
    const before = await footprint(decision.id);
    expect(await reconcileNow()).not.toContain("ENTRY_NEVER_SENT");
    expect(await footprint(decision.id)).toEqual(before);
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
  });

  it("executes a decision whose entry the broker took while the job heard nothing, and follows the trade", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T02", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T02", entry: "99.00" });
    // The order lands, but the answer and every lookup fail: the job cannot know and gives up.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      afterHandling: true,
    });
    await t.sim.control("/sim/faults", {
      method: "GET",
      path: "/v2/orders:by_client_order_id",
      status: 500,
      times: true,
    });
    try {
      await executeUntil(decision, 1, "failed");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executing");
    expect((await entryOf(decision.id)).order.brokerOrderId).toBeNull();

    expect(await outboxOf(decision.id, "ENTRY_SUBMITTED")).toHaveLength(0);

    // Two workers reconcile at once: the decision is settled once, the trader told once.
    const [first, second] = await Promise.all([reconcileNow(), reconcileNow()]);
    expect([...first, ...second].filter((c) => c === "EXECUTION_CONFIRMED")).toHaveLength(1);
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
    const acknowledged = await entryOf(decision.id);
    expect(acknowledged.order.brokerOrderId).not.toBeNull();
    expect(acknowledged.order.status).toBe("new");
    expect(await rejectionsOf(decision.id)).toHaveLength(0);
    // The notice the execute job writes once the entry is sent: same payload, same key.
    const submitted = await outboxOf(decision.id, "ENTRY_SUBMITTED");
    expect(submitted).toHaveLength(1);
    expect(submitted[0]?.dedupeKey).toBe(`submitted-${decision.id}:${submitted[0]?.chatId}`);
    expect(submitted[0]?.payload).toEqual({
      kind: "ENTRY_SUBMITTED",
      decisionId: decision.id,
      tradeId: acknowledged.tradeId,
      symbol: "T02",
      side: "buy",
      quantity: "10",
      orderType: "limit",
      limitPrice: "99",
      stopPrice: "95",
      targetPrice: "110",
      clientOrderId: entryClientOrderId(decision.id),
    });

    // The entry fills at the broker; the next reconciliation applies the fill it missed.
    await t.sim.control("/sim/quotes", { symbol: "T02", bid: "98.80", ask: "98.90" });
    await waitFor(async () => {
      const [o] = await brokerOrdersFor(entryClientOrderId(decision.id));
      return o?.status === "filled";
    });
    expect(await reconcileNow()).toContain("MISSED_FILL_INFERRED");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect((await entryOf(decision.id)).order.status).toBe("filled");
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(1);

    const before = await footprint(decision.id);
    expect(await reconcileNow()).not.toContain("EXECUTION_CONFIRMED");
    expect(await footprint(decision.id)).toEqual(before);
  });

  it("leaves a decision alone while its job waits to retry, and settles it once the job is gone", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T03", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T03", entry: "99.00" });
    await executeWhileUnreachable(decision, 3, "delayed");
    const actions = await reconcileNow();
    expect(actions).not.toContain("ENTRY_NEVER_SENT");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executing");
    expect((await entryOf(decision.id)).order.status).toBe("pending_new");
    expect(await rejectionsOf(decision.id)).toHaveLength(0);

    await (await t.queues.execute.getJob(executeJobId(decision.id)))?.remove();
    expect(await reconcileNow()).toContain("ENTRY_NEVER_SENT");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
    expect(await rejectionsOf(decision.id)).toHaveLength(1);
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
  });

  it("fails an approved decision whose execute job was never queued, told once, nothing sent", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T05", bid: "100.20", ask: "100.22" });
    // Approved, and the queue never got its job (Redis down between the approval and the add).
    const decision = await t.decide({ symbol: "T05", entry: "99.00" });

    expect(await reconcileNow()).toContain("EXECUTION_NEVER_STARTED");
    const failed = await findDecision(t.db.db, decision.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toContain("EXECUTION_NEVER_STARTED");
    expect(await rejectionsOf(decision.id)).toEqual([
      expect.objectContaining({ code: "EXECUTION_NEVER_STARTED", tradeId: null }),
    ]);
    expect(await findTradeByDecision(t.db.db, decision.id)).toBeNull();
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);

    // A job arriving late finds it settled and sends nothing; a second run changes nothing.
    await executeUntil(decision, 1, "completed");
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
    const before = await footprint(decision.id);
    expect(await reconcileNow()).not.toContain("EXECUTION_NEVER_STARTED");
    expect(await footprint(decision.id)).toEqual(before);
  });

  it("leaves an approved decision alone while its job waits, and within the grace period", async () => {
    const waiting = await t.decide({ symbol: "T06", entry: "99.00" });
    // Its job waits (an execution window, a scheduled time): it runs the decision in time.
    await t.queues.execute.add(
      "NEW_TRADE",
      { action: "NEW_TRADE", decisionId: waiting.id },
      { jobId: executeJobId(waiting.id), delay: 3_600_000 },
    );
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    // Approved just now: its job may be on its way to the queue.
    const fresh = await t.decide({ symbol: "T07", entry: "99.00" });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).not.toContain("EXECUTION_NEVER_STARTED");
    expect((await findDecision(t.db.db, fresh.id))?.status).toBe("approved");
    // Past the grace period (the later clock), the one without a job is settled, only it.
    const later = await reconcileNow();
    expect(later.filter((code) => code === "EXECUTION_NEVER_STARTED")).toHaveLength(1);
    expect((await findDecision(t.db.db, fresh.id))?.status).toBe("failed");
    expect((await findDecision(t.db.db, waiting.id))?.status).toBe("approved");
    expect(await rejectionsOf(waiting.id)).toHaveLength(0);
    await (await t.queues.execute.getJob(executeJobId(waiting.id)))?.remove();
  });

  it("fails a decision claimed by a job that stopped before recording an entry, told once", async () => {
    const decision = await t.decide({ symbol: "T04", entry: "99.00" });
    const claimed = await claimDecisionForExecution(t.db.db, decision.id, "test", t.deps.now());
    expect(claimed?.status).toBe("executing");

    expect(await reconcileNow()).toContain("ENTRY_NOT_RECORDED");
    const failed = await findDecision(t.db.db, decision.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toContain("ENTRY_NOT_RECORDED");
    expect(await rejectionsOf(decision.id)).toEqual([
      expect.objectContaining({ code: "ENTRY_NOT_RECORDED", tradeId: null }),
    ]);
    expect(await findTradeByDecision(t.db.db, decision.id)).toBeNull();

    const before = await footprint(decision.id);
    expect(await reconcileNow()).not.toContain("ENTRY_NOT_RECORDED");
    expect(await footprint(decision.id)).toEqual(before);
  });
});
