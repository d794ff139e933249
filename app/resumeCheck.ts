/**
 * The check /resume asks (bot/features/deskPorts.ts `DailyLossAllowsResume`) before an automatic
 * halt is lifted by hand: the day's loss from the latest account figures the valuation stored
 * (equity against last equity less the day's net deposits, and the trades of today) against the account's limits, and,
 * when the drawdown breaker is on, the equity against its recent peak. Beyond either limit,
 * /resume is refused unless a reason is given; a forced resume is written to the execution log
 * with the figures.
 */
import type { DailyLossAllowsResume } from "../bot/features/deskPorts";
import { findBrokerAccount } from "../db/brokerAccounts";
import { listRecentEquities } from "../db/circuitBreakerFacts";
import type { Database } from "../db/database";
import { listEquitySnapshots } from "../db/equitySnapshots";
import { appendLog } from "../db/executionLog";
import { loadKillSwitchSettings } from "../db/killSwitchSettings";
import { loadRiskLimits } from "../db/riskLimits";
import { summarizeClosedTrades } from "../db/valuation";
import { evaluateDrawdown } from "../domain/circuitBreakers";
import { ZERO } from "../domain/money";
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
    const [limits, realized, settings, [snapshot]] = await Promise.all([
      loadRiskLimits(deps.db, accountId),
      summarizeClosedTrades(deps.db, accountId, day.from, day.to),
      loadKillSwitchSettings(deps.db, accountId),
      listEquitySnapshots(deps.db, accountId, day.date, day.date),
    ]);
    const evaluation = evaluateDailyLoss(
      {
        equity: account.equity,
        lastEquity: account.lastEquity,
        realizedPnlToday: realized.openedInPeriodPnl,
        // What the valuation found moved in or out today is no P&L.
        netDepositsToday: snapshot?.netDeposits ?? ZERO,
      },
      limits,
    );
    const drawdown =
      settings.maxDrawdownPercent === null
        ? { tripped: false as const }
        : evaluateDrawdown(
            await listRecentEquities(deps.db, accountId, settings.drawdownDays),
            account.equity,
            settings,
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
