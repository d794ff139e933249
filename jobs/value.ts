/**
 * The `value` processor: marks an account's positions to market and keeps its daily P&L.
 *
 * Quotes come with the job (streamed quotes, gathered by the caller) or are fetched through the
 * broker port; each is applied to an in-memory mark book (mark = mid of bid/ask, else the last
 * trade, else the side that exists), and only the marks that changed are written, in one
 * statement (with the time of the marks a newer quote confirmed at the same price). Then the
 * account's equity and last equity are recorded, the equity snapshot of the New York trading date
 * is rewritten (on a day with a session), and the daily-loss rule runs, on the equity change less
 * the day's deposits and withdrawals (the broker's cash activities, looked up once a minute and
 * again before a halt or the day's warning, or when the equity rose by more than the books' P&L
 * and the rest, were it a deposit, would hide a breach or the warning; likewise for the drawdown
 * breaker, which weighs the same figure): BREACHED halts the account (trading state and TRADING_STATE_CHANGED notice in one
 * transaction, then `onHalted`), WARNING tells the trader once per day. Then the drawdown
 * breaker (jobs/circuitBreakers.ts) weighs the new equity against the recent peak: open
 * positions losing value cross it too, not only exit fills. Both write only when the state changes, and queue nothing but the halt's response.
 *
 * The extended sessions are valued too (`EXTENDED_HOURS_VALUATION`, skipped off a trading day's
 * 04:00-20:00 New York and without positions): the broker triggers no stop then. A daily-loss
 * halt made while the regular market is closed tells the trader, in its reason, that stops do
 * not trigger and market orders (a flatten's) wait for the open.
 */
import type { Job } from "bullmq";
import { changeTradingState, loadTradingState, recordAccountSync } from "../db/brokerAccounts";
import { listRecentEquities } from "../db/circuitBreakerFacts";
import { listEquitySnapshots, recordEquitySnapshot } from "../db/equitySnapshots";
import { type KillSwitchSettings, loadKillSwitchSettings } from "../db/killSwitchSettings";
import { listPositions } from "../db/positions";
import { loadRiskLimits } from "../db/riskLimits";
import { recordMarks, summarizeClosedTrades } from "../db/valuation";
import type { Broker, BrokerAccount } from "../domain/broker";
import {
  isMarketOpen,
  lastSessionOpen,
  newYorkDateOf,
  newYorkLocalToEpochMs,
  nextSessionOpen,
  previousCloseAt,
  sessionOnDate,
  type TradingCalendar,
  type TradingDay,
  type TradingSession,
  tradingDayOf,
} from "../domain/calendar";
import { evaluateDrawdown } from "../domain/circuitBreakers";
import { type Decimal, dec, ZERO } from "../domain/money";
import { tradingStateChangedNotice } from "../domain/notifications";
import {
  type DailyLossEvaluation,
  evaluateDailyLoss,
  nextTradingState,
  type TradingStateClock,
} from "../domain/tradingState";
import { dailyPnlOf, MarkBook, netCashTransferred, type QuoteFigures } from "../domain/valuation";
import { createDrawdownBreaker, type DrawdownOutcome } from "./circuitBreakers";
import type { JobDeps } from "./context";
import { type CalendarCache, createCalendarCache } from "./marketCalendar";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import { type ValuePayload, valuePayloadSchema } from "./queues";
import { EXTENDED_HOURS_VALUATION } from "./schedules";
import { withRaceRetry } from "./transactions";

export { EXTENDED_HOURS_VALUATION };

const SOURCE = "system:daily-loss";

const newYorkTimeFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York",
  hourCycle: "h23",
  hour: "2-digit",
  minute: "2-digit",
});

/**
 * What a halt made while the regular market is closed adds for the trader: the broker does not
 * trigger stops outside regular hours and holds market orders (a flatten's) until the open, so
 * the positions stay exposed until then unless closed with extended-hours limit orders.
 */
function outsideRegularHoursNote(nextOpenAt: number | null): string {
  const open =
    nextOpenAt === null
      ? "the next open"
      : `the open at ${newYorkTimeFormat.format(nextOpenAt)} New York on ${newYorkDateOf(nextOpenAt)}`;
  return ` Outside regular hours: stops do not trigger and market orders, a flatten's too, wait for ${open}; only extended-hours limit orders trade before then.`;
}
/** How long the day's cash transfers found at the broker stand before they are looked up again. */
const DEPOSITS_LOOKED_UP_EVERY_MS = 60_000;

/**
 * What a valuation saw beside the net deposits it found: the broker's equity and the P&L the
 * books explain (the marked positions' unrealized P&L plus the day's realized P&L).
 */
interface DepositsBasis {
  readonly equity: Decimal;
  readonly marked: Decimal;
}

/**
 * How much more the equity rose since `basis` than the books' P&L did: what a deposit booked
 * since could be (zero or more). Trading moves both alike; a deposit moves only the equity.
 */
function unexplainedRise(basis: DepositsBasis, now: DepositsBasis): Decimal {
  const rise = now.equity.minus(basis.equity).minus(now.marked.minus(basis.marked));
  return rise.gt(ZERO) ? rise : ZERO;
}

/**
 * Without the calendar, about when the previous close was: 16:00 New York on the weekday before
 * `date`. A session closes no later, so no transfer the broker's last equity already holds is
 * counted again, while the evening's and the night's are (midnight would leave them out, and a
 * withdrawal made the evening before would read as the day's loss).
 */
function weekdayCloseBefore(date: string): Date {
  let day = date;
  do {
    day = newYorkDateOf(newYorkLocalToEpochMs(day, "12:00") - 24 * 3_600_000);
  } while ([0, 6].includes(new Date(`${day}T12:00:00Z`).getUTCDay()));
  return new Date(newYorkLocalToEpochMs(day, "16:00"));
}

/** What the daily-loss hook is given. */
export interface DailyLossContext {
  readonly accountId: number;
  readonly evaluation: DailyLossEvaluation;
  readonly tradingDay: TradingDay;
  /** The latest session open at or before now (automatic halts from before it reset). */
  readonly lastSessionOpenAt: number | null;
  readonly at: Date;
}

/** Which rule of the value job halted an account. */
export type HaltCause = "daily-loss" | "drawdown";

export interface ValueProcessorOptions {
  readonly calendars?: CalendarCache;
  /**
   * Called after the account was halted by the daily-loss rule or the drawdown breaker (the state
   * change and its notice are committed). The place to cancel working entries; by default it
   * does nothing.
   */
  readonly onHalted?: (accountId: number, cause: HaltCause) => Promise<void>;
  /** Replaces the daily-loss rule (default `applyDailyLossRule`): the kill switch plugs in here. */
  readonly dailyLoss?: (context: DailyLossContext) => Promise<void>;
}

/** An extended-hours valuation that did not run: no positions, or outside those sessions. */
export interface ValueSkipped {
  readonly accountId: number;
  readonly skipped: "NO_POSITIONS" | "OUTSIDE_EXTENDED_HOURS";
}

/** What a valuation did (the job's return value). */
export interface ValueResult {
  readonly accountId: number;
  readonly positions: number;
  /** Marks written (changed since the last valuation). */
  readonly marked: number;
  readonly unmarked: number;
  readonly equity: string;
  readonly pnlToday: string;
  readonly dailyLossLevel: DailyLossEvaluation["level"];
  /** What the drawdown breaker did with the new equity. */
  readonly drawdown: DrawdownOutcome;
}

function quoteOf(q: NonNullable<ValuePayload["quotes"]>[number]): QuoteFigures {
  return {
    bid: q.bid === null ? null : dec(q.bid),
    ask: q.ask === null ? null : dec(q.ask),
    last: q.last === null ? null : dec(q.last),
  };
}

/** Builds the `value` processor. */
export function createValueProcessor(deps: JobDeps, options: ValueProcessorOptions = {}) {
  const calendars = options.calendars ?? createCalendarCache({ logger: deps.logger });
  const recipients = createRecipientLookup(deps);
  const onHalted = options.onHalted ?? (async () => {});
  const checkDrawdown = createDrawdownBreaker(deps);

  /**
   * The daily-loss rule: the automatic transitions of `nextTradingState` (BREACHED halts; an
   * automatic halt from an earlier session resets), stored with a TRADING_STATE_CHANGED notice in
   * one transaction; a WARNING told once per account and trading date.
   */
  async function applyDailyLossRule(context: DailyLossContext): Promise<void> {
    const { accountId, evaluation, at } = context;
    const chats = await recipients(accountId);
    let written = 0;
    const change = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        const changed = await changeTradingState(
          tx,
          accountId,
          (current) =>
            nextTradingState(current, evaluation, {
              now: at.getTime(),
              lastSessionOpenAt: context.lastSessionOpenAt,
              // A resume of an earlier trading date stands not in a new one's pre-market.
              tradingDate: context.tradingDay.date,
            }).state,
          SOURCE,
          at,
        );
        if (!changed?.changed) return changed;
        const halted = changed.after.mode === "HALTED";
        written += await writeNotices(
          tx,
          chats,
          [
            tradingStateChangedNotice(
              accountId,
              changed.before,
              changed.after,
              halted
                ? {
                    pnlToday: evaluation.pnlToday.toFixed(2),
                    lossLimit: evaluation.limitAmount.toFixed(2),
                  }
                : null,
            ),
          ],
          at,
        );
        return changed;
      }),
    );
    if (evaluation.level === "WARNING" && change?.after.mode !== "HALTED") {
      const warning: PendingNotice = {
        key: `daily-loss-warning-${accountId}-${context.tradingDay.date}`,
        notice: {
          kind: "DAILY_LOSS_WARNING",
          accountId,
          pnlToday: evaluation.pnlToday.toFixed(2),
          lossLimit: evaluation.limitAmount.toFixed(2),
          remaining: evaluation.remainingAmount.toFixed(2),
        },
      };
      written += await writeNotices(deps.db, chats, [warning], at);
    }
    if (written > 0) await deps.jobs.requestNotify("daily-loss");
    // A halt of an earlier session reset and a new one made in the same step is a new halt too.
    const newHalt =
      change?.changed &&
      change.after.mode === "HALTED" &&
      (change.before.mode !== "HALTED" || change.before.since !== change.after.since);
    if (newHalt) {
      deps.logger.warn(
        { accountId, reason: change.after.reason },
        "account halted by the daily-loss rule",
      );
      await onHalted(accountId, "daily-loss");
    }
  }
  const dailyLoss = options.dailyLoss ?? applyDailyLossRule;

  /**
   * Latest quotes for symbols, with the broker position's last trade for any without both sides
   * quoted (a one-sided quote marks at the last trade, its side only when there is none).
   */
  async function fetchQuotes(
    broker: Broker,
    symbols: readonly string[],
    at: Date,
  ): Promise<{ symbol: string; figures: QuoteFigures; at: number }[]> {
    if (symbols.length === 0) return [];
    const quotes: { symbol: string; figures: QuoteFigures; at: number }[] = [];
    const latest = await broker.getLatestQuotes(symbols);
    if (!latest.ok)
      deps.logger.warn({ code: latest.code }, `latest quotes unavailable: ${latest.message}`);
    const withoutMid = new Map<string, { figures: QuoteFigures; at: number } | null>();
    for (const symbol of symbols) {
      const q = latest.ok ? latest.value.get(symbol) : undefined;
      const bid = q?.bidPrice?.gt(0) ? q.bidPrice : null;
      const ask = q?.askPrice?.gt(0) ? q.askPrice : null;
      const figures = { bid, ask, last: null };
      if (q && bid && ask) quotes.push({ symbol, figures, at: q.timestamp.getTime() });
      else
        withoutMid.set(symbol, q && (bid || ask) ? { figures, at: q.timestamp.getTime() } : null);
    }
    if (withoutMid.size > 0) {
      // The broker's position carries the last trade price.
      const held = await broker.listPositions();
      const lastOf = new Map(
        held.ok
          ? held.value.flatMap((p) => (p.currentPrice ? [[p.symbol, p.currentPrice]] : []))
          : [],
      );
      for (const [symbol, quoted] of withoutMid) {
        const last = lastOf.get(symbol) ?? null;
        if (last !== null) {
          quotes.push({
            symbol,
            figures: { bid: quoted?.figures.bid ?? null, ask: quoted?.figures.ask ?? null, last },
            at: at.getTime(),
          });
        } else if (quoted) quotes.push({ symbol, ...quoted });
      }
    }
    return quotes;
  }

  /**
   * Whether `at` is outside the extended sessions of a trading day (04:00 to 20:00 New York on
   * a date with a session; the regular hours inside are the session schedule's). 20:00 also on
   * an early close's day, whose after-hours end earlier at Alpaca: a few valuations more cost
   * little, one missing could let a loss through. Without the calendar, or past its end, the
   * account is valued: no loss check is dropped on a guess.
   */
  async function outsideExtendedHours(accountId: number, broker: Broker, at: Date) {
    let calendar: TradingCalendar;
    try {
      calendar = await calendars.get(accountId, broker, at);
    } catch {
      return false; // recordDay logs it
    }
    const t = at.getTime();
    if (calendar.coversUntil === null || t >= calendar.coversUntil) return false;
    const session = sessionOnDate(calendar, newYorkDateOf(at));
    if (session === null) return true;
    return (
      t < newYorkLocalToEpochMs(session.date, "04:00") ||
      t >= newYorkLocalToEpochMs(session.date, "20:00")
    );
  }

  async function valueAccount(
    payload: ValuePayload,
    extendedHours: boolean,
  ): Promise<ValueResult | ValueSkipped> {
    const accountId = payload.accountId;
    const broker = await deps.brokerFor(accountId);
    const at = deps.now();
    const positions = await listPositions(deps.db, accountId);
    if (extendedHours) {
      if (positions.length === 0) return { accountId, skipped: "NO_POSITIONS" };
      if (await outsideExtendedHours(accountId, broker, at)) {
        return { accountId, skipped: "OUTSIDE_EXTENDED_HOURS" };
      }
    }

    // The book starts from the stored marks, so an unchanged mark is not counted as a new one
    // and an older quote does not replace a newer one.
    const book = new MarkBook();
    for (const p of positions) {
      book.upsert(
        p.position.symbol,
        p.position,
        p.markPrice ? { price: p.markPrice, source: "last" } : null,
        p.markedAt?.getTime() ?? null,
      );
    }
    book.takeChanged();
    const quotes = payload.quotes
      ? payload.quotes.map((q) => ({ symbol: q.symbol, figures: quoteOf(q), at: Date.parse(q.at) }))
      : await fetchQuotes(broker, book.symbols(), at);
    for (const q of quotes) book.applyQuote(q.symbol, q.figures, q.at);
    const changed = book.takeChanged();
    const changedSymbols = new Set(changed.map((c) => c.position.symbol));
    // A quote at the stored price is no new mark, but its time is written with the changed ones
    // (same statement): /positions shows the mark as of the latest quote, not of the last move.
    const confirmed = positions.flatMap((p) => {
      const held = changedSymbols.has(p.position.symbol) ? null : book.get(p.position.symbol);
      return held !== null &&
        held.markedAt !== null &&
        held.markedAt > (p.markedAt?.getTime() ?? -1)
        ? [held]
        : [];
    });
    const written = (
      await recordMarks(
        deps.db,
        accountId,
        [...changed, ...confirmed].flatMap((c) =>
          c.mark && c.markedAt !== null
            ? [{ symbol: c.position.symbol, markPrice: c.mark.price, at: new Date(c.markedAt) }]
            : [],
        ),
      )
    ).filter((symbol) => changedSymbols.has(symbol));

    const account = await broker.getAccount();
    if (!account.ok) throw new Error(`broker account unavailable: ${account.message}`);
    return recordDay(accountId, broker, account.value, book, positions.length, written.length, at);
  }

  /**
   * The previous close the day's P&L is measured from: the broker's last equity, except past the
   * session's close, where a broker that rolls it at the close (the simulator does) already
   * reports the day's own close; the day's base then stays the one its valuations recorded.
   */
  async function previousCloseOf(
    accountId: number,
    account: BrokerAccount,
    session: TradingSession | null,
    at: Date,
  ): Promise<Decimal> {
    if (session === null || at.getTime() < session.closeAt) return account.lastEquity;
    const [recorded] = await listEquitySnapshots(deps.db, accountId, session.date, session.date);
    return recorded?.previousCloseEquity ?? account.lastEquity;
  }

  /**
   * The net deposits each account was last found to have since a previous close (its instant),
   * the part of them booked after the trading day's own close (`afterClose`, zero before it),
   * when they were looked up, and the figures of the valuation that found them (`basis`).
   */
  const depositsSeen = new Map<
    number,
    { since: number; amount: Decimal; afterClose: Decimal; at: number; basis: DepositsBasis }
  >();
  /** The trading date each account's warning was last evaluated on, net deposits looked up. */
  const warnedOn = new Map<number, string>();

  /**
   * Cash moved into the account since `since`, the previous close the day's P&L is measured
   * from, other than by trading (deposits less withdrawals): a transfer booked that evening or
   * over the weekend is in today's equity but not in that close's. Looked up at the broker at
   * most once a minute per account, or now when `fresh`; in between, and when the broker cannot
   * say, the last figure found (this process's, else the day's snapshot's) stands. `fresh` in
   * the answer says it was looked up just now; `basis` is the figure found's (the valuation's own
   * when looked up now). `afterClose` is the part booked after `closeAt`, the trading day's own
   * close when the valuation is past it (else null: none).
   */
  async function netDepositsOf(
    accountId: number,
    broker: Broker,
    day: TradingDay,
    since: Date,
    closeAt: number | null,
    at: Date,
    fresh: boolean,
    current: DepositsBasis,
  ): Promise<{
    readonly amount: Decimal;
    readonly afterClose: Decimal;
    readonly fresh: boolean;
    readonly basis: DepositsBasis;
  }> {
    const seen = depositsSeen.get(accountId);
    const known = seen?.since === since.getTime() ? seen : undefined;
    if (
      known &&
      !fresh &&
      at.getTime() - known.at < DEPOSITS_LOOKED_UP_EVERY_MS &&
      (closeAt === null || known.at > closeAt)
    ) {
      return {
        amount: known.amount,
        afterClose: closeAt === null ? ZERO : known.afterClose,
        fresh: false,
        basis: known.basis,
      };
    }
    const transfers = await broker.listCashTransfers(since);
    const remember = (amount: Decimal, afterClose: Decimal, basis: DepositsBasis) =>
      depositsSeen.set(accountId, {
        since: since.getTime(),
        amount,
        afterClose,
        at: at.getTime(),
        basis,
      });
    if (transfers.ok) {
      const amount = netCashTransferred(transfers.value, since.getTime(), Number.POSITIVE_INFINITY);
      const afterClose =
        closeAt === null
          ? ZERO
          : netCashTransferred(transfers.value, closeAt, Number.POSITIVE_INFINITY);
      remember(amount, afterClose, current);
      return { amount, afterClose, fresh: true, basis: current };
    }
    deps.logger.warn(
      { accountId, code: transfers.code },
      `cash transfers unavailable: ${transfers.message}`,
    );
    let amount = known?.amount;
    let afterClose = known?.afterClose;
    if (amount === undefined || afterClose === undefined) {
      const [stored] = await listEquitySnapshots(deps.db, accountId, day.date, day.date);
      amount = stored?.netDeposits ?? ZERO;
      afterClose = stored?.depositsAfterClose ?? ZERO;
    }
    if (closeAt === null) afterClose = ZERO;
    // Asked again a minute later, not at every valuation of a broker that keeps refusing. The
    // figure still stands for the valuation it was found at: a rise since is still unexplained.
    const basis = known?.basis ?? current;
    remember(amount, afterClose, basis);
    return { amount, afterClose, fresh: false, basis };
  }

  /** Whether a rule's verdict (daily loss, or drawdown as BREACHED) would halt the account now. */
  async function wouldHalt(
    accountId: number,
    evaluation: Pick<DailyLossEvaluation, "level" | "message">,
    clock: TradingStateClock,
  ): Promise<boolean> {
    const current = await loadTradingState(deps.db, accountId);
    if (current === null) return false;
    const step = nextTradingState(current, evaluation, clock);
    // A new day's halt replacing the day before's is a new halt too (and flattens again).
    return step.changed && step.state.mode === "HALTED";
  }

  /**
   * Whether the drawdown check after this valuation trips, given the day's net deposits it
   * stores; null while the breaker is off. It weighs the equity against the recent snapshots
   * with the transfers since each: today's among them, whose snapshot this valuation rewrites
   * (`writesSnapshot`; else no snapshot holds them and all days are weighed with them).
   */
  async function drawdownTripsAt(
    accountId: number,
    settings: KillSwitchSettings,
    day: string,
    equity: Decimal,
    writesSnapshot: boolean,
  ): Promise<((netDeposits: Decimal) => boolean) | null> {
    if (settings.maxDrawdownPercent === null) return null;
    const recent = await listRecentEquities(deps.db, accountId, settings.drawdownDays);
    let older = recent;
    if (writesSnapshot) {
      // The days before today, without today's stored transfers (those to its close, as the
      // days are weighed): today's row is to be replaced.
      const [stored] = await listEquitySnapshots(deps.db, accountId, day, day);
      older = stored
        ? recent.slice(1).map((e) => e.minus(stored.netDeposits.minus(stored.depositsAfterClose)))
        : recent.slice(0, Math.max(1, settings.drawdownDays) - 1);
    }
    return (netDeposits) => {
      const weighed = older.map((e) => e.plus(netDeposits));
      return evaluateDrawdown(writesSnapshot ? [equity, ...weighed] : weighed, equity, settings)
        .tripped;
    };
  }

  async function recordDay(
    accountId: number,
    broker: Broker,
    account: BrokerAccount,
    book: MarkBook,
    positionCount: number,
    marked: number,
    at: Date,
  ): Promise<ValueResult> {
    let calendar: TradingCalendar | null = null;
    try {
      calendar = await calendars.get(accountId, broker, at);
    } catch (error) {
      deps.logger.warn(
        { accountId, err: error },
        "trading calendar unavailable; using the New York date",
      );
    }
    const tradingDay = tradingDayOf(calendar, at);
    const session = calendar ? sessionOnDate(calendar, newYorkDateOf(at)) : null;
    const lastEquity = await previousCloseOf(accountId, account, session, at);
    const realized = await summarizeClosedTrades(
      deps.db,
      accountId,
      tradingDay.from,
      tradingDay.to,
    );
    const totals = book.totals();
    const limits = await loadRiskLimits(deps.db, accountId);
    const breakers = await loadKillSwitchSettings(deps.db, accountId);
    const lastSessionOpenAt = calendar ? lastSessionOpen(calendar, at) : null;
    const evaluate = (netDepositsToday: Decimal) =>
      evaluateDailyLoss(
        {
          lastEquity,
          equity: account.equity,
          // Trades opened on earlier days lost part of their P&L in earlier days' equity.
          realizedPnlToday: realized.openedInPeriodPnl,
          netDepositsToday,
        },
        limits,
      );
    const since =
      calendar === null
        ? weekdayCloseBefore(tradingDay.date)
        : previousCloseAt(calendar, tradingDay, session);
    const current: DepositsBasis = {
      equity: account.equity,
      marked: totals.unrealizedPnl.plus(realized.realizedPnl),
    };
    // Past the day's close, the transfers since it are told apart: the day's snapshot holds them
    // in its equity, and so will the next day's net deposits, counted from that close.
    const closeAt = session !== null && at.getTime() > session.closeAt ? session.closeAt : null;
    let deposits = await netDepositsOf(
      accountId,
      broker,
      tradingDay,
      since,
      closeAt,
      at,
      false,
      current,
    );
    let evaluation = evaluate(deposits.amount);
    const actsOn = async (e: DailyLossEvaluation) =>
      e.level === "BREACHED"
        ? wouldHalt(accountId, e, {
            now: at.getTime(),
            lastSessionOpenAt,
            tradingDate: tradingDay.date,
          })
        : e.level === "WARNING" && warnedOn.get(accountId) !== tradingDay.date;
    // A halt flattens with flattenOnHalt, and the day's one warning stands for the day: neither
    // is made on a figure of the day's transfers that a withdrawal since could have made stale.
    // Nor is a loss let go on one a deposit since could have made stale: a deposit is in the
    // equity at once, so a rise the books' P&L does not explain may be one, and when it would
    // hide a breach (the account halted or not: /resume reads the day's figure stored here) or
    // the day's warning, the transfers are looked up now. A rise the marks explain (or a
    // deposit too small to matter) costs no look-up.
    const rise = unexplainedRise(deposits.basis, current);
    const hides = (e: DailyLossEvaluation) =>
      (e.level === "BREACHED" && evaluation.level !== "BREACHED") ||
      (e.level === "WARNING" &&
        evaluation.level === "OK" &&
        warnedOn.get(accountId) !== tradingDay.date);
    // The drawdown check weighs the same figure (today's snapshot holds it), and halts, with
    // flattenOnHalt flattens, on it alike: a withdrawal since reads as a drawdown, a deposit
    // since hides one. Weighed only when the daily-loss rule asks for no look-up; a look-up
    // only when the check would halt on the figure, or on the figure with the rise a deposit.
    let drawdownTrips: Promise<((netDeposits: Decimal) => boolean) | null> | undefined;
    const drawdownTripsOnce = () => {
      drawdownTrips ??= drawdownTripsAt(
        accountId,
        breakers,
        tradingDay.date,
        account.equity,
        calendar === null || session !== null,
      );
      return drawdownTrips;
    };
    const drawdownActs = async () => {
      const trips = await drawdownTripsOnce();
      if (trips === null) return false;
      if (trips(deposits.amount)) {
        return wouldHalt(
          accountId,
          { level: "BREACHED", message: "drawdown" },
          { now: at.getTime(), lastSessionOpenAt, tradingDate: tradingDay.date },
        );
      }
      return rise.gt(ZERO) && trips(deposits.amount.plus(rise));
    };
    if (
      !deposits.fresh &&
      ((rise.gt(ZERO) && hides(evaluate(deposits.amount.plus(rise)))) ||
        (await actsOn(evaluation)) ||
        (await drawdownActs()))
    ) {
      const before = deposits.amount;
      deposits = await netDepositsOf(
        accountId,
        broker,
        tradingDay,
        since,
        closeAt,
        at,
        true,
        current,
      );
      evaluation = evaluate(deposits.amount);
      // What the transfers found since do not account for may be shares moved in (stock
      // journals and ACATS are no cash activities) or a position the books do not mark: the
      // operator is told when it could hide a breach or the warning; nothing is halted on it.
      const left = rise.minus(deposits.amount.minus(before));
      if (deposits.fresh && left.gt(ZERO) && hides(evaluate(deposits.amount.plus(left)))) {
        deps.logger.warn(
          { accountId, unexplainedRise: left.toFixed(2), pnlToday: evaluation.pnlToday.toFixed(2) },
          "equity rose beyond the books' P&L and the day's cash transfers: a loss may be hidden",
        );
      } else if (deposits.fresh && left.gt(ZERO)) {
        // The drawdown breaker weighs the same figure: were the rest a deposit, it would trip.
        const trips = await drawdownTripsOnce();
        if (trips !== null && !trips(deposits.amount) && trips(deposits.amount.plus(left))) {
          deps.logger.warn(
            {
              accountId,
              unexplainedRise: left.toFixed(2),
              pnlToday: evaluation.pnlToday.toFixed(2),
            },
            "equity rose beyond the books' P&L and the day's cash transfers: a drawdown may be hidden",
          );
        }
      }
      if (!deposits.fresh && rise.gt(ZERO)) {
        // The last figure found stands (no halt on a guess), and it is asked again next time.
        deps.logger.warn(
          { accountId, unexplainedRise: rise.toFixed(2), pnlToday: evaluation.pnlToday.toFixed(2) },
          "equity rose beyond the books' P&L and the day's transfers could not be looked up",
        );
      }
    }
    if (evaluation.level === "WARNING") warnedOn.set(accountId, tradingDay.date);
    // A halt outside regular hours cannot be carried out at once: the trader is told so with it.
    const halting =
      evaluation.level === "BREACHED" && calendar !== null && !isMarketOpen(calendar, at)
        ? {
            ...evaluation,
            message: `${evaluation.message}${outsideRegularHoursNote(nextSessionOpen(calendar, at))}`,
          }
        : evaluation;
    // The account's figures and the day's net deposits are stored together, after the look-up:
    // /resume reads them side by side, and the new equity beside the transfers found before it
    // would read a deposit since as the day's gain. A valuation finishing after a newer one of
    // the same day stores neither: the day's snapshot keeps the newer (its row lock orders the
    // two), and its older equity beside the newer one's transfers would mislead the same way.
    const netDeposits = deposits.amount;
    const noSession = calendar !== null && session === null;
    const superseded = await deps.db.transaction(async (tx) => {
      // On a day without a session (weekend, holiday) the last trading day's snapshot stands as
      // it closed: nothing traded since, and the broker's previous close has become that day's own.
      if (calendar === null || session !== null) {
        const held = await recordEquitySnapshot(tx, {
          accountId,
          tradingDay: tradingDay.date,
          equity: account.equity,
          previousCloseEquity: lastEquity,
          cash: account.cash,
          netDeposits,
          depositsAfterClose: deposits.afterClose,
          realizedPnl: realized.realizedPnl,
          unrealizedPnl: totals.unrealizedPnl,
          openPositions: positionCount,
          takenAt: at,
        });
        if (held.takenAt.getTime() > at.getTime()) return true;
      }
      await recordAccountSync(
        tx,
        accountId,
        {
          equity: account.equity,
          lastEquity,
          cash: account.cash,
          buyingPower: account.buyingPower,
        },
        at,
      );
      return false;
    });
    await dailyLoss({ accountId, evaluation: halting, tradingDay, lastSessionOpenAt, at });
    // After the daily-loss rule, so an automatic halt from an earlier session has been reset.
    // A valuation a newer one of the day superseded weighs nothing: the day's snapshot holds the
    // newer one's transfers, which its older equity may not include. The snapshots are weighed as
    // of the last close: the transfers since it come with the equity (on a day without a session
    // all the day's, else those the day's snapshot holds as booked after its close).
    const sinceClose = noSession ? netDeposits : deposits.afterClose;
    const drawdown = superseded
      ? "unchanged"
      : await checkDrawdown(accountId, {
          equity: account.equity,
          ...(sinceClose.isZero() ? {} : { transfersSinceSnapshot: sinceClose }),
          lastSessionOpenAt,
          settings: breakers,
        });
    if (drawdown === "halted") await onHalted(accountId, "drawdown");
    const pnl = dailyPnlOf(account.equity, lastEquity).amount;
    return {
      accountId,
      positions: positionCount,
      marked,
      unmarked: totals.unmarked,
      equity: account.equity.toFixed(),
      pnlToday: pnl.toFixed(),
      dailyLossLevel: evaluation.level,
      drawdown,
    };
  }

  /**
   * The processor. A job named `EXTENDED_HOURS_VALUATION` may be skipped (`ValueSkipped`); any
   * other valuation runs.
   */
  function processValue(job: Pick<Job, "data" | "name">): Promise<ValueResult | ValueSkipped>;
  function processValue(job: Pick<Job, "data">): Promise<ValueResult>;
  async function processValue(
    job: Pick<Job, "data"> & { readonly name?: string },
  ): Promise<ValueResult | ValueSkipped> {
    return valueAccount(valuePayloadSchema.parse(job.data), job.name === EXTENDED_HOURS_VALUATION);
  }
  return processValue;
}

/** One streamed quote, decimals as strings (as the value payload carries them). */
export type StreamedQuote = NonNullable<ValuePayload["quotes"]>[number];

/**
 * Coalesces streamed quotes into valuation jobs: per account, only the latest quote of each
 * symbol is kept, and one `value` job carries them all every `flushEveryMs`. However fast quotes
 * arrive, the database sees one batched write per account per interval, never one per quote. A
 * flush that cannot reach the queue drops its interval's quotes: the next ones supersede them.
 */
export interface QuoteBatcher {
  /** Keeps the quote if it is the newest seen for its symbol since the last flush. */
  push(accountId: number, quote: StreamedQuote): void;
  /** Sends what was gathered now; returns the number of jobs enqueued. */
  flush(): Promise<number>;
  /** Flushes every `flushEveryMs` until `stop()`. */
  start(): void;
  /** Stops the timer and flushes what is left. */
  stop(): Promise<void>;
}

export function createQuoteBatcher(
  jobs: Pick<JobDeps["jobs"], "requestValuation">,
  options: { readonly flushEveryMs?: number; readonly logger?: JobDeps["logger"] } = {},
): QuoteBatcher {
  const flushEveryMs = options.flushEveryMs ?? 1_000;
  let pending = new Map<number, Map<string, StreamedQuote>>();
  let timer: ReturnType<typeof setInterval> | null = null;

  async function flush(): Promise<number> {
    const batch = pending;
    pending = new Map();
    let sent = 0;
    for (const [accountId, quotes] of batch) {
      await jobs.requestValuation(accountId, [...quotes.values()]);
      sent += 1;
    }
    return sent;
  }

  return {
    push(accountId, quote) {
      let quotes = pending.get(accountId);
      if (quotes === undefined) {
        quotes = new Map();
        pending.set(accountId, quotes);
      }
      const held = quotes.get(quote.symbol);
      if (held === undefined || Date.parse(held.at) <= Date.parse(quote.at)) {
        quotes.set(quote.symbol, quote);
      }
    },
    flush,
    start() {
      timer ??= setInterval(() => {
        flush().catch((error: unknown) =>
          options.logger?.warn({ err: error }, "streamed quotes could not be queued"),
        );
      }, flushEveryMs);
    },
    async stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      await flush();
    },
  };
}
