/**
 * /metrics counts the jobs of every queue the desk runs, the kill-switch queue (/close,
 * /flatten, halt sweeps) included: its failed jobs are what an operator must be alerted to.
 */
import { spawn } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import {
  createKillSwitchClient,
  createKillSwitchQueue,
  KILL_SWITCH_QUEUE,
} from "../../jobs/killSwitchQueue";
import { QUEUE_NAMES } from "../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

const FIXTURE = fileURLToPath(new URL("./fixtures/runtimeProcess.ts", import.meta.url));

/** A TCP proxy to Redis that can be cut, as a Redis outage looks to the desk. */
async function startRedisProxy(): Promise<{ url: string; cut(): Promise<void> }> {
  const target = new URL(TEST_REDIS_URL);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const url = new URL(TEST_REDIS_URL);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    cut: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe("a Redis outage in the log", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-redis-errors");
  }, 30_000);

  afterAll(async () => {
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  it("is told in structured lines, never printed raw on stderr by the queues", async () => {
    const proxy = await startRedisProxy();
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: database.url ?? "",
        ALPACA_TRADING_URL: simulator.url,
        REDIS_URL: proxy.url,
        HTTP_PORT: String(await freePort()),
        ROLE: "bot",
        FIXTURE_QUEUE_PREFIX: `${redis.prefix}desk`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!stdout.includes("ready\n")) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`not started: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await proxy.cut();
      const lines = () =>
        stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as { msg: string; queue?: string });
      // Every queue has met the outage once it has logged it: a raw print would have come then.
      const queues = [...Object.values(QUEUE_NAMES), KILL_SWITCH_QUEUE];
      const reported = () =>
        new Set(
          lines()
            .filter((line) => line.msg === "queue connection error")
            .map((line) => line.queue),
        );
      const reportedBy = Date.now() + 15_000;
      while (!queues.every((queue) => reported().has(queue))) {
        if (Date.now() > reportedBy)
          throw new Error(`not every queue reported the outage: ${[...reported()].join(", ")}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(stderr).not.toContain("ECONNREFUSED");
      expect(lines().some((line) => line.msg === "queue connection error" && line.queue)).toBe(
        true,
      );
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});

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

  it("still answer, with the trading states, while Redis is down", async () => {
    const proxy = await startRedisProxy();
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: proxy.url,
      HTTP_PORT: String(await freePort()),
      ROLE: "bot",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const cutOff = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: `${redis.prefix}down`,
      httpHost: "127.0.0.1",
    });
    try {
      await proxy.cut();
      const answer = await fetch(`${cutOff.httpUrl}/metrics`, {
        signal: AbortSignal.timeout(8_000),
      });
      expect(answer.status).toBe(200);
      const metrics = await answer.text();
      expect(metrics).toContain('desk_trading_state{account="1",state="ACTIVE"} 1');
      expect(metrics).not.toMatch(/desk_queue_depth\{/);
    } finally {
      await Promise.race([cutOff.stop(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
  }, 60_000);
});
