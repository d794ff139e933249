/**
 * TELEGRAM_ALLOWED_USERS is applied to the stored users at every start: someone taken off the
 * list stops counting as an admin or trader, to whom the account's notices (fills, stops, halts,
 * P&L) go.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { startRuntime } from "../../app/runtime";
import { listAccountRecipients } from "../../db/lifecycleQueries";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";
import { TEST_BOT_TOKEN } from "../support/telegram";

describe("the allowed users at start", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-users");
  }, 30_000);

  afterAll(async () => {
    await redis?.cleanup();
    await simulator?.close();
    await database?.close();
  });

  async function startWith(env: Record<string, string>): Promise<void> {
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
      ...env,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      queuePrefix: `${redis.prefix}desk`,
      httpHost: "127.0.0.1",
    });
    await runtime.stop();
  }

  it("take a user off the list out of the account's notices", async () => {
    const bot = { TELEGRAM_BOT_TOKEN: TEST_BOT_TOKEN };
    await startWith({ ...bot, TELEGRAM_ALLOWED_USERS: "7001:admin,7002:trader,7003:viewer" });
    expect(await listAccountRecipients(database.db, 1)).toEqual([7001, 7002]);

    // The trader has left: the next start no longer lists them.
    await startWith({ ...bot, TELEGRAM_ALLOWED_USERS: "7001:admin" });
    expect(await listAccountRecipients(database.db, 1)).toEqual([7001]);
  }, 60_000);

  it("are left alone by a process without the bot's list (a worker without a token)", async () => {
    await startWith({});
    // No sandbox user either: this process has no chat.
    expect(await listAccountRecipients(database.db, 1)).toEqual([7001]);
  }, 60_000);
});
