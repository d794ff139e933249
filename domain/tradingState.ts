import { newYorkDateOf } from "./calendar";
import {
  type BreakerVerdict,
  type CircuitBreakerSettings,
  evaluateDrawdown,
} from "./circuitBreakers";
import { type Decimal, HUNDRED, minDecimal, percentToFraction, ZERO } from "./money";
import type { RiskLimits } from "./riskLimits";

/**
 * What an account may do: trade freely, only reduce risk, or nothing new at all.
 * - ACTIVE: every order the risk checks accept.
 * - REDUCING: only orders that reduce a position (and cancels).
 * - HALTED: like REDUCING, and working entries are to be cancelled; protective exits are kept.
 */
export const TRADING_MODES = ["ACTIVE", "REDUCING", "HALTED"] as const;
export type TradingMode = (typeof TRADING_MODES)[number];

/** Who put the account in its mode: the daily-loss switch and session reset, or a trader. */
export type TradingStateSource = "AUTO" | "MANUAL";

/** The account's trading state, persisted so it survives restarts. */
export interface TradingState {
  readonly mode: TradingMode;
  readonly setBy: TradingStateSource;
  /** Why, in words for the trader ("Daily loss 3.10% reached the 3% limit", "/halt by @ann"). */
  readonly reason: string;
  /** When it was set, epoch ms. */
  readonly since: number;
  /**
   * The trader's own restriction that an automatic halt overrode, restored when that halt resets
   * at the next open, so a trader's REDUCING is never lifted by the machine.
   */
  readonly restoresTo?: TradingState;
}

/** The state of a new account: active, set automatically. */
export function initialTradingState(now: number): TradingState {
  return { mode: "ACTIVE", setBy: "AUTO", reason: "New account", since: now };
}

/** What kind of order is asking to go through the trading state. */
export interface OrderIntent {
  /** True when the order only shrinks an existing position (never opens or flips one). */
  readonly reducesPosition: boolean;
  /** True for a cancel request. */
  readonly isCancel: boolean;
}

/**
 * Whether a mode lets an order through: cancels always pass (they only remove risk); ACTIVE
 * passes everything; REDUCING and HALTED pass only orders that reduce a position (a stop, a
 * target, a /close or /flatten).
 */
export function allowsOrder(
  state: TradingMode | Pick<TradingState, "mode">,
  intent: OrderIntent,
): boolean {
  const mode = typeof state === "string" ? state : state.mode;
  if (intent.isCancel) return true;
  if (mode === "ACTIVE") return true;
  return intent.reducesPosition;
}

/** Whether working entry orders must be cancelled in this mode (HALTED: no exposure may be added, even by orders already resting). */
export function cancelsWorkingEntries(state: TradingMode | Pick<TradingState, "mode">): boolean {
  return (typeof state === "string" ? state : state.mode) === "HALTED";
}

/** How close the day's loss is to the limit. */
export type DailyLossLevel = "OK" | "WARNING" | "BREACHED";

/** The account figures the daily-loss rule needs (decimals from the broker's account). */
export interface DailyLossInput {
  /** Equity at the previous close (Alpaca `last_equity`). */
  readonly lastEquity: Decimal;
  /** Equity now (Alpaca `equity`). */
  readonly equity: Decimal;
  /**
   * Realized P&L of the trades opened today, closed or partly exited (negative for a loss). A
   * trade opened on an earlier day is left out: what it lost then is in the previous close's
   * equity already, and counting it again would halt on a day that lost far less.
   */
  readonly realizedPnlToday: Decimal;
  /**
   * Cash moved into the account today other than by trading: deposits less withdrawals (the
   * broker's cash activities). It moved the equity but is no P&L, so it is taken out of the
   * equity change: a withdrawal is no loss, a deposit hides none.
   */
  readonly netDepositsToday: Decimal;
}

/** The daily-loss rule applied to the account now. */
export interface DailyLossEvaluation {
  readonly level: DailyLossLevel;
  /** Today's P&L counted by the rule: the worse of equity change (less deposits) and realized P&L. */
  readonly pnlToday: Decimal;
  /** The loss, zero or more (zero on a winning day). */
  readonly lossAmount: Decimal;
  /** The loss as % of the previous close's equity; null without a positive previous close. */
  readonly lossPercent: Decimal | null;
  /** The loss at which trading halts, in dollars. */
  readonly limitAmount: Decimal;
  /** The loss at which the trader is warned, in dollars. */
  readonly warningAmount: Decimal;
  /** How much more may be lost before the halt, zero or more. */
  readonly remainingAmount: Decimal;
  /** A sentence for the trader. */
  readonly message: string;
}

/**
 * Applies the daily-loss rule. Today's P&L is the worse of (equity - last equity - the day's net
 * deposits), which counts open losses, and the realized P&L of today's trades, so a deposit the
 * desk does not know of yet cannot hide their losses. The limit is `maxDailyLossPercent` of the previous close's equity. BREACHED
 * when the loss reaches the limit (at exactly 3% the account halts), WARNING when it reaches
 * `dailyLossWarningFraction` of it. With no positive previous close (a new account) there is no
 * base for a percentage: any loss counts as BREACHED, since it cannot be bounded.
 */
export function evaluateDailyLoss(
  input: DailyLossInput,
  limits: Pick<RiskLimits, "maxDailyLossPercent" | "dailyLossWarningFraction">,
): DailyLossEvaluation {
  const pnlToday = minDecimal(
    input.equity.minus(input.lastEquity).minus(input.netDepositsToday),
    input.realizedPnlToday,
  );
  const lossAmount = pnlToday.lt(ZERO) ? pnlToday.neg() : ZERO;
  const base = input.lastEquity.gt(ZERO) ? input.lastEquity : ZERO;
  const limitAmount = base.times(percentToFraction(limits.maxDailyLossPercent));
  const warningAmount = limitAmount.times(limits.dailyLossWarningFraction);
  const lossPercent = base.gt(ZERO) ? lossAmount.div(base).times(HUNDRED) : null;
  const remaining = limitAmount.minus(lossAmount);
  const remainingAmount = remaining.gt(ZERO) ? remaining : ZERO;

  const shown = `${lossPercent === null ? `$${lossAmount.toFixed(2)}` : `${lossPercent.toFixed(2)}%`}`;
  const limitShown = `${limits.maxDailyLossPercent.toString()}% ($${limitAmount.toFixed(2)})`;
  let level: DailyLossLevel;
  let message: string;
  if (lossAmount.isZero()) {
    level = "OK";
    message = "No loss today.";
  } else if (lossAmount.gte(limitAmount)) {
    level = "BREACHED";
    message = base.isZero()
      ? `Day's loss $${lossAmount.toFixed(2)} with no previous close to measure it against: trading halts.`
      : `Day's loss ${shown} ($${lossAmount.toFixed(2)}) reached the ${limitShown} daily limit: trading halts.`;
  } else if (lossAmount.gte(warningAmount)) {
    level = "WARNING";
    message = `Day's loss ${shown} ($${lossAmount.toFixed(2)}) is near the ${limitShown} daily limit: $${remainingAmount.toFixed(2)} left before trading halts.`;
  } else {
    level = "OK";
    message = `Day's loss ${shown} ($${lossAmount.toFixed(2)}), limit ${limitShown}.`;
  }
  return {
    level,
    pnlToday,
    lossAmount,
    lossPercent,
    limitAmount,
    warningAmount,
    remainingAmount,
    message,
  };
}

/** Whether an account is still past a loss limit, and by which rule. */
export interface LossLimitsCheck {
  readonly dailyLoss: DailyLossEvaluation;
  /** The drawdown breaker's verdict (never tripped while it is off). */
  readonly drawdown: BreakerVerdict;
  /** True when the day's loss or the drawdown is past its limit. */
  readonly breached: boolean;
}

/**
 * Whether the account's latest figures are still past the daily-loss limit or, when the breaker
 * is on, the drawdown limit (the equity against the recent snapshots' peak): what the session
 * open asks before it lifts an automatic halt, and /resume before a trader lifts one.
 */
export function checkLossLimits(
  figures: DailyLossInput,
  limits: Pick<RiskLimits, "maxDailyLossPercent" | "dailyLossWarningFraction">,
  drawdown: {
    readonly settings: Pick<CircuitBreakerSettings, "maxDrawdownPercent">;
    readonly recentEquities: readonly Decimal[];
  },
): LossLimitsCheck {
  const dailyLoss = evaluateDailyLoss(figures, limits);
  const verdict = evaluateDrawdown(drawdown.recentEquities, figures.equity, drawdown.settings);
  return {
    dailyLoss,
    drawdown: verdict,
    breached: dailyLoss.level === "BREACHED" || verdict.tripped,
  };
}

/**
 * The recent days' equities (newest first) as the drawdown is to weigh them, each as of the
 * newest day's close: with the cash moved in or out on the days after it (their net deposits)
 * added, as if it had been there already. A withdrawal lowers today's equity, and a deposit
 * raises it, by no P&L: weighed against the raw equities the first reads as a drawdown and the
 * second hides one. A day's transfers booked after its close (`depositsAfterClose`, in a snapshot
 * rewritten after hours) are in its equity and again in the next day's net deposits, which count
 * from that close: they are taken out of the day's own figures, so each counts once. Transfers
 * after the newest day's close are the caller's to add, as for any time after the snapshots.
 */
export function equitiesNetOfLaterTransfers(
  days: readonly {
    readonly equity: Decimal;
    readonly netDeposits: Decimal;
    readonly depositsAfterClose?: Decimal;
  }[],
): Decimal[] {
  let later = ZERO;
  const equities: Decimal[] = [];
  for (const day of days) {
    const afterClose = day.depositsAfterClose ?? ZERO;
    equities.push(day.equity.minus(afterClose).plus(later));
    later = later.plus(day.netDeposits).minus(afterClose);
  }
  return equities;
}

/** The clock facts the automatic rules need, computed by the caller from the calendar. */
export interface TradingStateClock {
  /** Now, epoch ms. */
  readonly now: number;
  /** The latest session open at or before now (calendar `lastSessionOpen`), or null if unknown. */
  readonly lastSessionOpenAt: number | null;
  /**
   * The trading date now belongs to (calendar `tradingDateOf`: pre-market and after hours
   * included, a weekend or holiday the last trading date's), when known. Without it a trader's
   * resume of the day before stands through the next trading day's pre-market.
   */
  readonly tradingDate?: string | null;
}

/** The state the account must be in, and whether it differs from the one it was in. */
export interface TradingStateStep {
  readonly state: TradingState;
  readonly changed: boolean;
}

/**
 * The automatic rules, applied to the current state:
 * 1. An automatic REDUCING or HALTED set on a New York date before the latest session open's
 *    resets at that open, to ACTIVE or to the trader's restriction it had overridden
 *    (`restoresTo`); one set that morning before the open is for that day and stays.
 * 2. A BREACHED evaluation halts the account (setBy AUTO), unless it is already HALTED or a
 *    trader resumed it by hand during the current session, its pre-market included (a deliberate
 *    override, which lasts until the next trading date starts, its pre-market included, when
 *    `tradingDate` is given, else until the next open; on the same New York date when the open
 *    is unknown). A trader's REDUCING is kept in `restoresTo`.
 * WARNING and OK never lift anything, and nothing here lifts a trader's halt or reduce-only:
 * only the trader does (`setTradingStateManually`).
 */
export function nextTradingState(
  current: TradingState,
  evaluation: Pick<DailyLossEvaluation, "level" | "message">,
  clock: TradingStateClock,
): TradingStateStep {
  let state = current;
  const openAt = clock.lastSessionOpenAt;
  // A state set before the open of its own New York day (pre-market) belongs to that day's
  // session: its halt is for that day's loss, its resume for that day's limit.
  const newSessionSince = (s: TradingState) =>
    openAt !== null && newYorkDateOf(s.since) < newYorkDateOf(openAt);

  if (state.setBy === "AUTO" && state.mode !== "ACTIVE" && newSessionSince(state)) {
    state = state.restoresTo ?? {
      mode: "ACTIVE",
      setBy: "AUTO",
      reason: "Reset at the session open",
      since: clock.now,
    };
  }

  if (evaluation.level === "BREACHED" && state.mode !== "HALTED") {
    // Without a known open, the New York date stands in for the session: a resume of an earlier
    // day must not override today's limit for as long as the calendar cannot be had. With it,
    // and the trading date known, the resume must be of that date or later: before the open the
    // latest open is the day before's, yet the figure is already the new day's loss against that
    // day's close (the pre-market is valued), a loss the trader who resumed the day before never
    // saw. A holiday or weekend belongs to the last trading date: its resume still stands.
    const sameSession = (s: TradingState) => {
      if (openAt === null) return newYorkDateOf(s.since) === newYorkDateOf(clock.now);
      if (newSessionSince(s)) return false;
      return clock.tradingDate == null || newYorkDateOf(s.since) >= clock.tradingDate;
    };
    const resumedThisSession = state.setBy === "MANUAL" && sameSession(state);
    if (!(state.mode === "ACTIVE" && resumedThisSession)) {
      const halted: TradingState = {
        mode: "HALTED",
        setBy: "AUTO",
        reason: evaluation.message,
        since: clock.now,
      };
      state =
        state.setBy === "MANUAL" && state.mode === "REDUCING"
          ? { ...halted, restoresTo: state }
          : halted;
    }
  }

  return { state, changed: state !== current };
}

/**
 * A trader's switch (/halt, /resume, reduce-only): the new state, set by hand, with the reason
 * given. Manual states are never lifted automatically.
 */
export function setTradingStateManually(
  mode: TradingMode,
  reason: string,
  now: number,
): TradingState {
  return { mode, setBy: "MANUAL", reason, since: now };
}
