import { type Decimal, HUNDRED, ZERO } from "./money";
import { isOnTick, type PositionSide, roundTargetPrice, roundToTick } from "./tick";

/**
 * A trade idea before sizing: where we expect to get in, where we are wrong, where we take profit.
 * `entry` is the expected fill price: the limit price, or the last quote for a market entry.
 */
export interface TradePlan {
  readonly symbol: string;
  readonly side: PositionSide;
  readonly entry: Decimal;
  readonly stop: Decimal;
  readonly target: Decimal;
}

/** Stable codes for what can be wrong with a trade plan. */
export const TRADE_PLAN_PROBLEM_CODES = [
  "MISSING_SYMBOL",
  "NON_POSITIVE_PRICE",
  "OFF_TICK",
  "STOP_WRONG_SIDE",
  "TARGET_WRONG_SIDE",
  "ZERO_STOP_DISTANCE",
  "BELOW_MIN_REWARD_TO_RISK",
] as const;
export type TradePlanProblemCode = (typeof TRADE_PLAN_PROBLEM_CODES)[number];

/** Which price of the plan a problem is about (absent for problems about the whole plan). */
export type TradePlanField = "symbol" | "entry" | "stop" | "target";

/** One thing wrong with a plan: a stable code, the price concerned, and a sentence for the trader. */
export interface TradePlanProblem {
  readonly code: TradePlanProblemCode;
  readonly field?: TradePlanField;
  readonly message: string;
}

/** The account's rules a plan is checked against. */
export interface TradePlanRules {
  /** Smallest acceptable reward:risk (e.g. 1.5); absent means no minimum. */
  readonly minRewardToRisk?: Decimal;
}

/** Dollars a share loses between entry and stop: the R of one share. Always non-negative. */
export function perShareRisk(entry: Decimal, stop: Decimal): Decimal {
  return entry.minus(stop).abs();
}

/**
 * Dollars a share gains between entry and target. Always non-negative: it does not know the
 * side, so a target on the wrong side still gives a positive figure; `validateTradePlan`
 * reports that case.
 */
export function perShareReward(entry: Decimal, target: Decimal): Decimal {
  return target.minus(entry).abs();
}

/**
 * Reward per share divided by risk per share (2 means the target is 2R away).
 * Returns null when the stop equals the entry: with no risk the ratio has no meaning, and the
 * caller must refuse the plan (see ZERO_STOP_DISTANCE), not divide by zero.
 */
export function rewardToRisk(entry: Decimal, stop: Decimal, target: Decimal): Decimal | null {
  const risk = perShareRisk(entry, stop);
  if (risk.isZero()) return null;
  return perShareReward(entry, target).div(risk);
}

/**
 * The target `rMultiple` times the per-share risk away from the entry (2R by default), rounded
 * onto the tick toward the entry so the reward is never overstated. For a short with a stop far
 * above a low entry the result can be zero or negative; `validateTradePlan` refuses such a plan.
 */
export function defaultTarget(
  side: PositionSide,
  entry: Decimal,
  stop: Decimal,
  rMultiple: Decimal | number = 2,
): Decimal {
  const distance = perShareRisk(entry, stop).times(rMultiple);
  const raw = side === "long" ? entry.plus(distance) : entry.minus(distance);
  return roundTargetPrice(side, raw);
}

/**
 * The exit price at which a position of `quantity` shares bought (long) or sold short at `entry`
 * neither makes nor loses money once `commissionTotal` (both legs, in dollars) is paid.
 * Long: (entry x qty + commissions) / qty, rounded up to the tick; short: (entry x qty -
 * commissions) / qty, rounded down. Rounding away from the entry means exiting at the returned
 * price always covers the costs. Throws on a non-positive quantity: a break-even of no position
 * is a bug in the caller.
 */
export function breakEvenPrice(
  side: PositionSide,
  entry: Decimal,
  quantity: Decimal,
  commissionTotal: Decimal,
): Decimal {
  if (!quantity.gt(ZERO)) {
    throw new RangeError(`break-even needs a positive quantity, got ${quantity.toString()}`);
  }
  const cost = entry.times(quantity);
  if (side === "long") return roundToTick(cost.plus(commissionTotal).div(quantity), "up");
  return roundToTick(cost.minus(commissionTotal).div(quantity), "down");
}

/**
 * The gain, in percent of the current equity, needed to get back to the starting equity:
 * (starting - current) / current x 100. A 50% loss needs a 100% gain. Zero when the account is
 * not down; null when there is no equity left (nothing can recover from zero).
 */
export function accountRecoveryPercent(
  startingEquity: Decimal,
  currentEquity: Decimal,
): Decimal | null {
  const loss = startingEquity.minus(currentEquity);
  if (!loss.gt(ZERO)) return ZERO;
  if (!currentEquity.gt(ZERO)) return null;
  return loss.div(currentEquity).times(HUNDRED);
}

/**
 * Checks a plan and returns every problem found (an empty list means the plan is sound), each
 * with a stable code and a sentence a trader understands. Checks: a symbol is given; every price
 * is positive and on the broker's tick; the stop and the target are on the correct side of the
 * entry and the stop is not at the entry; the reward:risk reaches `rules.minRewardToRisk`.
 * Side and ratio checks are skipped for prices already reported as non-positive, where they would
 * only repeat the same mistake in other words.
 */
export function validateTradePlan(plan: TradePlan, rules: TradePlanRules = {}): TradePlanProblem[] {
  const problems: TradePlanProblem[] = [];
  const { side, entry, stop, target } = plan;

  if (plan.symbol.trim() === "") {
    problems.push({ code: "MISSING_SYMBOL", field: "symbol", message: "The plan has no symbol." });
  }

  const prices: ReadonlyArray<readonly ["entry" | "stop" | "target", Decimal]> = [
    ["entry", entry],
    ["stop", stop],
    ["target", target],
  ];
  const positive = { entry: true, stop: true, target: true };
  for (const [field, price] of prices) {
    if (!(price.isFinite() && price.gt(ZERO))) {
      positive[field] = false;
      problems.push({
        code: "NON_POSITIVE_PRICE",
        field,
        message: `The ${field} (${formatPrice(price)}) must be a price above zero.`,
      });
    } else if (!isOnTick(price)) {
      problems.push({
        code: "OFF_TICK",
        field,
        message: `The ${field} (${formatPrice(price)}) is not on the broker's price grid: use whole cents at or above $1 and at most four decimals below $1.`,
      });
    }
  }

  const long = side === "long";
  const below = long ? "below" : "above";
  const above = long ? "above" : "below";
  let stopSound = false;
  let targetSound = false;

  if (positive.entry && positive.stop) {
    if (stop.eq(entry)) {
      problems.push({
        code: "ZERO_STOP_DISTANCE",
        field: "stop",
        message: `The stop (${formatPrice(stop)}) equals the entry: there is no risk to size from. Put the stop ${below} the entry.`,
      });
    } else if (long ? stop.gt(entry) : stop.lt(entry)) {
      problems.push({
        code: "STOP_WRONG_SIDE",
        field: "stop",
        message: `For a ${side} trade the stop (${formatPrice(stop)}) must be ${below} the entry (${formatPrice(entry)}).`,
      });
    } else {
      stopSound = true;
    }
  }

  if (positive.entry && positive.target) {
    if (long ? target.lte(entry) : target.gte(entry)) {
      problems.push({
        code: "TARGET_WRONG_SIDE",
        field: "target",
        message: `For a ${side} trade the target (${formatPrice(target)}) must be ${above} the entry (${formatPrice(entry)}).`,
      });
    } else {
      targetSound = true;
    }
  }

  const minimum = rules.minRewardToRisk;
  if (minimum !== undefined && stopSound && targetSound) {
    const ratio = rewardToRisk(entry, stop, target);
    if (ratio?.lt(minimum)) {
      problems.push({
        code: "BELOW_MIN_REWARD_TO_RISK",
        field: "target",
        message: `The reward:risk is ${ratio.toFixed(2)}, below the minimum of ${minimum.toString()}: the target (${formatPrice(target)}) is ${perShareReward(entry, target).toFixed()} away for ${perShareRisk(entry, stop).toFixed()} of risk per share.`,
      });
    }
  }

  return problems;
}

/**
 * Shows a price for a message: at least two decimals, never rounded, so an off-tick or
 * sub-penny price shows as it is (190.1 -> "190.10", 0.5123 -> "0.5123", 185.005 -> "185.005").
 */
export function formatPrice(price: Decimal): string {
  if (!price.isFinite()) return price.toString();
  return price.toFixed(Math.max(2, price.decimalPlaces()));
}
