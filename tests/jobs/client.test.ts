import { type Job, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import {
  brokerOrderFromData,
  brokerOrderToData,
  brokerOrderToReport,
} from "../../jobs/brokerOrderPayload";
import { createJobClient, executeJobId, orderReportJobId } from "../../jobs/client";
import {
  closeQueues,
  createQueues,
  jobIdOf,
  orderEventsPayloadSchema,
  PAYLOAD_SCHEMAS,
  type Queues,
} from "../../jobs/queues";
import { TEST_REDIS_URL, useTestRedis } from "../support/redis";

const testRedis = useTestRedis("jobs-client");

function brokerOrder(overrides: Partial<BrokerOrder> = {}): BrokerOrder {
  return {
    brokerOrderId: "b-1",
    clientOrderId: "d1-entry",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    orderClass: "bracket",
    timeInForce: "day",
    status: "new",
    qty: dec("10"),
    notional: null,
    filledQty: dec("0"),
    filledAvgPrice: null,
    limitPrice: dec("190.10"),
    stopPrice: null,
    trailPrice: null,
    trailPercent: null,
    extendedHours: false,
    legs: [],
    replaces: null,
    replacedBy: null,
    createdAt: new Date("2026-03-02T14:35:00Z"),
    updatedAt: new Date("2026-03-02T14:35:01Z"),
    submittedAt: null,
    filledAt: null,
    canceledAt: null,
    expiredAt: null,
    failedAt: null,
    ...overrides,
  };
}

describe("job client", () => {
  let queues: Queues;
  beforeAll(() => {
    queues = createQueues({
      connection: testRedis.current.redis,
      prefix: testRedis.current.prefix,
    });
  });
  afterAll(async () => {
    await closeQueues(queues);
  });

  it("enqueues a decision once however often it is asked", async () => {
    const client = createJobClient(queues);
    await client.executeDecision(41);
    await client.executeDecision(41);
    await client.executeDecision(42, { runAt: new Date(Date.now() + 60_000) });
    const waiting = await queues.execute.getJobs(["waiting", "delayed"]);
    const ids = waiting.map((j) => j.id).sort();
    expect(ids).toEqual([executeJobId(41), executeJobId(42)].sort());
    const delayed = await queues.execute.getJob(executeJobId(42));
    expect(await delayed?.getState()).toBe("delayed");
    expect(PAYLOAD_SCHEMAS.execute.parse(delayed?.data)).toEqual({
      action: "NEW_TRADE",
      decisionId: 42,
    });
  });

  it("tells whether a decision's execute job may still run: waiting or delayed yes, failed or gone no", async () => {
    const client = createJobClient(queues);
    await client.executeDecision(43);
    await client.executeDecision(44, { runAt: new Date(Date.now() + 60_000) });
    expect(await client.executeJobAlive(43)).toBe(true);
    expect(await client.executeJobAlive(44)).toBe(true);
    expect(await client.executeJobAlive(45)).toBe(false);
    await (await queues.execute.getJob(executeJobId(44)))?.remove();
    expect(await client.executeJobAlive(44)).toBe(false);
  });

  it("keys order reports by execution id, so the stream and a retry are one job", async () => {
    const client = createJobClient(queues);
    const order = brokerOrder({ status: "filled", filledQty: dec("10") });
    const report = {
      ...brokerOrderToReport(order, new Date("2026-03-02T14:36:00Z")),
      event: "fill" as const,
      executionId: "ex:1",
      price: "190.05",
      qty: "10",
    };
    await client.publishOrderEvent(7, "stream", report);
    await client.publishOrderEvent(7, "poll", report);
    const jobs = await queues.orderEvents.getJobs(["waiting"]);
    expect(jobs.map((j) => j.id)).toEqual([orderReportJobId("stream", report)]);
    expect(orderReportJobId("stream", report)).not.toContain(":");
    const parsed = orderEventsPayloadSchema.parse(jobs[0]?.data);
    expect(parsed.kind === "report" && brokerOrderFromData(parsed.report.order)).toEqual(order);
  });

  it("merges protection requests while their job waits, and runs one that arrives while it runs after it", async () => {
    const client = createJobClient(queues);
    // Two exits of trade 7 ended one after the other: a repair each.
    await client.requestProtection(1, 7, "repair");
    await client.requestProtection(1, 7, "repair");
    await client.requestProtection(1, 8, "repair");
    await client.requestProtection(1, 7, "exit_fill");
    const waiting = await queues.protect.getJobs(["waiting"]);
    expect(waiting.map((j) => [j.data.tradeId, j.data.reason]).sort()).toEqual([
      [7, "exit_fill"],
      [7, "repair"],
      [8, "repair"],
    ]);

    const runs: { tradeId: number; reason: string }[] = [];
    let started: () => void = () => {};
    const firstStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(
      queues.protect.name,
      async (job: Job) => {
        runs.push({ tradeId: job.data.tradeId, reason: job.data.reason });
        if (runs.length === 1) {
          started();
          // Holds the first job active (it has read the trade) while the next request arrives.
          await released;
        }
      },
      { connection, prefix: testRedis.current.prefix, concurrency: 1 },
    );
    try {
      await firstStarted;
      const first = runs[0];
      expect(first).toBeDefined();
      if (!first) return;
      await client.requestProtection(1, first.tradeId, first.reason as "repair" | "exit_fill");
      release();
      const deadline = Date.now() + 10_000;
      while (runs.length < 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The request made while the first job ran is not dropped: it runs once more after it.
      expect(runs.filter((r) => r.tradeId === first.tradeId && r.reason === first.reason)).toEqual([
        first,
        first,
      ]);
      expect(runs).toHaveLength(4);
    } finally {
      release();
      await worker.close();
      await connection.quit();
    }
  });

  it("merges a trade's cancel requests while one waits, and takes a new one once that one failed for good", async () => {
    const client = createJobClient(queues);
    await client.cancelTrade(1, 9, "trader", "user:1");
    await client.cancelTrade(1, 9, "trader", "user:1");
    const cancelsOf9 = async (states: ("waiting" | "failed")[]) =>
      (await queues.execute.getJobs(states)).filter((j) => {
        const payload = PAYLOAD_SCHEMAS.execute.parse(j.data);
        return payload.action === "CANCEL" && payload.tradeId === 9;
      });
    expect(await cancelsOf9(["waiting"])).toHaveLength(1);

    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(
      queues.execute.name,
      async (job: Job) => {
        if (job.name === "CANCEL") throw new UnrecoverableError("the broker refused the cancel");
      },
      { connection, prefix: testRedis.current.prefix },
    );
    try {
      const deadline = Date.now() + 10_000;
      while ((await cancelsOf9(["failed"])).length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await cancelsOf9(["failed"])).toHaveLength(1);
    } finally {
      await worker.close();
      await connection.quit();
    }
    // The trader asks again: that request is not swallowed by the failed job's id.
    await client.cancelTrade(1, 9, "trader", "user:1");
    expect(await cancelsOf9(["waiting"])).toHaveLength(1);
  });

  it("round-trips broker orders with legs exactly", () => {
    const leg = brokerOrder({
      brokerOrderId: "b-2",
      clientOrderId: "x",
      side: "sell",
      type: "stop",
      status: "held",
      limitPrice: null,
      stopPrice: dec("184.5"),
    });
    const order = brokerOrder({ legs: [leg], filledAvgPrice: dec("190.0512345678901") });
    expect(brokerOrderFromData(brokerOrderToData(order))).toEqual(order);
  });

  it("never builds an integer or colon job id", () => {
    expect(jobIdOf(12)).toBe("j12");
    expect(jobIdOf("a:b", 3)).toBe("a_b-3");
  });
});
