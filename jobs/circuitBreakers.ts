/**
 * The circuit breakers beside the daily-loss switch, run after every exit fill: the drawdown from
 * the equity peak of the last days halts the account (AUTO, reset at the next session open like
 * the daily-loss halt); a loss streak moves it to REDUCING (AUTO) for the pause, and a delayed
 * pass lifts that pause when it ends, unless something else changed the state meanwhile.
 */
import { changeTradingState } from "../db/brokerAccounts";
import { listRecentEquities, listStopOutTimes } from "../db/circuitBreakerFacts";
import { loadKillSwitchSettings } from "../db/killSwitchSettings";
import { evaluateDrawdown, evaluateLossStreak } from "../domain/circuitBreakers";
import { tradingStateChangedNotice } from "../domain/notifications";
import type { TradingState } from "../domain/tradingState";
import type { JobDeps } from "./context";
import { createRecipientLookup, writeNotices } from "./notices";
import { withRaceRetry } from "./transactions";

const SOURCE = "system:circuit-breaker";
const PAUSE_PREFIX = "Loss streak: ";

export interface BreakerPass {
  readonly outcome: "off" | "clear" | "halted" | "paused" | "pause-lifted" | "unchanged";
  /** When a pause ends (epoch ms): the caller schedules the next pass then. */
  readonly pausedUntil: number | null;
}

/** Builds the breaker pass for one account. */
export function createCircuitBreakers(deps: JobDeps) {
  const recipients = createRecipientLookup(deps);

  /** Stores the state change and its TRADING_STATE_CHANGED notice in one transaction. */
  async function apply(
    accountId: number,
    decide: (current: TradingState) => TradingState,
  ): Promise<boolean> {
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
    return change?.changed === true;
  }

  return async function checkBreakers(accountId: number): Promise<BreakerPass> {
    const settings = await loadKillSwitchSettings(deps.db, accountId);
    const now = deps.now().getTime();
    if (settings.maxDrawdownPercent === null && settings.lossStreakCount === null) {
      return { outcome: "off", pausedUntil: null };
    }
    if (settings.maxDrawdownPercent !== null) {
      const equities = await listRecentEquities(deps.db, accountId, settings.drawdownDays);
      const [current] = equities;
      const verdict = current
        ? evaluateDrawdown(equities, current, settings)
        : ({ tripped: false } as const);
      if (verdict.tripped) {
        const message = verdict.message;
        const halted = await apply(accountId, (state) =>
          state.mode === "HALTED"
            ? state
            : { mode: "HALTED", setBy: "AUTO", reason: message, since: now },
        );
        return { outcome: halted ? "halted" : "unchanged", pausedUntil: null };
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
