import { readFileSync } from "node:fs";
import pino from "pino";
import { startSimulator } from "./server";

/** `npm run sim`: a local Alpaca-compatible paper exchange on SIM_PORT (default 5800). */
async function main(): Promise<void> {
  // Logs go to stderr so stdout carries only the base URL, for scripts.
  const logger = pino({ name: "sim" }, pino.destination(2));
  const port = Number(process.env.SIM_PORT ?? "5800");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SIM_PORT must be a port number, got "${process.env.SIM_PORT}"`);
  }
  const replayFile = process.env.SIM_REPLAY_FILE;
  const market = process.env.SIM_MARKET;
  if (market !== undefined && market !== "open" && market !== "closed") {
    throw new Error(`SIM_MARKET must be "open" or "closed", got "${market}"`);
  }
  const walkMs = Number(process.env.SIM_WALK_MS ?? "1000");
  const sim = await startSimulator({
    port,
    host: "127.0.0.1",
    ...(process.env.SIM_KEY_ID ? { keyId: process.env.SIM_KEY_ID } : {}),
    ...(process.env.SIM_SECRET_KEY ? { secretKey: process.env.SIM_SECRET_KEY } : {}),
    ...(process.env.SIM_SEED ? { seed: Number(process.env.SIM_SEED) } : {}),
    ...(process.env.SIM_TIME ? { time: process.env.SIM_TIME } : {}),
    ...(replayFile ? { replayBars: readFileSync(replayFile, "utf8") } : {}),
    ...(market ? { market } : {}),
    clockRunning: true,
    // Replayed bars drive prices on their own; otherwise prices walk unless SIM_WALK_MS=0.
    randomWalk: replayFile || walkMs <= 0 ? false : { intervalMs: walkMs },
    logger,
  });
  logger.info({ url: sim.url, stream: sim.streamUrl }, "simulator listening");
  process.stdout.write(`${sim.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "simulator stopping");
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "simulator failed to stop cleanly");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `simulator failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
