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
