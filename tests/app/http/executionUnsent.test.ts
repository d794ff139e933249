/**
 * What the execution API says about an entry whose sends keep failing: recorded, not at the
 * broker past reconciliation's 60 s grace period, while its execute job still retries. Until the
 * desk is certain it was not sent (the decision settled failed, the entry ended in the books), the
 * API must not read as "never reached the broker": a client would place the order again and hold
 * the position twice once the retry goes through. Real PostgreSQL, Redis and simulator.
 */
import type { Job } from "bullmq";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../../app/execution/service";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics } from "../../../app/metrics";
import type { Decision } from "../../../db/decisions";
import { executeJobId } from "../../../jobs/client";
import { createJobDeps, type JobDeps } from "../../../jobs/context";
import { createExecuteProcessor } from "../../../jobs/execute";
import { createOrderReportHandler } from "../../../jobs/orderReports";
import { openWorker } from "../../../jobs/queueConnection";
import { QUEUE_NAMES } from "../../../jobs/queues";
import { createReconcileProcessor } from "../../../jobs/reconcile";
import { type Lifecycle, openLifecycle, waitFor } from "../../jobs/harness";
import { TEST_REDIS_URL } from "../../support/redis";

const TOKEN = "api-token-0123456789abcdef";

let t: Lifecycle;
/** Reconciliation's and the API's clock: two minutes ahead, past the 60 s grace period. */
let later: JobDeps;
let workerConnection: Redis;
let app: FastifyInstance;

beforeAll(async () => {
  t = await openLifecycle("api-unsent");
  const now = () => new Date(t.deps.now().getTime() + 120_000);
  later = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now,
    logger: t.deps.logger,
    jobs: t.jobs,
  });
  workerConnection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const logger = createLogger({ level: "silent" });
  const metrics = createMetrics();
  app = createHttpServer({
    logger,
    metrics,
    health: [],
    execution: {
      apiToken: TOKEN,
      service: createExecutionService({
        db: t.db.db,
        broker: t.broker,
        jobs: t.jobs,
        accountId: t.accountId,
        logger,
        metrics,
        now,
      }),
    },
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await workerConnection?.quit();
  await t?.close();
});

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/** Runs the decision's execute job while the broker answers every order post 503, until `until`. */
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
    { prefix: t.prefix, concurrency: 1 },
  );
  try {
    await waitFor(
      async () => (await t.queues.execute.getJobState(executeJobId(decision.id))) === until,
      20_000,
      `execute job ${until}`,
    );
  } finally {
    await worker.close();
    await t.sim.control("/sim/faults", { clear: true });
  }
}

const get = async (url: string) => {
  const response = await app.inject({
    method: "GET",
    url,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
};

/** The decision's entry as /orders lists it, and reconciliation's report on it in the log. */
async function reportsOf(decision: Decision) {
  const clientOrderId = `d${decision.id}-entry`;
  const orders = await get("/api/execution/orders");
  const order = orders.orders.find(
    (o: { client_order_id: string }) => o.client_order_id === clientOrderId,
  );
  const log = await get("/api/execution/execution-log");
  const event = log.events.find(
    (e: { event_type: string; order_id: number }) =>
      e.event_type === "ORDER_UNKNOWN_AT_BROKER" && e.order_id === order?.order_id,
  );
  return { order, event };
}

describe("an entry not yet at the broker", () => {
  it("reads as unconfirmed while its execution still retries, and as not sent once settled", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T11", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T11", entry: "99.00" });
    await executeWhileUnreachable(decision, 3, "delayed");
    expect(await reconcileNow()).toContain("ORDER_UNKNOWN_AT_BROKER");

    // The job waits to send it again: the desk cannot say it was not sent.
    const unconfirmed = await reportsOf(decision);
    expect(unconfirmed.order).toMatchObject({
      status: "pending_new",
      broker_order_id: null,
      broker_state: "unconfirmed",
    });
    expect(unconfirmed.event).toMatchObject({
      event_type: "ORDER_UNKNOWN_AT_BROKER",
      broker_state: "unconfirmed",
    });
    expect(unconfirmed.event.message).toBe(
      "The broker has not confirmed this order yet and the desk may still send it: poll GET /api/execution/orders again, and do not submit it again (a second submit would open a second position).",
    );

    // The job is gone for good; reconciliation asks the broker and settles the decision failed.
    await (await t.queues.execute.getJob(executeJobId(decision.id)))?.remove();
    expect(await reconcileNow()).toContain("ENTRY_NEVER_SENT");
    const settled = await reportsOf(decision);
    expect(settled.order).toMatchObject({
      status: "rejected",
      rejection_reason: "never reached the broker",
      broker_state: "not_sent",
    });
    expect(settled.event).toMatchObject({ broker_state: "not_sent" });
    expect(settled.event.message).toBe(
      "This order never reached the broker and will not be sent: it ended as rejected. Submit a new order if you still want the trade.",
    );
    const state = (await t.sim.control("/sim/state")) as { orders: unknown[] };
    expect(state.orders).toEqual([]);
  });
});
