/**
 * /healthz of a worker process: the trade updates stream counts as up only while some worker
 * holds it, not whenever this process does not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

interface StreamHealth {
  status: number;
  stream: { status: string; detail?: string } | undefined;
}

async function streamHealth(runtime: Runtime): Promise<StreamHealth> {
  const answer = await fetch(`${runtime.httpUrl}/healthz`);
  const report = (await answer.json()) as {
    components: Record<string, { status: string; detail?: string }>;
  };
  return { status: answer.status, stream: report.components.stream };
}

describe("the stream in a worker's health", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-stream-health");
  }, 30_000);

  afterAll(async () => {
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  async function startWorker(streamUrl: string, prefix: string): Promise<Runtime> {
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      ALPACA_STREAM_URL: streamUrl,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    return startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: `${redis.prefix}${prefix}`,
      httpHost: "127.0.0.1",
    });
  }

  it("is down while no worker holds the stream (it cannot be opened)", async () => {
    // Nothing listens there: the stream is never opened, by this worker or any other.
    const runtime = await startWorker(`ws://127.0.0.1:${await freePort()}/stream`, "unreachable");
    try {
      for (let i = 0; i < 3; i++) {
        const health = await streamHealth(runtime);
        expect(health.stream?.status, JSON.stringify(health)).toBe("down");
        expect(health.status).toBe(503);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    } finally {
      await runtime.stop();
    }
  }, 60_000);

  it("is up once this worker holds it", async () => {
    const runtime = await startWorker(simulator.streamUrl, "reachable");
    try {
      let health = await streamHealth(runtime);
      for (let i = 0; i < 100 && health.stream?.detail?.includes("this process") !== true; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        health = await streamHealth(runtime);
      }
      expect(health.stream).toEqual({
        status: "up",
        required: true,
        detail: "trade updates stream held by this process",
        ms: expect.any(Number),
      });
    } finally {
      await runtime.stop();
    }
  }, 60_000);
});
