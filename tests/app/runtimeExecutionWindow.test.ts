/**
 * EXECUTION_WINDOW reaches the workers: a decision approved outside the window waits for its
 * next opening, nothing sent, instead of going out at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createDecision, findDecision } from "../../db/decisions";
import { upsertUser } from "../../db/users";
import { dec } from "../../domain/money";
import { createJobClient, executeJobId } from "../../jobs/client";
import { closeQueues, createQueues, type Queues } from "../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("EXECUTION_WINDOW", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;
  let runtime: Runtime | null = null;
  let queues: Queues | undefined;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("execution-window");
  }, 30_000);

  afterAll(async () => {
    await runtime?.stop();
    if (queues !== undefined) await closeQueues(queues);
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  it("holds a decision approved after the window until the next one", async () => {
    const prefix = `${redis.prefix}desk`;
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
      // The simulator's session opened at 09:35 New York time: the window has closed for today.
      EXECUTION_WINDOW: "09:30-09:32",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const now = () => new Date(MARKET_OPEN_TIME);
    runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: prefix,
      httpHost: "127.0.0.1",
      now,
    });
    await simulator.control("/sim/quotes", { symbol: "WIN", bid: "99.99", ask: "100.01" });
    const owner = await upsertUser(database.db, { telegramUserId: 41, role: "trader" }, now());
    const decision = await createDecision(
      database.db,
      {
        accountId: 1,
        source: "manual",
        symbol: "WIN",
        side: "buy",
        entryType: "market",
        entryPrice: null,
        stopPrice: dec("95"),
        targetPrice: dec("110"),
        quantity: dec("3"),
        riskAmount: dec("15"),
        createdBy: "user:41",
        status: "approved",
        decidedByUserId: owner.id,
      },
      now(),
    );
    queues = createQueues({ connection: redis.redis, prefix });
    await createJobClient(queues).executeDecision(decision.id);

    const job = await queues.execute.getJob(executeJobId(decision.id));
    await until(async () => (await job?.getState()) === "delayed", 10_000, "the job to wait");
    expect((await findDecision(database.db, decision.id))?.status).toBe("approved");
    const state = (await simulator.control("/sim/state")) as { orders?: unknown[] };
    expect(state.orders ?? []).toEqual([]);
  }, 60_000);
});
