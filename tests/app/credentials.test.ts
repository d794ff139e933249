/**
 * `npm run credentials`: keys are read from standard input, checked with the broker, stored
 * sealed with SECRETS_KEY on their account, and used by the runtime when the environment has none.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCredentials } from "../../app/brokerCredentials";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { StartupError, startRuntime } from "../../app/runtime";
import { createSecretBox } from "../../app/secrets";
import { listBrokerAccounts } from "../../db/brokerAccounts";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSX = `file://${join(ROOT, "node_modules/tsx/dist/esm/index.mjs")}`;
const SECRETS_KEY = "11".repeat(32);
const KEY_ID = "PKCREDTEST00001234";
const SECRET_KEY = "credential-test-secret-abcdefghijklmnop";

function runCli(args: string[], env: Record<string, string>, input: string, cwd = ROOT) {
  const child = spawn(
    process.execPath,
    ["--import", TSX, join(ROOT, "app/credentials.ts"), ...args],
    {
      cwd,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin.end(input);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, stdout, stderr })),
  );
}

describe("npm run credentials", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator({ keyId: KEY_ID, secretKey: SECRET_KEY });
    env = {
      DATABASE_URL: database.url ?? "",
      SECRETS_KEY,
      ALPACA_TRADING_URL: simulator.url,
    };
  });
  afterAll(async () => {
    await simulator?.close();
    await database?.close();
  });

  it("refuses keys the broker does not accept and stores nothing", async () => {
    const run = await runCli(["add"], env, `${KEY_ID}\nnot-the-secret\n`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("refused these keys (UNAUTHORIZED)");
    expect(await listBrokerAccounts(database.db)).toEqual([]);
  }, 30_000);

  it("stores accepted keys sealed on the account, shows them masked, and never prints them", async () => {
    const run = await runCli(["add", "--label", "main"], env, `${KEY_ID}\n${SECRET_KEY}\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/stored: account 1 \(paper, .+\), key id \*\*\*\*1234/);
    const [account] = await listBrokerAccounts(database.db);
    expect(account?.label).toBe("main");
    expect(account?.encryptedCredentials).not.toContain(SECRET_KEY);
    expect(account?.encryptedCredentials).not.toContain(KEY_ID);
    const box = createSecretBox(Buffer.from(SECRETS_KEY, "hex"));
    expect(account && openCredentials(box, account)).toEqual({
      keyId: KEY_ID,
      secretKey: SECRET_KEY,
    });

    const list = await runCli(["list"], env, "");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^1\tpaper\t.+\tmain\tkey id \*\*\*\*1234$/m);
    for (const output of [run.stdout, run.stderr, list.stdout, list.stderr]) {
      expect(output).not.toContain(SECRET_KEY);
      expect(output).not.toContain(KEY_ID);
    }
  }, 30_000);

  it("is used by the runtime when the environment has no keys", async () => {
    const redis = createTestRedis("credentials-runtime");
    const loaded = loadConfig({
      ...env,
      ROLE: "worker",
      HTTP_PORT: String(await freePort()),
      REDIS_URL: TEST_REDIS_URL,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      queuePrefix: `${redis.prefix}desk`,
      httpHost: "127.0.0.1",
    });
    try {
      expect(runtime.summary.join("\n")).toContain(
        "stored credentials of account 1 (paper, key id ****1234)",
      );
      const health = await fetch(`${runtime.httpUrl}/healthz`);
      const report = (await health.json()) as { components: Record<string, { status: string }> };
      // The simulator accepts only the stored pair: an up broker proves they were used.
      expect(report.components.broker?.status).toBe("up");
    } finally {
      await runtime.stop();
      await redis.cleanup();
    }
  }, 30_000);

  it("keep the runtime from running the simulator instead when SECRETS_KEY is missing", async () => {
    // Stored above. Without the key they cannot be opened: the desk would otherwise run the
    // built-in simulator, its traders taking it for the account.
    const { SECRETS_KEY: _key, ALPACA_TRADING_URL: _url, ...withoutKey } = env;
    const loaded = loadConfig({ ...withoutKey, HTTP_PORT: String(await freePort()) });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    const starting = startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      workers: async () => ({ stop: async () => {} }),
      httpHost: "127.0.0.1",
    });
    const outcome = await starting.then(
      async (runtime) => {
        await runtime.stop();
        return `started: ${runtime.summary.join("; ")}`;
      },
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(StartupError);
    expect((outcome as Error).message).toMatch(/^Account 1 holds stored broker credentials/);
    expect((outcome as Error).message).toContain("SECRETS_KEY");
  }, 30_000);

  it("keeps off an embedded database a running desk has open", async () => {
    // PGlite keeps its own cache of the files: two processes on one directory lose each
    // other's writes (the desk's books, or the stored keys).
    const cwd = await mkdtemp(join(tmpdir(), "desk-credentials-"));
    const embedded = { SECRETS_KEY };
    // Its queues on Redis rather than in a second embedded database of their own: only the
    // desk's books are the point here, and each embedded database takes seconds to set up.
    const redis = createTestRedis("credentials-embedded");
    const desk = spawn(process.execPath, ["--import", TSX, join(ROOT, "app/main.ts")], {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        ...embedded,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: `${redis.prefix}desk`,
        HTTP_PORT: String(await freePort()),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let banner = "";
    desk.stderr.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
    });
    try {
      const deadline = Date.now() + 90_000;
      while (!banner.includes("ready.")) {
        if (Date.now() > deadline || desk.exitCode !== null) throw new Error(banner);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const list = await runCli(["list"], embedded, "", cwd);
      expect(list.code).toBe(1);
      expect(list.stderr).toContain(`is open in process ${desk.pid}`);
    } finally {
      if (desk.exitCode === null && desk.signalCode === null) {
        const exited = new Promise((resolve) => desk.once("exit", resolve));
        desk.kill("SIGTERM");
        await exited;
      }
      await redis.cleanup();
      await rm(cwd, { recursive: true, force: true });
    }
  }, 150_000);

  it("explains usage and the missing SECRETS_KEY", async () => {
    const { SECRETS_KEY: _key, ...withoutKey } = env;
    // Neither touches the database: run side by side.
    const [usage, noKey] = await Promise.all([
      runCli(["rotate"], env, ""),
      runCli(["list"], withoutKey, ""),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("npm run credentials -- add");
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("SECRETS_KEY is not set");
  }, 30_000);
});
