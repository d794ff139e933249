/**
 * The check /resume asks (bot/features/deskPorts.ts `DailyLossAllowsResume`) before an automatic
 * halt is lifted by hand: the latest account figures the valuation stored, with the facts of the
 * New York day they were taken on, against the daily-loss and drawdown limits (domain
 * `checkLossLimits`, as the session open asks). Beyond either limit,
 * /resume is refused unless a reason is given; a forced resume is written to the execution log
 * with the figures.
 */
import type { DailyLossAllowsResume } from "../bot/features/deskPorts";
import { findBrokerAccount } from "../db/brokerAccounts";
import type { Database } from "../db/database";
import { appendLog } from "../db/executionLog";
import { loadLossLimitFacts } from "../db/lossLimitFacts";
import { checkLossLimits } from "../domain/tradingState";
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
    // The figures are judged with the realized P&L and net deposits of the day they are from:
    // over a weekend and on a morning before its first valuation they are still the last
    // session's (the valuation, which knows the calendar, writes that day's snapshot with them),
    // and an empty day's facts beside them would drop its realized loss and its transfers.
    const figuresDay = tradingDayOf(null, account.lastSyncedAt ?? at);
    const facts = await loadLossLimitFacts(deps.db, accountId, figuresDay);
    const { dailyLoss: evaluation, drawdown } = checkLossLimits(
      {
        equity: account.equity,
        lastEquity: account.lastEquity,
        realizedPnlToday: facts.realizedPnlToday,
        netDepositsToday: facts.netDepositsToday,
      },
      facts.limits,
      facts.drawdown,
    );
    const breaches: string[] = [];
    const figures: Record<string, string> = {};
    if (evaluation.level === "BREACHED") {
      figures.pnlToday = evaluation.pnlToday.toFixed(2);
      figures.lossLimit = evaluation.limitAmount.toFixed(2);
      breaches.push(
        `The day's loss (${figures.pnlToday}) is still beyond the limit (${figures.lossLimit}).`,
      );
    }
    if (drawdown.tripped) {
      figures.drawdown = drawdown.message;
      breaches.push(`${drawdown.message}.`);
    }
    if (breaches.length === 0) return { allowed: true };
    if (reason === null || reason.trim() === "") {
      return {
        allowed: false,
        message: `${breaches.join(" ")} Give a reason to resume anyway: /resume <reason>.`,
      };
    }
    await appendLog(deps.db, {
      entity: "account",
      entityId: accountId,
      event: "RESUME_FORCED",
      details: {
        reason,
        ...figures,
        ...(evaluation.level === "BREACHED" ? { message: evaluation.message } : {}),
      },
      source: "bot:resume",
      accountId,
      occurredAt: at,
    });
    return { allowed: true };
  };
}
