/**
 * A worker process's stop (SIGTERM) stops taking jobs on every queue at once, then lets the
 * active ones finish: a long kill-switch job being finished does not keep the other queues
 * taking new work meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createJobClient } from "../../jobs/client";
import { createKillSwitchClient, createKillSwitchQueue } from "../../jobs/killSwitchQueue";
import { closeQueues, createQueues, type Queues } from "../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("a worker's stop", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;
  let runtime: Runtime | null = null;
  let queues: Queues;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("workers-stop");
  }, 30_000);

  afterAll(async () => {
    await runtime?.stop();
    if (queues !== undefined) await closeQueues(queues);
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  it("takes no new job while a kill-switch job is being finished", async () => {
    const prefix = `${redis.prefix}desk`;
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const started = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: prefix,
      httpHost: "127.0.0.1",
    });
    runtime = started;
    queues = createQueues({ connection: redis.redis, prefix });
    const jobs = createJobClient(queues);
    const killSwitchQueue = createKillSwitchQueue({ connection: redis.redis, prefix });
    const killSwitch = createKillSwitchClient(killSwitchQueue);
    try {
      // The start's poll and reconciliation done, every broker answer takes 2 s: a flatten
      // takes several.
      await until(
        async () =>
          (await queues.orderEvents.getJobCounts("waiting", "active")).waiting === 0 &&
          (await queues.orderEvents.getActiveCount()) === 0 &&
          (await queues.reconcile.getActiveCount()) === 0 &&
          (await queues.reconcile.getWaitingCount()) === 0,
        20_000,
        "the start's jobs",
      );
      await simulator.control("/sim/faults", { delayMs: 2_000 });
      await killSwitch.flatten({ accountId: 1, requestedBy: "test", requestId: "stop-1" });
      await until(
        async () => (await killSwitchQueue.getActiveCount()) === 1,
        10_000,
        "the flatten to run",
      );

      const stopping = started.stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await jobs.requestPoll(1, "asked-during-stop");
      await stopping;
      runtime = null;

      const polls = await queues.orderEvents.getJobs(["waiting", "active", "completed", "failed"]);
      const asked = polls.filter(
        (job) => job.data.kind === "poll" && job.data.reason === "asked-during-stop",
      );
      expect(asked).toHaveLength(1);
      expect(await asked[0]?.getState()).toBe("waiting");
      expect(await killSwitchQueue.getCompletedCount()).toBe(1);
    } finally {
      await simulator.control("/sim/faults", { clear: true });
      await killSwitchQueue.close();
    }
  }, 90_000);
});
