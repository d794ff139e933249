/**
 * Entry point: `npm start` (or `node --import tsx app/main.ts`). Reads the configuration from the
 * environment, prints every problem on one line each and exits 1 if there are any; otherwise
 * prints a banner (live trading said loudly), starts the roles and stops them gracefully on
 * SIGTERM or SIGINT.
 */
import { join } from "node:path";
import pino from "pino";
import { describeConfig, loadConfig } from "./config";
import { createLogger } from "./logger";
import { redactText } from "./redact";
import type { Runtime } from "./runtime";
import { configurationRefusal } from "./startRefusal";
import { STOP_LIMIT_MS } from "./stopLimit";

const LIVE_WARNING = [
  "",
  "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  "!!  LIVE TRADING: orders go to Alpaca's LIVE account with REAL MONEY.   !!",
  "!!  ALPACA_PAPER=false and LIVE_TRADING=true are both set.              !!",
  "!!  Stop now (Ctrl-C) unless you mean it.                                !!",
  "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  "",
].join("\n");

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write("The desk cannot start; fix the configuration:\n");
    for (const problem of loaded.problems) process.stderr.write(`  ${problem}\n`);
    process.exitCode = 1;
    return;
  }
  const config = loaded.config;
  const sandboxChat = config.mode === "sandbox" && config.telegram.botToken === null;
  // In the sandbox stdout is the chat: the log goes to a file beside the embedded database.
  const logFile =
    sandboxChat && config.database.kind === "embedded"
      ? join(config.database.directory, "desk.log")
      : null;
  const logger = createLogger({
    level: config.logLevel,
    ...(logFile === null
      ? {}
      : { destination: pino.destination({ dest: logFile, mkdir: true, sync: true }) }),
  });
  // The banner goes to stderr, so stdout stays the log stream (and, in the sandbox, the chat).
  const banner = process.stderr;
  banner.write(
    `alpaca-telegram-desk\n${describeConfig(config)
      .map((line) => `  ${line}`)
      .join("\n")}\n`,
  );
  if (config.mode === "live") {
    banner.write(LIVE_WARNING);
    logger.warn({ mode: "live" }, "LIVE TRADING: orders go to the live account with real money");
  }
  // Told at once, before the rest of the desk is loaded or any database opened.
  const refusal = configurationRefusal(config);
  if (refusal !== null) {
    process.stderr.write(`The desk cannot start:\n${refusal}\n`);
    process.exitCode = 1;
    return;
  }
  const { StartupError, startRuntime } = await import("./runtime");

  let runtime: Runtime | null = null;
  // Settles once the start is over, with the runtime or null when it failed (and cleaned up).
  let started: Promise<Runtime | null> = Promise.resolve(null);
  let stopping = false;
  let exitCode = 0;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "stopping");
    const deadline = setTimeout(() => {
      logger.error(`stop took longer than ${STOP_LIMIT_MS / 1000} s; exiting anyway`);
      process.exit(1);
    }, STOP_LIMIT_MS);
    deadline.unref();
    // A stop during the start waits for it: the workers may already be taking jobs and
    // holding the stream, and must stop the same way as after the start.
    await (await started)?.stop();
    logger.info("stopped");
    clearTimeout(deadline);
    process.exit(exitCode);
  };
  // Node's default would print the raw error (a URL with the bot token, headers) and exit at
  // once, cutting active jobs short and leaving the stream lease held until it lapses.
  const crash = (kind: string, error: unknown) => {
    exitCode = 1;
    logger.fatal({ err: error, kind }, "unexpected error; stopping");
    if (!stopping)
      banner.write(`The desk stops after an unexpected error (${kind}); see the log\n`);
    void stop(kind);
  };
  process.on("uncaughtException", (error) => crash("uncaughtException", error));
  process.on("unhandledRejection", (reason) => crash("unhandledRejection", reason));
  // A repeated SIGTERM (e.g. from a supervisor and a wrapper) must not cut the graceful stop
  // short; a second Ctrl-C is someone who does not want to wait.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => {
    if (stopping) {
      process.stderr.write("stopping anyway\n");
      process.exit(130);
    }
    void stop("SIGINT");
  });

  if (logFile !== null) banner.write(`  log: ${logFile}\n`);
  try {
    const starting = startRuntime(config, {
      logger,
      ...(sandboxChat ? { terminal: { input: process.stdin, output: process.stdout } } : {}),
      onQuitRequested: () => void stop(":quit"),
      // Running on without the bot would look alive to a supervisor while nobody can trade.
      onBotCrashed: () => {
        exitCode = 1;
        if (!stopping) banner.write("The bot stopped polling (see the log); the desk stops\n");
        void stop("bot runner crashed");
      },
      // A sandbox at a terminal is one person's: keep its API on this machine. Elsewhere (a
      // container) the port is published by whoever runs it.
      httpHost: sandboxChat && process.stdin.isTTY === true ? "127.0.0.1" : "0.0.0.0",
    });
    started = starting.catch(() => null);
    runtime = await starting;
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`The desk cannot start:\n${error.message}\n`);
    } else {
      logger.fatal({ err: error }, "start failed");
      // In the sandbox the log is a file: the terminal would see the desk end without a word.
      const reason = redactText(error instanceof Error ? error.message : String(error));
      process.stderr.write(
        `The desk cannot start: ${reason}; ${logFile === null ? "the log has" : `the log ${logFile} has`} the details\n`,
      );
    }
    process.exit(1);
  }
  if (stopping) return;
  banner.write(`${runtime.summary.map((line) => `  ${line}`).join("\n")}\nready.\n`);
  logger.info({ role: config.role, mode: config.mode, http: runtime.httpUrl }, "desk started");
}

void main();
