/**
 * The check /resume asks (bot/features/deskPorts.ts `DailyLossAllowsResume`) before an automatic
 * halt is lifted by hand: the latest account figures the valuation stored, with the facts of the
 * trading day they belong to, against the daily-loss and drawdown limits (domain
 * `checkLossLimits`, as the session open asks). Beyond either limit,
 * /resume is refused unless a reason is given; a forced resume is written to the execution log
 * with the figures.
 */

import type { Logger } from "pino";
import type { DailyLossAllowsResume } from "../bot/features/deskPorts";
import { findBrokerAccount } from "../db/brokerAccounts";
import type { Database } from "../db/database";
import { appendLog } from "../db/executionLog";
import { lastSnapshotDateBefore, loadLossLimitFacts } from "../db/lossLimitFacts";
import type { Broker } from "../domain/broker";
import {
  newYorkDateOf,
  newYorkLocalToEpochMs,
  previousCloseAt,
  type TradingCalendar,
  tradingDayOf,
} from "../domain/calendar";
import { type Decimal, minDecimal } from "../domain/money";
import { checkLossLimits } from "../domain/tradingState";
import { netCashTransferred } from "../domain/valuation";
import { type CalendarCache, createCalendarCache } from "../jobs/marketCalendar";

/** The figures a valuation synced from the broker's account. */
interface SyncedFigures {
  readonly equity: Decimal;
  readonly lastEquity: Decimal;
  readonly lastSyncedAt: Date | null;
}

export function createDailyLossResumeCheck(deps: {
  readonly db: Database;
  readonly now: () => Date;
  /**
   * The account's broker: its trading calendar and cash transfers, as the valuation reads them.
   * Without it the figures' day is the New York date of their sync.
   */
  readonly broker?: Broker;
  readonly calendars?: CalendarCache;
  readonly logger?: Pick<Logger, "warn">;
}): DailyLossAllowsResume {
  const calendars = deps.calendars ?? createCalendarCache({ logger: deps.logger });

  /**
   * The calendar around the figures' sync, as the valuation that took them fetched it; null
   * without a broker, or `unavailable` when the broker cannot say.
   */
  async function calendarAround(
    accountId: number,
    at: Date,
  ): Promise<TradingCalendar | null | "unavailable"> {
    if (deps.broker === undefined) return null;
    try {
      return await calendars.get(accountId, deps.broker, at);
    } catch (error) {
      deps.logger?.warn(
        { accountId, figuresDate: newYorkDateOf(at), err: error },
        "trading calendar unavailable; /resume judges the figures on the New York date of their sync, with the worse of its realized P&L and the last recorded trading day's",
      );
      return "unavailable";
    }
  }

  /**
   * Cash moved in or out between `since`, the close the figures' last equity was taken at, and
   * `syncedAt`, when their equity was: a transfer booked after it is not in that equity. Counted
   * as the valuation counts it (jobs/value.ts `netDepositsOf`); null when the broker cannot say.
   */
  async function transferredBetween(since: Date, syncedAt: Date): Promise<Decimal | null> {
    if (deps.broker === undefined) return null;
    const transfers = await deps.broker.listCashTransfers(since);
    if (!transfers.ok) return null;
    return netCashTransferred(transfers.value, since.getTime(), syncedAt.getTime() + 1);
  }

  /** The account's figures against the loss limits, with the facts of the day they belong to. */
  async function judge(accountId: number, account: SyncedFigures, at: Date) {
    // The figures are judged with the realized P&L and net deposits of the trading day the
    // valuation that took them counted: over a weekend and on a morning before the day's first
    // valuation they are still the last session's, and on a market holiday (the valuation runs,
    // syncs the account against the broker's rolled close and writes no snapshot) they belong to
    // the last session too. An empty day's facts beside them would drop its realized loss.
    const syncedAt = account.lastSyncedAt ?? at;
    const around = await calendarAround(accountId, syncedAt);
    const calendar = around === "unavailable" ? null : around;
    const figuresDay = tradingDayOf(calendar, syncedAt);
    const facts = await loadLossLimitFacts(deps.db, accountId, figuresDay);
    let netDeposits = facts.netDepositsToday;
    let realizedPnl = facts.realizedPnlToday;
    let drawdownFacts = facts.drawdown;
    if (!facts.depositsAfterCloseToday.isZero()) {
      // Synced after the close, with transfers booked since it: in the equity, in no snapshot's
      // figures as the drawdown weighs them (as of the close).
      drawdownFacts = {
        ...facts.drawdown,
        recentEquities: facts.drawdown.recentEquities.map((e) =>
          e.plus(facts.depositsAfterCloseToday),
        ),
      };
    }
    if (calendar !== null && figuresDay.date !== newYorkDateOf(syncedAt)) {
      // Synced on a day without a session: the last equity is the trading day's own close, and
      // the transfers to take out are those since it, not the day's snapshot's. While the broker
      // cannot list them the snapshot's figure stands, as in the valuation.
      const since = previousCloseAt(calendar, figuresDay, null);
      const sinceClose = await transferredBetween(since, syncedAt);
      if (sinceClose !== null) {
        netDeposits = sinceClose;
        // They are in the equity but in none of the snapshots (the last is that close's): the
        // drawdown weighs each with them, as with the transfers of the days after it.
        drawdownFacts = {
          ...facts.drawdown,
          recentEquities: facts.drawdown.recentEquities.map((e) => e.plus(sinceClose)),
        };
      }
    }
    if (around === "unavailable") {
      // Without the calendar the figures may be a market holiday's, which belong to the last
      // session (whose realized loss the holiday's own date would drop): its realized P&L counts
      // too, the worse of the two. A refusal on a wrong guess can be forced with a reason.
      const earlier = await lastSnapshotDateBefore(deps.db, accountId, figuresDay.date);
      if (earlier !== null) {
        const day = tradingDayOf(null, new Date(newYorkLocalToEpochMs(earlier, "12:00")));
        const last = await loadLossLimitFacts(deps.db, accountId, day);
        realizedPnl = minDecimal(realizedPnl, last.realizedPnlToday);
      }
    }
    const { dailyLoss: evaluation, drawdown } = checkLossLimits(
      {
        equity: account.equity,
        lastEquity: account.lastEquity,
        realizedPnlToday: realizedPnl,
        netDepositsToday: netDeposits,
      },
      facts.limits,
      drawdownFacts,
    );
    return { evaluation, drawdown };
  }

  /** The account's synced figures, or null without any. */
  async function figuresOf(accountId: number): Promise<SyncedFigures | null> {
    const account = await findBrokerAccount(deps.db, accountId);
    if (!account || account.equity === null || account.lastEquity === null) return null;
    return {
      equity: account.equity,
      lastEquity: account.lastEquity,
      lastSyncedAt: account.lastSyncedAt,
    };
  }

  return async ({ accountId, reason }) => {
    let account = await figuresOf(accountId);
    if (account === null) return { allowed: true };
    const at = deps.now();
    let judged = await judge(accountId, account, at);
    // A valuation storing new figures while these were read would leave its day's transfers
    // beside the equity before them (a withdrawal since reading as the day's gain): judged again
    // on the new figures, a few times at most.
    for (let again = 0; again < 3; again++) {
      const latest = await figuresOf(accountId);
      if (latest === null || latest.lastSyncedAt?.getTime() === account.lastSyncedAt?.getTime())
        break;
      account = latest;
      judged = await judge(accountId, account, at);
    }
    const { evaluation, drawdown } = judged;
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
