/**
 * /metrics counts the jobs of every queue the desk runs, the kill-switch queue (/close,
 * /flatten, halt sweeps) included: its failed jobs are what an operator must be alerted to.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createKillSwitchClient, createKillSwitchQueue } from "../../jobs/killSwitchQueue";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe("queue depths in /metrics", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;
  let runtime: Runtime | undefined;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-metrics");
  }, 30_000);

  afterAll(async () => {
    await runtime?.stop();
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  it("include the kill-switch queue", async () => {
    const prefix = `${redis.prefix}desk`;
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "bot",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: prefix,
      httpHost: "127.0.0.1",
    });
    // No worker in this process: the flatten waits.
    const queue = createKillSwitchQueue({ connection: redis.redis, prefix });
    try {
      await createKillSwitchClient(queue).flatten({
        accountId: 1,
        requestedBy: "test",
        requestId: "metrics-1",
      });
    } finally {
      await queue.close();
    }
    const metrics = await (await fetch(`${runtime.httpUrl}/metrics`)).text();
    expect(metrics).toContain('desk_queue_depth{queue="kill-switch",state="waiting"} 1');
    expect(metrics).toContain('desk_queue_depth{queue="kill-switch",state="failed"} 0');
    expect(metrics).toContain('desk_queue_depth{queue="execute",state="waiting"} 0');
  }, 60_000);
});
