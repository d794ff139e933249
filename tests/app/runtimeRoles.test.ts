/**
 * A process running one role shares the database with the others: the embedded database belongs
 * to one process, so a split desk without DATABASE_URL is refused before anything opens it.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { StartupError, startRuntime } from "../../app/runtime";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

describe("ROLE=bot or worker without DATABASE_URL", () => {
  let simulator: TestSimulator;
  let redis: TestRedis;
  let directory: string;
  const cwd = process.cwd();

  beforeAll(async () => {
    simulator = await startTestSimulator();
    redis = createTestRedis("runtime-roles");
    // The embedded database goes under ./data: keep it out of the checkout.
    directory = await mkdtemp(join(tmpdir(), "desk-roles-"));
    process.chdir(directory);
  });
  afterAll(async () => {
    process.chdir(cwd);
    await rm(directory, { recursive: true, force: true });
    await redis?.cleanup();
    await simulator?.close();
  });

  for (const role of ["bot", "worker"] as const) {
    it(`refuses ROLE=${role} on the embedded database, saying to set DATABASE_URL`, async () => {
      // A broker the processes share (a simulator run on its own), so only the database is wrong.
      const loaded = loadConfig({
        ALPACA_TRADING_URL: simulator.url,
        REDIS_URL: TEST_REDIS_URL,
        HTTP_PORT: String(await freePort()),
        ROLE: role,
      });
      if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
      const outcome = await startRuntime(loaded.config, {
        logger: createLogger({ level: "silent" }),
        workers: async () => ({ stop: async () => {} }),
        queuePrefix: `${redis.prefix}desk`,
        httpHost: "127.0.0.1",
      }).then(
        async (runtime) => {
          await runtime.stop();
          return "started";
        },
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(StartupError);
      expect((outcome as Error).message).toMatch(
        new RegExp(
          `^ROLE=${role} needs a database shared with the other processes: set DATABASE_URL`,
        ),
      );
      // Refused before the embedded database was opened.
      expect(await readdir(directory)).toEqual([]);
    }, 60_000);
  }

  it("refuses ROLE=worker with neither a shared broker nor DATABASE_URL before opening anything", async () => {
    // No keys, no simulator URL, no SECRETS_KEY: the process would run a sandbox of its own.
    const loaded = loadConfig({
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "worker",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const outcome = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      queuePrefix: `${redis.prefix}desk`,
      httpHost: "127.0.0.1",
    }).then(
      async (runtime) => {
        await runtime.stop();
        return "started";
      },
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(StartupError);
    expect((outcome as Error).message).toMatch(
      /^ROLE=worker needs a broker shared with the other processes: set ALPACA_KEY_ID/,
    );
    // The refusal comes from the configuration alone: no embedded database was made.
    expect(await readdir(directory)).toEqual([]);
  }, 60_000);
});
