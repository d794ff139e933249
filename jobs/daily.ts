/**
 * The `daily` processor, on the New York session (its schedules fire on weekdays; the broker's
 * calendar says whether the market actually trades that day):
 *
 * - `session-open`: automatic halts and reduce-only states set on an earlier day than this
 *   session's are lifted (to ACTIVE, or to the trader's own restriction they had overridden),
 *   each change with its TRADING_STATE_CHANGED notice in the same transaction; one set that
 *   morning before the open is for this day and stays, and nothing is lifted while the
 *   morning's figures are past the daily-loss or drawdown limit again (the valuation renews
 *   the halt). A trader's own state is kept.
 * - `end-of-day`: once the day's session has closed, the day's equity snapshot is written a last
 *   time and every recipient of the account gets one DAILY_SUMMARY (equity, the day's P&L less
 *   the day's net deposits the valuation found, realized and unrealized, trades closed, wins
 *   and losses, open positions).
 */
import type { Job } from "bullmq";
import { changeTradingState, findBrokerAccount, listBrokerAccounts } from "../db/brokerAccounts";
import { listEquitySnapshots, recordEquitySnapshot } from "../db/equitySnapshots";
import { loadLossLimitFacts } from "../db/lossLimitFacts";
import { listPositions } from "../db/positions";
import { summarizeClosedTrades } from "../db/valuation";
import {
  lastSessionOpen,
  newYorkDateOf,
  sessionOnDate,
  type TradingCalendar,
  tradingDayOf,
} from "../domain/calendar";
import { sumDecimals, ZERO } from "../domain/money";
import { tradingStateChangedNotice } from "../domain/notifications";
import { checkLossLimits, nextTradingState } from "../domain/tradingState";
import { dailyPnlOf } from "../domain/valuation";
import type { JobDeps } from "./context";
import { type CalendarCache, createCalendarCache } from "./marketCalendar";
import { createRecipientLookup, writeNotices } from "./notices";
import { type DailyPayload, dailyPayloadSchema } from "./queues";
import { withRaceRetry } from "./transactions";

export interface DailyProcessorOptions {
  readonly calendars?: CalendarCache;
}

/** What one account's daily step did. */
export type DailyAccountResult =
  | { readonly accountId: number; readonly outcome: "reset"; readonly to: string }
  | { readonly accountId: number; readonly outcome: "unchanged" }
  | { readonly accountId: number; readonly outcome: "summarized"; readonly tradingDate: string }
  | { readonly accountId: number; readonly outcome: "skipped"; readonly reason: string };

export interface DailyResult {
  readonly kind: DailyPayload["kind"];
  readonly accounts: readonly DailyAccountResult[];
}

/** Builds the `daily` processor. */
export function createDailyProcessor(deps: JobDeps, options: DailyProcessorOptions = {}) {
  const calendars = options.calendars ?? createCalendarCache({ logger: deps.logger });
  const recipients = createRecipientLookup(deps);

  async function calendarOf(accountId: number, at: Date): Promise<TradingCalendar> {
    return calendars.get(accountId, await deps.brokerFor(accountId), at);
  }

  /**
   * Whether this morning's valuation (before the open) found the day's loss past the limit, or
   * the equity beyond the drawdown limit.
   */
  async function breachedThisMorning(
    accountId: number,
    calendar: TradingCalendar,
    at: Date,
  ): Promise<boolean> {
    const account = await findBrokerAccount(deps.db, accountId);
    if (!account?.equity || !account.lastEquity || !account.lastSyncedAt) return false;
    const day = tradingDayOf(calendar, at);
    if (account.lastSyncedAt < day.from) return false;
    const facts = await loadLossLimitFacts(deps.db, accountId, day);
    return checkLossLimits(
      {
        equity: account.equity,
        lastEquity: account.lastEquity,
        realizedPnlToday: facts.realizedPnlToday,
        netDepositsToday: facts.netDepositsToday,
      },
      facts.limits,
      facts.drawdown,
    ).breached;
  }

  async function openSession(accountId: number, at: Date): Promise<DailyAccountResult> {
    const calendar = await calendarOf(accountId, at);
    const today = newYorkDateOf(at);
    if (sessionOnDate(calendar, today) === null || lastSessionOpen(calendar, at) === null) {
      return { accountId, outcome: "skipped", reason: "no session today" };
    }
    // Past a limit again this morning, the day before's halt is left for the valuation to
    // replace with the day's own (and its response): lifted here, trading would resume, and
    // be told so, until the next valuation halts again.
    if (await breachedThisMorning(accountId, calendar, at))
      return { accountId, outcome: "unchanged" };
    const lastSessionOpenAt = lastSessionOpen(calendar, at);
    const chats = await recipients(accountId);
    const change = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        const changed = await changeTradingState(
          tx,
          accountId,
          (current) =>
            nextTradingState(
              current,
              { level: "OK", message: "" },
              { now: at.getTime(), lastSessionOpenAt },
            ).state,
          "system:session-open",
          at,
        );
        if (!changed?.changed) return changed;
        await writeNotices(
          tx,
          chats,
          [tradingStateChangedNotice(accountId, changed.before, changed.after)],
          at,
        );
        return changed;
      }),
    );
    if (!change?.changed) return { accountId, outcome: "unchanged" };
    deps.logger.info(
      { accountId, from: change.before.mode, to: change.after.mode },
      "trading state reset at the session open",
    );
    return { accountId, outcome: "reset", to: change.after.mode };
  }

  async function summarizeDay(accountId: number, at: Date): Promise<DailyAccountResult> {
    const broker = await deps.brokerFor(accountId);
    const calendar = await calendarOf(accountId, at);
    // On a holiday the trading date would be the day before: that day was summarized already.
    const session = sessionOnDate(calendar, newYorkDateOf(at));
    if (session === null) {
      return { accountId, outcome: "skipped", reason: "no session today" };
    }
    // A run before the close (one held past midnight) would summarize a day not traded yet, and
    // its notice would stand in for that day's own summary.
    if (at.getTime() < session.closeAt) {
      return { accountId, outcome: "skipped", reason: "session not closed yet" };
    }
    const day = tradingDayOf(calendar, at);
    const account = await broker.getAccount();
    if (!account.ok) throw new Error(`broker account unavailable: ${account.message}`);
    const { equity, cash } = account.value;
    // The day's base is the previous close its valuations saw: a broker that rolls its last
    // equity at the close (the simulator does) reports the day's own close by now.
    const [recorded] = await listEquitySnapshots(deps.db, accountId, day.date, day.date);
    const lastEquity = recorded?.previousCloseEquity ?? account.value.lastEquity;
    const realized = await summarizeClosedTrades(deps.db, accountId, day.from, day.to);
    const positions = await listPositions(deps.db, accountId);
    const unrealized = sumDecimals(
      positions.flatMap((p) => (p.unrealizedPnl ? [p.unrealizedPnl] : [])),
    );
    const chats = await recipients(accountId);
    const written = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        await recordEquitySnapshot(tx, {
          accountId,
          tradingDay: day.date,
          equity,
          previousCloseEquity: lastEquity,
          cash,
          realizedPnl: realized.realizedPnl,
          unrealizedPnl: unrealized,
          openPositions: positions.length,
          takenAt: at,
        });
        return writeNotices(
          tx,
          chats,
          [
            {
              key: `summary-${accountId}-${day.date}`,
              notice: {
                kind: "DAILY_SUMMARY",
                accountId,
                tradingDate: day.date,
                equity: equity.toFixed(2),
                // Cash taken out or paid in during the day is no P&L.
                pnlToday: dailyPnlOf(equity, lastEquity)
                  .amount.minus(recorded?.netDeposits ?? ZERO)
                  .toFixed(2),
                realizedPnl: realized.realizedPnl.toFixed(2),
                unrealizedPnl: unrealized.toFixed(2),
                tradesClosed: realized.tradesClosed,
                wins: realized.wins,
                losses: realized.losses,
                openPositions: positions.length,
              },
            },
          ],
          at,
        );
      }),
    );
    if (written > 0) await deps.jobs.requestNotify("daily-summary");
    return { accountId, outcome: "summarized", tradingDate: day.date };
  }

  return async function processDaily(job: Pick<Job, "data">): Promise<DailyResult> {
    const payload = dailyPayloadSchema.parse(job.data);
    const at = deps.now();
    const accountIds =
      payload.accountId !== undefined
        ? [payload.accountId]
        : (await listBrokerAccounts(deps.db)).map((a) => a.id);
    const accounts: DailyAccountResult[] = [];
    for (const accountId of accountIds) {
      accounts.push(
        payload.kind === "session-open"
          ? await openSession(accountId, at)
          : await summarizeDay(accountId, at),
      );
    }
    return { kind: payload.kind, accounts };
  };
}
