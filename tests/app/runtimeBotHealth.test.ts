/**
 * /healthz of a bot process (ROLE=bot) tells whether any worker takes the jobs it queues: without
 * one, confirmed trades wait in the queue and nothing is sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

async function workersHealth(runtime: Runtime) {
  const answer = await fetch(`${runtime.httpUrl}/healthz`);
  const report = (await answer.json()) as {
    components: Record<string, { status: string; detail?: string }>;
  };
  return { status: answer.status, workers: report.components.workers };
}

describe("a bot process's health", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;
  const running: Runtime[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-bot-health");
  }, 30_000);

  afterAll(async () => {
    for (const runtime of running.reverse()) await runtime.stop();
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  async function start(role: "bot" | "worker"): Promise<Runtime> {
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: role,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: `${redis.prefix}desk`,
      httpHost: "127.0.0.1",
    });
    running.push(runtime);
    return runtime;
  }

  it("is down while no worker takes its jobs, up once one does", async () => {
    const bot = await start("bot");
    const alone = await workersHealth(bot);
    expect(alone.workers?.status, JSON.stringify(alone)).toBe("down");
    expect(alone.status).toBe(503);

    await start("worker");
    const joined = await workersHealth(bot);
    expect(joined.workers?.status, JSON.stringify(joined)).toBe("up");
  }, 60_000);
});
