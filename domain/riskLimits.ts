import { type Decimal, dec, HUNDRED, ONE, ZERO } from "./money";

/**
 * An account's risk rules. Percentages are in percent (1 means 1%) and apply to the account's
 * equity unless said otherwise; convert with `percentToFraction` from money.ts.
 */
export interface RiskLimits {
  /** Most an opening trade may lose between entry and stop, % of equity. */
  readonly riskPerTradePercent: Decimal;
  /** Largest notional of one position (existing + working entries + this order), % of equity. */
  readonly maxPositionPercent: Decimal;
  /** Most symbols held or being entered at once. */
  readonly maxOpenPositions: number;
  /** Day's loss (against the previous close) at which trading halts, % of the previous close's equity. */
  readonly maxDailyLossPercent: Decimal;
  /** Fraction of the daily-loss limit at which the trader is warned (0.8: warned at 80% of it). */
  readonly dailyLossWarningFraction: Decimal;
  /** Largest gross notional across all positions and working entries, % of equity. */
  readonly maxTotalExposurePercent: Decimal;
  /** Largest gross notional in one sector, % of equity. */
  readonly maxSectorExposurePercent: Decimal;
  /**
   * Allowance for a market order's fill being worse than the quote, %: a market buy is checked
   * against buying power at the ask plus this much.
   */
  readonly maxSlippagePercent: Decimal;
  /** Farthest an order's price may be from the last quote (fat-finger collar), %. */
  readonly priceCollarPercent: Decimal;
  /** An order identical to one submitted this recently (ms) is refused as a duplicate. */
  readonly duplicateWindowMs: number;
  /** Smallest reward:risk an entry with a target may have. */
  readonly minRewardToRisk: Decimal;
  /** Most orders submitted in any 60 s (the broker allows 200 requests a minute in all). */
  readonly maxOrdersPerMinute: number;
}

/**
 * The defaults, from the system's original settings: 1% risk per trade, 5% max position,
 * 10 open positions, 3% max daily loss (warned at 80% of it), 80% total exposure, 30% per
 * sector, 0.5% slippage, 5% price collar, 60 s duplicate window. Minimum reward:risk 1.5 is ours:
 * with a typical 40-50% win rate a trade needs at least 1.5R to keep a positive expectancy.
 * 30 orders a minute leaves the rest of the broker's 200 requests a minute for polling and cancels.
 */
export const DEFAULT_RISK_LIMITS: RiskLimits = {
  riskPerTradePercent: dec("1"),
  maxPositionPercent: dec("5"),
  maxOpenPositions: 10,
  maxDailyLossPercent: dec("3"),
  dailyLossWarningFraction: dec("0.8"),
  maxTotalExposurePercent: dec("80"),
  maxSectorExposurePercent: dec("30"),
  maxSlippagePercent: dec("0.5"),
  priceCollarPercent: dec("5"),
  duplicateWindowMs: 60_000,
  minRewardToRisk: dec("1.5"),
  maxOrdersPerMinute: 30,
};

/** A problem with a set of limits: which field, and a sentence for the trader. */
export interface RiskLimitProblem {
  readonly code: "INVALID_RISK_LIMIT";
  readonly field: keyof RiskLimits;
  readonly message: string;
}

type PercentField = {
  [K in keyof RiskLimits]: RiskLimits[K] extends Decimal ? K : never;
}[keyof RiskLimits];

const PERCENT_FIELDS: readonly PercentField[] = [
  "riskPerTradePercent",
  "maxPositionPercent",
  "maxDailyLossPercent",
  "maxTotalExposurePercent",
  "maxSectorExposurePercent",
  "maxSlippagePercent",
  "priceCollarPercent",
];

/**
 * Checks limits a trader or a configuration supplied and returns every problem (empty when
 * sound): percentages in (0, 100] except total exposure (up to 400%, margin) and slippage and
 * collar (up to 100%), a warning fraction in (0, 1], whole positive counts and window,
 * a reward:risk minimum that is not negative.
 */
export function validateRiskLimits(limits: RiskLimits): RiskLimitProblem[] {
  const problems: RiskLimitProblem[] = [];
  const problem = (field: keyof RiskLimits, message: string) =>
    problems.push({ code: "INVALID_RISK_LIMIT", field, message });

  for (const field of PERCENT_FIELDS) {
    const value = limits[field];
    const max = field === "maxTotalExposurePercent" ? dec(400) : HUNDRED;
    if (!value.isFinite() || value.lte(ZERO) || value.gt(max)) {
      problem(field, `${field} must be above 0% and at most ${max.toString()}%.`);
    }
  }
  const fraction = limits.dailyLossWarningFraction;
  if (!fraction.isFinite() || fraction.lte(ZERO) || fraction.gt(ONE)) {
    problem("dailyLossWarningFraction", "dailyLossWarningFraction must be above 0 and at most 1.");
  }
  for (const field of ["maxOpenPositions", "maxOrdersPerMinute", "duplicateWindowMs"] as const) {
    const value = limits[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      problem(field, `${field} must be a whole number, zero or more.`);
    }
  }
  if (!limits.minRewardToRisk.isFinite() || limits.minRewardToRisk.lt(ZERO)) {
    problem("minRewardToRisk", "minRewardToRisk must be zero or more.");
  }
  return problems;
}
