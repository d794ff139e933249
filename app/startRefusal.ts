/**
 * Start-up refusals decided by the configuration alone. Checked before the database is opened
 * (and, by the entry point, before the rest of the desk is loaded), so an operator who split the
 * desk wrongly is told at once rather than after the embedded database's start.
 */
import type { AppConfig } from "./config";

/**
 * Why the processes of a split desk (ROLE=bot or worker) cannot run with this configuration, or
 * null when nothing in it stands in the way. The embedded database belongs to one process (the
 * others would open the same files or keep books of their own), and without a broker of their
 * own (keys, stored keys or a simulator URL) each process would get a built-in simulator, so
 * the bot's orders would never reach the worker's exchange.
 */
export function configurationRefusal(config: AppConfig): string | null {
  if (config.role === "all" || config.database.kind !== "embedded") return null;
  const brokerShared =
    config.alpaca.credentials !== null ||
    config.alpaca.tradingUrl !== null ||
    config.secretsKey !== null;
  return brokerShared
    ? `ROLE=${config.role} needs a database shared with the other processes: set DATABASE_URL to their PostgreSQL database, or run one process with ROLE=all on the embedded database`
    : sandboxSplitRefusal(config.role);
}

/** A split process would run the built-in simulator: each process an exchange of its own. */
export function sandboxSplitRefusal(role: "bot" | "worker"): string {
  return `ROLE=${role} needs a broker shared with the other processes: set ALPACA_KEY_ID and ALPACA_SECRET_KEY (paper), or run a simulator with npm run sim and set ALPACA_TRADING_URL to it. The built-in sandbox runs with ROLE=all only`;
}
