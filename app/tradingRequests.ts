/**
 * The bot's trading requests (bot/features/deskPorts.ts) handed to the lifecycle jobs: the bot
 * never calls the broker. Cancels are execute jobs; closing positions waits for a close job.
 */
import type { TradingRequests } from "../bot/features/deskPorts";
import type { JobClient } from "../jobs/client";

export function createTradingRequests(jobs: Pick<JobClient, "cancelTrade">): TradingRequests {
  return {
    cancelEntry: (request) =>
      jobs.cancelTrade(request.accountId, request.tradeId, request.reason, request.requestedBy),
    async closePosition() {
      throw new Error("closing a position is not available yet: the jobs have no close step");
    },
    async flatten() {
      throw new Error("flattening is not available yet: the jobs have no close step");
    },
  };
}
