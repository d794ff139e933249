/**
 * The entry point as a user runs it: a separate process, configured by its environment.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL } from "../support/redis";
import { startTelegramEmulator } from "../support/telegram";
import { LEAKED_TOKEN } from "./fixtures/rejectOnSignal";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "app/main.ts");
const TSX = `file://${join(ROOT, "node_modules/tsx/dist/esm/index.mjs")}`;

interface Started {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Runs the desk with exactly this environment (nothing inherited but PATH and HOME). */
function runDesk(
  env: Record<string, string>,
  cwd: string,
  preload: readonly string[] = [],
): Started {
  const imports = preload.flatMap((file) => ["--import", `file://${file}`]);
  const child = spawn(process.execPath, ["--import", TSX, ...imports, MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? cwd, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const directories: string[] = [];
async function tempDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "desk-main-"));
  directories.push(directory);
  return directory;
}
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

/**
 * A fresh PostgreSQL database and Redis prefix for one desk, for tests whose point is not the
 * embedded database: opening and migrating that takes seconds of CPU before anything is checked.
 */
async function sharedBacking(name: string): Promise<{
  env: Record<string, string>;
  cleanup(): Promise<void>;
}> {
  const database = await createTestDatabase("postgres");
  const redis = createTestRedis(name);
  return {
    env: {
      DATABASE_URL: database.url ?? "",
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: `${redis.prefix}desk`,
    },
    async cleanup() {
      await redis.cleanup();
      await database.close();
    },
  };
}

/** The desk's JSON log lines on stdout (where it logs when not on the embedded database). */
function logLines(stdout: string): { level: string; msg: string; err?: { message: string } }[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: string; msg: string; err?: { message: string } });
}

describe("app/main.ts configuration errors", () => {
  it("exits 1 with one line per problem and no secret in the output", async () => {
    const cwd = await tempDirectory();
    const secrets = {
      ALPACA_KEY_ID: "PKLEAKCHECK0123456789",
      API_TOKEN: "short-tok",
      DATABASE_URL: "mysql://root:hunter2hunter2@db/desk",
    };
    const run = runDesk(
      {
        ...secrets,
        TELEGRAM_BOT_TOKEN: "not-a-token",
        HTTP_PORT: "80800",
        ROLE: "everything",
        LIVE_TRADING: "true",
      },
      cwd,
    );
    expect(await run.exited).toBe(1);
    const output = run.stdout() + run.stderr();
    const problems = run
      .stderr()
      .split("\n")
      .filter((line) => line.startsWith("  "));
    const named = problems.map((line) => line.trim().split(":")[0]);
    expect(named).toEqual(
      expect.arrayContaining([
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_ALLOWED_USERS",
        "ALPACA_SECRET_KEY",
        "DATABASE_URL",
        "HTTP_PORT",
        "API_TOKEN",
        "ROLE",
        "LIVE_TRADING",
      ]),
    );
    // One line per problem: every line names exactly one variable.
    expect(new Set(named).size).toBe(problems.length);
    for (const value of [...Object.values(secrets), "hunter2hunter2", "not-a-token"]) {
      expect(output).not.toContain(value);
    }
    expect(run.stdout()).toBe("");
  }, 30_000);
});

describe("app/main.ts start-up refusals", () => {
  it("refuses the built-in sandbox split into roles, saying what to set", async () => {
    const cwd = await tempDirectory();
    const run = runDesk({ ROLE: "worker", HTTP_PORT: String(await freePort()) }, cwd);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain("ROLE=worker needs a broker shared with the other processes");
    // Refused on the configuration alone, at once: the embedded database was never opened.
    expect(existsSync(join(cwd, "data", "db"))).toBe(false);
  }, 60_000);
});

describe("app/main.ts unexpected failures", () => {
  it("logs an unhandled rejection redacted, stops gracefully and exits 1", async () => {
    const cwd = await tempDirectory();
    const backing = await sharedBacking("main-rejection");
    const run = runDesk(
      { ...backing.env, HTTP_PORT: String(await freePort()), PATH: dirname(process.execPath) },
      cwd,
      [join(ROOT, "tests/app/fixtures/rejectOnSignal.ts")],
    );
    try {
      await waitFor(
        () => run.stderr().includes("ready."),
        60_000,
        `the desk to start:\n${run.stderr()}`,
      );
      run.child.kill("SIGUSR2");
      expect(await run.exited).toBe(1);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
      await backing.cleanup();
    }
    const log = logLines(run.stdout());
    const fatal = log.find((line) => line.level === "fatal");
    expect(fatal?.err?.message).toContain("/bot[REDACTED]/sendMessage");
    // Stopped the graceful way: the workers finished and let the stream go.
    const fatalAt = log.findIndex((line) => line.level === "fatal");
    expect(log.slice(fatalAt).map((line) => line.msg)).toContain("stopped");
    expect(run.stderr()).toContain("unexpected error");
    for (const output of [run.stdout(), run.stderr(), JSON.stringify(log)]) {
      expect(output).not.toContain(LEAKED_TOKEN.split(":")[1]);
    }
  }, 90_000);
});

describe("app/main.ts SIGTERM while starting", () => {
  it("lets the start finish, then stops what it started before exiting", async () => {
    const emulator = await startTelegramEmulator();
    const cwd = await tempDirectory();
    // Telegram asks the webhook registration, the last step of the start, to wait 4 s: the
    // workers are running by then.
    const held = emulator.failNext("setWebhook", { status: 429, times: 1, retryAfter: 4 });
    const backing = await sharedBacking("main-sigterm");
    const run = runDesk(
      {
        ...backing.env,
        HTTP_PORT: String(await freePort()),
        PATH: dirname(process.execPath),
        TELEGRAM_BOT_TOKEN: emulator.token,
        TELEGRAM_API_ROOT: emulator.apiRoot,
        TELEGRAM_ALLOWED_USERS: "1:admin",
        TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook",
        TELEGRAM_WEBHOOK_SECRET: "tg_main-sigterm-0123456789",
      },
      cwd,
    );
    try {
      await waitFor(
        () => held.failed() === 1,
        60_000,
        `the webhook registration:\n${run.stderr()}`,
      );
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
      await emulator.stop();
      await backing.cleanup();
    }
    const messages = logLines(run.stdout()).map((line) => line.msg);
    const stopping = messages.indexOf("stopping");
    const registered = messages.indexOf("bot webhook registered");
    const stopped = messages.indexOf("stopped");
    expect(stopping, messages.join("\n")).toBeGreaterThanOrEqual(0);
    expect(registered, messages.join("\n")).toBeGreaterThan(stopping);
    expect(stopped, messages.join("\n")).toBeGreaterThan(registered);
    expect(messages).not.toContain("desk started");
  }, 90_000);
});

describe("app/main.ts when the bot stops polling for good", () => {
  it("stops the desk and exits 1 for its supervisor to restart it, instead of running without a bot", async () => {
    const emulator = await startTelegramEmulator();
    const cwd = await tempDirectory();
    // 409: another process polls with this token (two instances overlapping in a deploy).
    const conflict = emulator.failNext("getUpdates", { status: 409, times: 1 });
    const backing = await sharedBacking("main-bot-crash");
    const run = runDesk(
      {
        ...backing.env,
        HTTP_PORT: String(await freePort()),
        PATH: dirname(process.execPath),
        TELEGRAM_BOT_TOKEN: emulator.token,
        TELEGRAM_API_ROOT: emulator.apiRoot,
        TELEGRAM_ALLOWED_USERS: "1:admin",
      },
      cwd,
    );
    try {
      await waitFor(() => run.stderr().includes("ready."), 60_000, `the start:\n${run.stderr()}`);
      // Ends the poll in progress, so the next one meets the conflict.
      await emulator.user({ userId: 1 }).send("/help");
      await waitFor(() => conflict.failed() === 1, 10_000, "the conflict");
      const code = await Promise.race([
        run.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 25_000)),
      ]);
      expect(code).toBe(1);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
      await emulator.stop();
      await backing.cleanup();
    }
    const messages = logLines(run.stdout()).map((line) => line.msg);
    expect(messages).toContain("bot runner crashed");
    expect(messages.indexOf("stopped")).toBeGreaterThan(messages.indexOf("bot runner crashed"));
  }, 120_000);
});

describe("app/main.ts unexpected start failures", () => {
  it("says on the terminal that the desk cannot start, not only in the sandbox's log file", async () => {
    const cwd = await tempDirectory();
    // The embedded database's directory is taken by a file: opening it fails.
    await mkdir(join(cwd, "data"));
    await writeFile(join(cwd, "data", "db"), "not a directory");
    const run = runDesk(
      { HTTP_PORT: String(await freePort()), PATH: dirname(process.execPath) },
      cwd,
    );
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(
      /The desk cannot start: EEXIST.+; the log (\.\/)?data\/desk\.log has the details/,
    );
  }, 60_000);
});

describe("sandbox smoke test", () => {
  it("starts with no credentials, answers /start in the terminal chat, and stops on SIGTERM", async () => {
    const cwd = await tempDirectory();
    const port = await freePort();
    const token = "smoke-test-token-0123456789";
    // A fresh machine: Node and npm on PATH, no Redis anywhere the desk could find one.
    const run = runDesk(
      { HTTP_PORT: String(port), API_TOKEN: token, PATH: dirname(process.execPath) },
      cwd,
    );
    try {
      await waitFor(
        () => run.stderr().includes("ready."),
        90_000,
        `the desk to start:\n${run.stderr()}`,
      );
      expect(run.stderr()).toContain("mode: sandbox");
      expect(run.stderr()).toContain("queues: embedded database");

      run.child.stdin?.write("/start\n");
      await waitFor(
        () => run.stdout().includes("You are signed in as admin"),
        15_000,
        `the /start reply:\n${run.stdout()}`,
      );
      expect(run.stdout()).toMatch(/desk> Hello, Sandbox\./);

      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      const report = (await health.json()) as { components: Record<string, { status: string }> };
      expect(Object.keys(report.components).sort()).toEqual(
        ["broker", "database", "queues", "telegram"]
          .concat("stream" in report.components ? ["stream"] : [])
          .sort(),
      );
      expect(report.components.database?.status).toBe("up");
      expect(report.components.queues?.status).toBe("up");
      expect(report.components.telegram?.status).toBe("up");
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('desk_trading_state{account="1",state="ACTIVE"} 1');
      expect(metrics).toContain("desk_queue_depth");

      // The whole lifecycle runs in the sandbox: an API order is executed by the workers against
      // the simulator and its fill comes back on the stream as a position.
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`http://127.0.0.1:${port}/api/execution/${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        });
      const submitted = await api("submit", {
        method: "POST",
        body: JSON.stringify({
          ticker: "AAPL",
          order_type: "BUY",
          stop_loss: "185",
          target_price: "200",
        }),
      });
      expect(submitted.status).toBe(202);
      let positions: { ticker: string; quantity: string }[] = [];
      for (let i = 0; i < 200 && positions.length === 0; i++) {
        positions = ((await (await api("positions")).json()) as { positions: typeof positions })
          .positions;
        if (positions.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(positions).toEqual([expect.objectContaining({ ticker: "AAPL", quantity: "26" })]);
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(after).toMatch(
        /desk_order_latency_seconds_count\{role="bracket",outcome="accepted"\} 1/,
      );
      expect(after).toMatch(/desk_fills_total\{side="buy"\} 1/);
      expect(after).toMatch(/desk_fill_slippage_bps_count\{side="buy"\} 1/);

      run.child.stdin?.write(":price AAPL 191.25\n");
      await waitFor(
        () => run.stdout().includes("market> AAPL last 191.25"),
        10_000,
        "the market command",
      );

      const stoppedAt = Date.now();
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
    // In the sandbox the log is a file beside the embedded database (stdout is the chat).
    const sandboxLog = await readFile(join(cwd, "data", "desk.log"), "utf8");
    expect(logLines(sandboxLog).map((line) => line.msg)).toEqual(
      expect.arrayContaining(["desk started", "stopped"]),
    );
    expect(run.stdout()).not.toContain('"msg":"desk started"');

    // Started again on the same ./data with a fresh simulator: the position carries on, with a
    // stop working at the simulator again, rather than being closed as an exit made elsewhere.
    const again = runDesk(
      { HTTP_PORT: String(port), API_TOKEN: token, PATH: dirname(process.execPath) },
      cwd,
    );
    try {
      await waitFor(
        () => again.stderr().includes("ready."),
        90_000,
        `the desk to start again:\n${again.stderr()}`,
      );
      expect(again.stderr()).toContain("positions opened again (AAPL 26)");
      const api = (path: string) =>
        fetch(`http://127.0.0.1:${port}/api/execution/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
      // The fresh simulator's own open orders: the stop must be there, and be the one we follow.
      const simulatorUrl = /simulator: (http:\/\/[^\s]+)/.exec(again.stderr())?.[1];
      expect(simulatorUrl).toBeDefined();
      const simulatorStops = async () => {
        const open = (await (
          await fetch(`${simulatorUrl}/v2/orders?status=open&nested=false`, {
            headers: { "APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s" },
          })
        ).json()) as { id: string; symbol: string; type: string; qty: string }[];
        return open.filter((o) => o.symbol === "AAPL" && o.type === "stop");
      };
      type OrderView = { role: string; status: string; broker_order_id: string | null };
      let followed: OrderView[] = [];
      for (let i = 0; i < 200; i++) {
        const atSimulator = new Set((await simulatorStops()).map((o) => o.id));
        const orders = ((await (await api("orders")).json()) as { orders: OrderView[] }).orders;
        followed = orders.filter(
          (o) =>
            o.role === "STOP_LOSS" &&
            o.broker_order_id !== null &&
            atSimulator.has(o.broker_order_id),
        );
        if (followed.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(followed).toHaveLength(1);
      expect(await simulatorStops()).toEqual([expect.objectContaining({ qty: "26" })]);
      const positions = (
        (await (await api("positions")).json()) as {
          positions: { ticker: string; quantity: string }[];
        }
      ).positions;
      expect(positions).toEqual([expect.objectContaining({ ticker: "AAPL", quantity: "26" })]);
      again.child.kill("SIGTERM");
      expect(await again.exited).toBe(0);
    } finally {
      if (again.child.exitCode === null) again.child.kill("SIGKILL");
    }
  }, 240_000);
});
