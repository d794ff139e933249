/**
 * The circuit breakers beside the daily-loss switch. The drawdown from the equity peak of the last
 * days halts the account (AUTO, reset at the next session open like the daily-loss halt, and like
 * it not forced on an account a trader resumed by hand this session); it is checked on every
 * valuation (open positions losing value cross it) and after every exit fill. A loss streak moves
 * the account to REDUCING (AUTO) for the pause, checked after exit fills only (it counts closed
 * trades); a delayed pass lifts that pause when it ends, unless something else changed the state
 * meanwhile.
 */
import { changeTradingState } from "../db/brokerAccounts";
import { listRecentEquities, listStopOutTimes } from "../db/circuitBreakerFacts";
import { type KillSwitchSettings, loadKillSwitchSettings } from "../db/killSwitchSettings";
import { lastSessionOpen } from "../domain/calendar";
import { evaluateDrawdown, evaluateLossStreak } from "../domain/circuitBreakers";
import type { Decimal } from "../domain/money";
import { tradingStateChangedNotice } from "../domain/notifications";
import { nextTradingState, type TradingState } from "../domain/tradingState";
import type { JobDeps } from "./context";
import { type CalendarCache, createCalendarCache } from "./marketCalendar";
import { createRecipientLookup, writeNotices } from "./notices";
import { withRaceRetry } from "./transactions";

const SOURCE = "system:circuit-breaker";
const PAUSE_PREFIX = "Loss streak: ";

export interface BreakerPass {
  readonly outcome: "off" | "clear" | "halted" | "paused" | "pause-lifted" | "unchanged";
  /** When a pause ends (epoch ms): the caller schedules the next pass then. */
  readonly pausedUntil: number | null;
}

/**
 * What the drawdown breaker did: off (no limit set), clear (within it), halted (it halted the
 * account now), or unchanged (beyond it, but the account was already halted or a trader resumed
 * it by hand this session).
 */
export type DrawdownOutcome = "off" | "clear" | "halted" | "unchanged";

/** What the drawdown check is given. */
export interface DrawdownInput {
  /** Equity now; by default the latest daily snapshot's. */
  readonly equity?: Decimal;
  /**
   * With `equity`: the cash moved in or out since the latest snapshot, in `equity` but in no
   * snapshot yet (on a day without a session, the transfers since the last close).
   */
  readonly transfersSinceSnapshot?: Decimal;
  /** The latest session open at or before now (automatic halts from before it reset). */
  readonly lastSessionOpenAt: number | null;
  /** The account's settings, when the caller has them already. */
  readonly settings?: KillSwitchSettings;
}

/** Builds the breakers' state changes, each stored with its notice in one transaction. */
function createBreakerSwitch(deps: JobDeps) {
  const recipients = createRecipientLookup(deps);

  /** Stores the state change and its TRADING_STATE_CHANGED notice; null when nothing changed. */
  async function apply(
    accountId: number,
    decide: (current: TradingState) => TradingState,
  ): Promise<{ readonly before: TradingState; readonly after: TradingState } | null> {
    const at = deps.now();
    const chats = await recipients(accountId);
    let written = 0;
    const change = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        written = 0;
        const changed = await changeTradingState(tx, accountId, decide, SOURCE, at);
        if (!changed?.changed) return changed;
        written = await writeNotices(
          tx,
          chats,
          [tradingStateChangedNotice(accountId, changed.before, changed.after)],
          at,
        );
        return changed;
      }),
    );
    if (written > 0) await deps.jobs.requestNotify("circuit-breaker");
    return change?.changed ? change : null;
  }

  /**
   * The drawdown breaker: halts through the automatic rules of `nextTradingState`, so a trader's
   * resume this session stands and a trader's reduce-only comes back when the halt resets.
   */
  async function checkDrawdown(accountId: number, input: DrawdownInput): Promise<DrawdownOutcome> {
    const settings = input.settings ?? (await loadKillSwitchSettings(deps.db, accountId));
    if (settings.maxDrawdownPercent === null) return "off";
    const recent = await listRecentEquities(deps.db, accountId, settings.drawdownDays);
    const current = input.equity ?? recent[0];
    if (current === undefined) return "clear";
    // Each day is weighed with the transfers after it, these too (as the snapshots' own are).
    const since = input.equity === undefined ? undefined : input.transfersSinceSnapshot;
    const equities = since === undefined ? recent : recent.map((e) => e.plus(since));
    const verdict = evaluateDrawdown(equities, current, settings);
    if (!verdict.tripped) return "clear";
    const now = deps.now().getTime();
    const change = await apply(
      accountId,
      (state) =>
        nextTradingState(
          state,
          { level: "BREACHED", message: verdict.message },
          { now, lastSessionOpenAt: input.lastSessionOpenAt },
        ).state,
    );
    const halted = change !== null && change.after.mode === "HALTED";
    // A halt of an earlier session reset and a new one made in the same step is a new halt too.
    if (halted && (change.before.mode !== "HALTED" || change.before.since !== change.after.since)) {
      deps.logger.warn(
        { accountId, reason: change.after.reason },
        "account halted by the drawdown breaker",
      );
      return "halted";
    }
    return "unchanged";
  }

  return { apply, checkDrawdown };
}

/**
 * The drawdown breaker alone, for the value job: given the equity just valued, it halts the
 * account when the drawdown reaches the limit. Reads the settings (and, when the breaker is on,
 * the recent snapshots); writes only when the state changes.
 */
export function createDrawdownBreaker(
  deps: JobDeps,
): (accountId: number, input: DrawdownInput) => Promise<DrawdownOutcome> {
  return createBreakerSwitch(deps).checkDrawdown;
}

/** Builds the breaker pass for one account (after exit fills, and when a pause ends). */
export function createCircuitBreakers(
  deps: JobDeps,
  options: { readonly calendars?: CalendarCache } = {},
) {
  const { apply, checkDrawdown } = createBreakerSwitch(deps);
  const calendars = options.calendars ?? createCalendarCache({ logger: deps.logger });

  /** The latest session open, or null when the calendar cannot be had (no reset then). */
  async function lastSessionOpenOf(accountId: number, at: Date): Promise<number | null> {
    try {
      const calendar = await calendars.get(accountId, await deps.brokerFor(accountId), at);
      return lastSessionOpen(calendar, at);
    } catch (error) {
      deps.logger.warn({ accountId, err: error }, "trading calendar unavailable for the breakers");
      return null;
    }
  }

  return async function checkBreakers(accountId: number): Promise<BreakerPass> {
    const settings = await loadKillSwitchSettings(deps.db, accountId);
    const at = deps.now();
    const now = at.getTime();
    if (settings.maxDrawdownPercent === null && settings.lossStreakCount === null) {
      return { outcome: "off", pausedUntil: null };
    }
    if (settings.maxDrawdownPercent !== null) {
      const drawdown = await checkDrawdown(accountId, {
        settings,
        lastSessionOpenAt: await lastSessionOpenOf(accountId, at),
      });
      if (drawdown === "halted" || drawdown === "unchanged") {
        return { outcome: drawdown, pausedUntil: null };
      }
    }
    const windowMs = settings.lossStreakWindowMinutes * 60_000;
    const pauseMs = settings.lossStreakPauseMinutes * 60_000;
    const stopOuts =
      settings.lossStreakCount === null
        ? []
        : await listStopOutTimes(deps.db, accountId, new Date(now - windowMs - pauseMs));
    const streak = evaluateLossStreak(stopOuts, now, settings);
    if (streak.tripped) {
      const reason = `${PAUSE_PREFIX}${streak.message}`;
      const paused = await apply(accountId, (state) =>
        state.mode !== "ACTIVE" ? state : { mode: "REDUCING", setBy: "AUTO", reason, since: now },
      );
      return { outcome: paused ? "paused" : "unchanged", pausedUntil: streak.pausedUntil };
    }
    // The pause is over: lift it, but only the breaker's own pause.
    const lifted = await apply(accountId, (state) =>
      state.mode === "REDUCING" && state.setBy === "AUTO" && state.reason.startsWith(PAUSE_PREFIX)
        ? { mode: "ACTIVE", setBy: "AUTO", reason: "Loss-streak pause ended", since: now }
        : state,
    );
    return { outcome: lifted ? "pause-lifted" : "clear", pausedUntil: null };
  };
}
