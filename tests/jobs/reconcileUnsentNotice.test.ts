/**
 * What the trader is told about an order the broker has not confirmed, past reconciliation's 60 s
 * grace period: while its execute job may still send it, the notice must not read "never reached
 * the broker" (the trader would place it again and hold the position twice once the retry goes
 * through). It says so only once that is settled. Real PostgreSQL, Redis and simulator.
 */
import type { Job } from "bullmq";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Decision } from "../../db/decisions";
import { notificationOutbox } from "../../db/schema";
import { executeJobId } from "../../jobs/client";
import type { JobDeps } from "../../jobs/context";
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
  t = await openLifecycle("reconcile-unsent-notice");
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

/** Runs the decision's execute job while the broker answers every order post 503, until it waits to retry. */
async function executeUntilRetrying(decision: Decision): Promise<void> {
  await t.sim.control("/sim/faults", {
    method: "POST",
    path: "/v2/orders",
    status: 503,
    times: true,
  });
  await t.queues.execute.add(
    "NEW_TRADE",
    { action: "NEW_TRADE", decisionId: decision.id },
    { jobId: executeJobId(decision.id), attempts: 3, backoff: { type: "fixed", delay: 600_000 } },
  );
  const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
  const worker = openWorker(
    QUEUE_NAMES.execute,
    (job: Job, token?: string) => execute(job, token),
    workerConnection,
    { prefix: t.prefix, concurrency: 1 },
  );
  try {
    await waitFor(
      async () => (await t.queues.execute.getJobState(executeJobId(decision.id))) === "delayed",
      20_000,
      "execute job delayed",
    );
  } finally {
    await worker.close();
    await t.sim.control("/sim/faults", { clear: true });
  }
}

/** The trader's notices about a symbol: reconciliation's incidents and refused decisions. */
async function noticesAbout(symbol: string): Promise<Record<string, unknown>[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(sql`${notificationOutbox.payload}->>'symbol' = ${symbol}`)
    .orderBy(notificationOutbox.id);
  return rows.map((row) => row.payload);
}

function incidentsOf(notices: Record<string, unknown>[]) {
  return notices.filter(
    (notice) =>
      notice.kind === "RECONCILIATION_INCIDENT" && notice.incident === "ORDER_UNKNOWN_AT_BROKER",
  );
}

describe("the notice of an order the broker has not confirmed", () => {
  it("says it is unconfirmed and not to place it again while its job retries; 'never reached' only once settled", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T31", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T31", entry: "99.00" });
    await executeUntilRetrying(decision);
    expect(await reconcileNow()).toContain("ORDER_UNKNOWN_AT_BROKER");

    // The entry and its bracket legs, held until it fills: none is known to the broker yet.
    const told = incidentsOf(await noticesAbout("T31")).map((notice) => notice.detail);
    expect(told).toEqual(
      ["entry", "sl", "tp"].map(
        (leg) =>
          `Order d${decision.id}-${leg} (T31) is not confirmed by the broker yet and may still be sent: the desk is checking it. Do not place it again.`,
      ),
    );
    expect(JSON.stringify(await noticesAbout("T31"))).not.toContain("never reached");

    // The job is gone for good: reconciliation asks the broker, settles it, and only now says so.
    await (await t.queues.execute.getJob(executeJobId(decision.id)))?.remove();
    expect(await reconcileNow()).toContain("ENTRY_NEVER_SENT");
    const settled = (await noticesAbout("T31")).filter(
      (notice) => notice.kind === "ORDER_REJECTED",
    );
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ code: "ENTRY_NEVER_SENT", decisionId: decision.id });
    expect(String(settled[0]?.reason)).toContain("never reached the broker");
    expect(incidentsOf(await noticesAbout("T31"))).toHaveLength(3);
    const state = (await t.sim.control("/sim/state")) as { orders: unknown[] };
    expect(state.orders).toEqual([]);
  });
});
