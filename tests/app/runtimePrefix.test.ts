/**
 * Two desks on one Redis must not share queues: account ids start at 1 in every database, so a
 * worker taking the other desk's execute or close jobs would send them to its own broker account.
 * The key prefix belongs to the first database that starts with it; another database is refused
 * until it gets a prefix of its own (REDIS_PREFIX), while the same database starts again freely.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type RuntimeOptions, StartupError, startRuntime } from "../../app/runtime";
import { type Database, type DatabaseDriver, openDatabase } from "../../db/database";
import { databaseIdentity } from "../../jobs/prefixClaim";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

describe("two desks on one Redis", () => {
  let paper: TestDatabase;
  let other: TestDatabase;
  let simulator: TestSimulator;
  let redis: TestRedis;

  beforeAll(async () => {
    paper = await createTestDatabase("postgres");
    other = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-prefix");
  }, 30_000);

  afterAll(async () => {
    await redis?.cleanup();
    await simulator?.close();
    await paper?.close();
    await other?.close();
  });

  async function start(
    database: TestDatabase,
    env: Record<string, string>,
    options: Partial<RuntimeOptions>,
  ): Promise<"started" | unknown> {
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
      ...env,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    return startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      httpHost: "127.0.0.1",
      ...options,
    }).then(
      async (runtime) => {
        await runtime.stop();
        return "started";
      },
      (error: unknown) => error,
    );
  }

  it("refuses a second database on a prefix another database uses, and restarts the first", async () => {
    const shared = { queuePrefix: `${redis.prefix}desk` };
    expect(await start(paper, {}, shared)).toBe("started");
    // A restart (or a second worker) of the same desk keeps its prefix and its queued jobs.
    expect(await start(paper, {}, shared)).toBe("started");

    const refused = await start(other, {}, shared);
    expect(refused).toBeInstanceOf(StartupError);
    expect((refused as Error).message).toMatch(
      /^Redis key prefix '.*desk' belongs to the desk of another database: set REDIS_PREFIX/,
    );

    // Its own prefix, set in the environment, starts it.
    expect(await start(other, { REDIS_PREFIX: `${redis.prefix}other` }, {})).toBe("started");
    expect(await start(paper, {}, shared)).toBe("started");
  }, 90_000);
});

/**
 * A database to take the identity of: the identity comes from the server's catalog, not the
 * desk's tables, so PGlite's (seconds of migrations each) is left unmigrated.
 */
async function databaseOn(
  driver: DatabaseDriver,
): Promise<{ db: Database; close(): Promise<void> }> {
  if (driver === "pglite") return openDatabase({ dataDir: "memory://", migrate: false });
  return createTestDatabase(driver);
}

describe.each(TEST_DRIVERS)("the database identity on %s", (driver) => {
  it("is the same for one database and differs between two", async () => {
    const first = await databaseOn(driver);
    const second = await databaseOn(driver);
    try {
      const identity = await databaseIdentity(first.db);
      expect(identity).toMatch(/^\d+\//);
      expect(await databaseIdentity(first.db)).toBe(identity);
      expect(await databaseIdentity(second.db)).not.toBe(identity);
    } finally {
      await first.close();
      await second.close();
    }
  }, 60_000);
});
