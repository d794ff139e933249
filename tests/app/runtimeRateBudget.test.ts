/**
 * A desk counts its broker requests in Redis. A desk on the simulator (no Alpaca key) counts them
 * under its own prefix: its simulator is its own, so desks on one Redis must not share a budget,
 * as desks trading one Alpaca key do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { startRuntime } from "../../app/runtime";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

describe("the broker request budget of a desk on the simulator", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-rate-budget");
  }, 30_000);

  afterAll(async () => {
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  it("is kept under the desk's prefix, not shared with every other simulator desk", async () => {
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const prefix = `${redis.prefix}desk`;
    const runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      queuePrefix: prefix,
      httpHost: "127.0.0.1",
    });
    try {
      // The start asks the broker for the account at least once, through the limiter.
      expect(await redis.redis.zcard(`${prefix}:ratelimit:sandbox`)).toBeGreaterThan(0);
    } finally {
      await runtime.stop();
    }
  }, 60_000);
});
