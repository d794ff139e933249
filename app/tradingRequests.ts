/**
 * The bot's trading requests (bot/features/deskPorts.ts) handed to the lifecycle jobs: the bot
 * never calls the broker. Cancels are execute jobs; cancelling the working entries of a halted
 * account, closing one position and flattening the account are kill-switch jobs (jobs/killSwitchQueue.ts), which retry a symbol the broker would
 * not close and report each symbol.
 */
import type { TradingRequests } from "../bot/features/deskPorts";
import type { JobClient } from "../jobs/client";
import type { KillSwitchClient } from "../jobs/killSwitchQueue";

export function createTradingRequests(
  jobs: Pick<JobClient, "cancelTrade">,
  killSwitch: Pick<KillSwitchClient, "closePosition" | "flatten" | "sweepEntries">,
): TradingRequests {
  return {
    cancelEntry: (request) =>
      jobs.cancelTrade(request.accountId, request.tradeId, request.reason, request.requestedBy),
    closePosition: (request) =>
      killSwitch.closePosition({
        accountId: request.accountId,
        symbol: request.symbol,
        percent: request.percent,
        requestedBy: request.requestedBy,
        requestId: request.requestId,
      }),
    cancelWorkingEntries: (request) =>
      killSwitch.sweepEntries(request.accountId, request.reason, 0),
    flatten: (request) =>
      killSwitch.flatten({
        accountId: request.accountId,
        requestedBy: request.requestedBy,
        requestId: request.requestId,
      }),
  };
}
