/**
 * The daily-loss check /resume asks (bot/features/deskPorts.ts `DailyLossAllowsResume`): the day's
 * loss from the latest account figures the valuation stored (equity against last equity, and the
 * trades closed today), evaluated with the account's limits. Beyond the limit, /resume is refused
 * unless a reason is given; a forced resume is written to the execution log with the figures.
 */
import type { DailyLossAllowsResume } from "../bot/features/deskPorts";
import { findBrokerAccount } from "../db/brokerAccounts";
import type { Database } from "../db/database";
import { appendLog } from "../db/executionLog";
import { loadRiskLimits } from "../db/riskLimits";
import { summarizeClosedTrades } from "../db/valuation";
import { evaluateDailyLoss } from "../domain/tradingState";
import { tradingDayOf } from "../jobs/value";

export function createDailyLossResumeCheck(deps: {
  readonly db: Database;
  readonly now: () => Date;
}): DailyLossAllowsResume {
  return async ({ accountId, reason }) => {
    const account = await findBrokerAccount(deps.db, accountId);
    if (!account || account.equity === null || account.lastEquity === null)
      return { allowed: true };
    const at = deps.now();
    const day = tradingDayOf(null, at);
    const [limits, realized] = await Promise.all([
      loadRiskLimits(deps.db, accountId),
      summarizeClosedTrades(deps.db, accountId, day.from, day.to),
    ]);
    const evaluation = evaluateDailyLoss(
      {
        equity: account.equity,
        lastEquity: account.lastEquity,
        realizedPnlToday: realized.realizedPnl,
      },
      limits,
    );
    if (evaluation.level !== "BREACHED") return { allowed: true };
    const figures = {
      pnlToday: evaluation.pnlToday.toFixed(2),
      lossLimit: evaluation.limitAmount.toFixed(2),
    };
    if (reason === null || reason.trim() === "") {
      return {
        allowed: false,
        message: `The day's loss (${figures.pnlToday}) is still beyond the limit (${figures.lossLimit}). Give a reason to resume anyway: /resume <reason>.`,
      };
    }
    await appendLog(deps.db, {
      entity: "account",
      entityId: accountId,
      event: "RESUME_FORCED",
      details: { reason, ...figures, message: evaluation.message },
      source: "bot:resume",
      accountId,
      occurredAt: at,
    });
    return { allowed: true };
  };
}
