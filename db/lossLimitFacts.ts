/**
 * What the check of an account's loss limits reads beside its latest figures (domain
 * `checkLossLimits`): its limits, what trades opened in the day realized, the day's net deposits
 * the valuation found, and, when the drawdown breaker is on, the recent days' equities.
 */
import { newYorkDateOf, newYorkLocalToEpochMs } from "../domain/calendar";
import type { Decimal } from "../domain/money";
import { ZERO } from "../domain/money";
import type { RiskLimits } from "../domain/riskLimits";
import { listRecentEquities } from "./circuitBreakerFacts";
import type { Database } from "./database";
import { listEquitySnapshots } from "./equitySnapshots";
import { loadKillSwitchSettings } from "./killSwitchSettings";
import { loadRiskLimits } from "./riskLimits";
import { summarizeClosedTrades } from "./valuation";

/** An account's loss-limit facts of one trading day. */
export interface LossLimitFacts {
  readonly limits: RiskLimits;
  /** Realized P&L of the trades opened in the day (closed, or partly exited). */
  readonly realizedPnlToday: Decimal;
  /** Deposits less withdrawals of the day, as the day's snapshot holds them (zero without one). */
  readonly netDepositsToday: Decimal;
  /** The part of them booked after the day's close (zero before it, and without a snapshot). */
  readonly depositsAfterCloseToday: Decimal;
  readonly drawdown: {
    readonly settings: { readonly maxDrawdownPercent: Decimal | null };
    /**
     * The latest snapshots' equities, newest first, each with the net deposits of the days after
     * it added, as of the newest day's close (none while the breaker is off): weighed against an
     * equity taken after that close, add the transfers since it.
     */
    readonly recentEquities: readonly Decimal[];
  };
}

/** Reads the loss-limit facts of an account for the trading day `day` ([from, to), its date). */
export async function loadLossLimitFacts(
  db: Database,
  accountId: number,
  day: { readonly date: string; readonly from: Date; readonly to: Date },
): Promise<LossLimitFacts> {
  const [limits, realized, settings, [snapshot]] = await Promise.all([
    loadRiskLimits(db, accountId),
    summarizeClosedTrades(db, accountId, day.from, day.to),
    loadKillSwitchSettings(db, accountId),
    listEquitySnapshots(db, accountId, day.date, day.date),
  ]);
  // Net of the transfers since each day, as the daily-loss rule takes them out of the equity.
  const recentEquities =
    settings.maxDrawdownPercent === null
      ? []
      : await listRecentEquities(db, accountId, settings.drawdownDays);
  return {
    limits,
    realizedPnlToday: realized.openedInPeriodPnl,
    netDepositsToday: snapshot?.netDeposits ?? ZERO,
    depositsAfterCloseToday: snapshot?.depositsAfterClose ?? ZERO,
    drawdown: { settings, recentEquities },
  };
}

const DAY_MS = 24 * 3_600_000;

/**
 * The latest date before `date` (`YYYY-MM-DD`) the valuation wrote a snapshot on, within the two
 * weeks before it: the last trading day it saw. Null without one.
 */
export async function lastSnapshotDateBefore(
  db: Database,
  accountId: number,
  date: string,
): Promise<string | null> {
  const from = newYorkDateOf(newYorkLocalToEpochMs(date, "12:00") - 14 * DAY_MS);
  const snapshots = await listEquitySnapshots(db, accountId, from, date);
  return snapshots.filter((s) => s.tradingDay < date).at(-1)?.tradingDay ?? null;
}
