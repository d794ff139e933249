/**
 * Circuit breakers beside the daily-loss switch, both off by default: a drawdown from the equity
 * peak over several days, and a loss-streak cooldown (too many stop-outs in a short window pause
 * new entries for a while).
 */
import type { Decimal } from "./money";

/** The breaker settings of an account; null turns a breaker off. */
export interface CircuitBreakerSettings {
  /** Halt when equity is this percent or more below its peak of the last `drawdownDays` days. */
  readonly maxDrawdownPercent: Decimal | null;
  readonly drawdownDays: number;
  /** Pause entries after this many stop-outs within `lossStreakWindowMinutes`. */
  readonly lossStreakCount: number | null;
  readonly lossStreakWindowMinutes: number;
  readonly lossStreakPauseMinutes: number;
}

export const DEFAULT_CIRCUIT_BREAKERS: CircuitBreakerSettings = {
  maxDrawdownPercent: null,
  drawdownDays: 5,
  lossStreakCount: null,
  lossStreakWindowMinutes: 60,
  lossStreakPauseMinutes: 30,
};

export type BreakerVerdict =
  | { readonly tripped: false }
  | {
      readonly tripped: true;
      readonly code: "MAX_DRAWDOWN" | "LOSS_STREAK";
      readonly message: string;
    };

/**
 * The drawdown breaker: equity against the highest equity of the recent snapshots (the caller
 * passes the last `drawdownDays` trading days' equities, current equity included).
 */
export function evaluateDrawdown(
  equities: readonly Decimal[],
  current: Decimal,
  settings: Pick<CircuitBreakerSettings, "maxDrawdownPercent">,
): BreakerVerdict {
  const limit = settings.maxDrawdownPercent;
  if (limit === null || limit.lte(0)) return { tripped: false };
  let peak = current;
  for (const e of equities) if (e.gt(peak)) peak = e;
  if (peak.lte(0)) return { tripped: false };
  const drawdown = peak.minus(current).div(peak).times(100);
  if (drawdown.lt(limit)) return { tripped: false };
  return {
    tripped: true,
    code: "MAX_DRAWDOWN",
    message: `Drawdown ${drawdown.toFixed(2)}% from the peak ${peak.toFixed(2)} reached the ${limit.toFixed()}% limit`,
  };
}

/**
 * The loss-streak breaker: `stopOutTimes` are the close times (epoch ms) of the account's
 * STOPPED_OUT trades. Tripped while the latest streak's pause lasts; `pausedUntil` says until when.
 */
export function evaluateLossStreak(
  stopOutTimes: readonly number[],
  now: number,
  settings: Pick<
    CircuitBreakerSettings,
    "lossStreakCount" | "lossStreakWindowMinutes" | "lossStreakPauseMinutes"
  >,
): BreakerVerdict & { readonly pausedUntil: number | null } {
  const count = settings.lossStreakCount;
  if (count === null || count < 1) return { tripped: false, pausedUntil: null };
  const windowMs = settings.lossStreakWindowMinutes * 60_000;
  const pauseMs = settings.lossStreakPauseMinutes * 60_000;
  const times = [...stopOutTimes].filter((t) => t <= now).sort((a, b) => a - b);
  // The latest moment a streak completed: the n-th stop-out within a window ending at it.
  let streakAt: number | null = null;
  for (let i = count - 1; i < times.length; i += 1) {
    const last = times[i];
    const first = times[i - count + 1];
    if (last !== undefined && first !== undefined && last - first <= windowMs) streakAt = last;
  }
  if (streakAt === null || now >= streakAt + pauseMs) return { tripped: false, pausedUntil: null };
  return {
    tripped: true,
    code: "LOSS_STREAK",
    message: `${count} stop-outs within ${settings.lossStreakWindowMinutes} minutes: entries paused for ${settings.lossStreakPauseMinutes} minutes`,
    pausedUntil: streakAt + pauseMs,
  };
}

/** One setting the breakers cannot work with, and what to type instead. */
export interface CircuitBreakerProblem {
  readonly code: "INVALID_KILL_SWITCH_SETTING";
  readonly field: keyof CircuitBreakerSettings;
  readonly message: string;
}

/** Longest look-back for the drawdown peak, in trading days. */
export const MAX_DRAWDOWN_DAYS = 250;
/** Longest loss-streak window or pause: one week, in minutes. */
export const MAX_STREAK_MINUTES = 7 * 24 * 60;

function isWholeIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The problems with breaker settings, each saying what to type; empty when they are usable.
 * A breaker that is off (null) still needs usable companion values, as they apply when it is on.
 */
export function validateCircuitBreakers(settings: CircuitBreakerSettings): CircuitBreakerProblem[] {
  const problems: CircuitBreakerProblem[] = [];
  const problem = (field: keyof CircuitBreakerSettings, message: string) =>
    problems.push({ code: "INVALID_KILL_SWITCH_SETTING", field, message });
  const drawdown = settings.maxDrawdownPercent;
  if (drawdown !== null && (drawdown.lte(0) || drawdown.gt(100)))
    problem(
      "maxDrawdownPercent",
      "maxDrawdownPercent must be above 0% and at most 100% (e.g. 8), or off.",
    );
  if (!isWholeIn(settings.drawdownDays, 1, MAX_DRAWDOWN_DAYS))
    problem(
      "drawdownDays",
      `drawdownDays must be a whole number of trading days from 1 to ${MAX_DRAWDOWN_DAYS} (e.g. 5).`,
    );
  const count = settings.lossStreakCount;
  if (count !== null && !isWholeIn(count, 1, 100))
    problem(
      "lossStreakCount",
      "lossStreakCount must be a whole number from 1 to 100 (e.g. 3), or off.",
    );
  if (!isWholeIn(settings.lossStreakWindowMinutes, 1, MAX_STREAK_MINUTES))
    problem(
      "lossStreakWindowMinutes",
      `lossStreakWindowMinutes must be a whole number of minutes from 1 to ${MAX_STREAK_MINUTES} (e.g. 120).`,
    );
  if (!isWholeIn(settings.lossStreakPauseMinutes, 1, MAX_STREAK_MINUTES))
    problem(
      "lossStreakPauseMinutes",
      `lossStreakPauseMinutes must be a whole number of minutes from 1 to ${MAX_STREAK_MINUTES} (e.g. 60).`,
    );
  return problems;
}
