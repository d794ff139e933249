/**
 * Redis for the sandbox's job queues when no Redis was configured: a private redis-server
 * started from PATH on a free local port, without persistence, stopped with the desk.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";

export interface LocalRedis {
  readonly url: string;
  stop(): Promise<void>;
}

/** What to tell a newcomer who has neither redis-server nor a running Redis. */
export const MISSING_REDIS_HELP = [
  "The sandbox needs Redis for its job queues and found none:",
  "  - no redis-server on PATH to start a private one, and",
  "  - nothing answering at redis://127.0.0.1:6379.",
  "Install Redis and start the desk again:",
  "  Debian/Ubuntu: sudo apt-get install redis-server",
  "  macOS:         brew install redis",
  "  Docker:        docker run -d -p 6379:6379 redis:7",
  "or point REDIS_URL at a Redis server you already have.",
].join("\n");

/** The path of an executable on PATH, or null. */
export async function findOnPath(
  name: string,
  path = process.env.PATH ?? "",
): Promise<string | null> {
  for (const directory of path.split(delimiter)) {
    if (directory === "") continue;
    const candidate = join(directory, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `executable` on a free port and resolves once it accepts connections. */
export async function startLocalRedis(executable: string, timeoutMs = 10_000): Promise<LocalRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    executable,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start within ${timeoutMs} ms: ${output.slice(-500)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) before it was ready: ${output.slice(-500)}`));
    });
  });
  child.stdout?.removeAllListeners("data");
  child.stderr?.removeAllListeners("data");
  child.stdout?.resume();
  child.stderr?.resume();
  let stopping: Promise<void> | null = null;
  return {
    url: `redis://127.0.0.1:${port}`,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
