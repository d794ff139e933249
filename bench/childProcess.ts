/**
 * Bench processes of their own (the simulators, the worker runtimes), so that a figure measures
 * a deployment's processes rather than one event loop carrying them all. A child is a forked
 * script that says `{ hello: true }` once it listens, then answers requests over the IPC channel:
 * `{ id, request }` in, `{ id, ok, value }` or `{ id, ok: false, error }` out.
 */
import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** A forked bench script and a way to ask it things. */
export interface BenchChild {
  readonly process: ChildProcess;
  request<T>(request: unknown): Promise<T>;
  /** The child's CPU time so far (user + system), in microseconds. */
  cpuMicros(): Promise<number>;
  /** Asks the child to stop (`{ kind: "stop" }`) and waits for it to exit. */
  stop(): Promise<void>;
}

interface Answer {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/**
 * Forks `script` (a file in this folder) with `env` added. Node options of this process (the
 * TypeScript loader) are passed on; BENCH_CHILD_PROFILE=<dir> adds `--cpu-prof` into that folder.
 */
export function forkBenchChild(script: string, env: Record<string, string> = {}): BenchChild {
  const profileDir = process.env.BENCH_CHILD_PROFILE;
  const child = fork(join(here, script), [], {
    env: { ...process.env, ...env },
    execArgv: [
      ...process.execArgv,
      ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Requests wait for the child's hello: a message sent before it listens would be lost.
  const listening = new Promise<void>((resolve, reject) => {
    child.on("message", (message: { hello?: boolean }) => {
      if (message.hello) resolve();
    });
    child.once("exit", (code, signal) => reject(new Error(`${script} exited (${code ?? signal})`)));
  });
  listening.catch(() => {});
  child.on("message", (message: Answer) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.ok) waiting.resolve(message.value);
    else waiting.reject(new Error(`${script}: ${message.error}`));
  });
  child.once("exit", (code, signal) => {
    for (const waiting of pending.values()) {
      waiting.reject(new Error(`${script} exited (${code ?? signal})`));
    }
    pending.clear();
  });
  return {
    process: child,
    async request<T>(request: unknown): Promise<T> {
      await listening;
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, request });
      });
    },
    cpuMicros() {
      return this.request<number>({ kind: "cpu" });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await this.request({ kind: "stop" }).catch(() => {});
      await exited;
    },
  };
}

/**
 * The child's side: answers each request with `handle`, `cpu` with its CPU time so far (µs); on
 * `stop` (or when the parent goes away) runs `onStop` once, answers, and exits.
 */
export function serveBenchRequests(
  handle: (request: { readonly kind: string } & Record<string, unknown>) => Promise<unknown>,
  onStop: () => Promise<void>,
): void {
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= onStop();
    return stopping;
  };
  const send = (answer: Answer, then?: () => void) => {
    if (!process.connected) return then?.();
    process.send?.(answer, undefined, {}, () => then?.());
  };
  process.on("message", (message: { id: number; request: { kind: string } }) => {
    const { id, request } = message;
    if (!request) return;
    // Every bench process tells its CPU time (user + system, µs), for figures that the
    // machine's other load does not move.
    if (request.kind === "cpu") {
      const usage = process.cpuUsage();
      send({ id, ok: true, value: usage.user + usage.system });
      return;
    }
    if (request.kind === "stop") {
      stop().then(
        () => send({ id, ok: true }, () => process.exit(0)),
        (error: unknown) => send({ id, ok: false, error: String(error) }, () => process.exit(1)),
      );
      return;
    }
    handle(request as { kind: string } & Record<string, unknown>).then(
      (value) => send({ id, ok: true, value }),
      (error: unknown) =>
        send({ id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  // The parent gone (killed, crashed) means nobody will ask for a stop.
  process.on("disconnect", () => {
    stop().finally(() => process.exit(0));
  });
  process.send?.({ hello: true });
}
