import { Decimal, formatMoney, HUNDRED, minDecimal, ONE, percentToFraction, ZERO } from "./money";
import { type Outcome, ok, refuse } from "./outcome";
import { FRACTIONAL_QUANTITY_DECIMALS, type PositionSide, roundQuantityDown } from "./tick";
import { formatPrice, perShareReward, perShareRisk } from "./tradePlan";

/**
 * How the risk budget of a trade is chosen:
 * - `risk_percent`: fixed-fractional, `riskPercent` of equity at risk;
 * - `conservative`: 75% of the `risk_percent` budget; `aggressive`: 125% of it;
 * - `half_kelly`: the Kelly fraction of equity at risk, times a safety fraction (0.5 by default).
 */
export const SIZING_METHODS = ["risk_percent", "half_kelly", "conservative", "aggressive"] as const;
export type SizingMethod = (typeof SIZING_METHODS)[number];

/** What limited the size. */
export const BINDING_CONSTRAINTS = [
  /** the method's risk budget */
  "RISK",
  /** the account's ceiling on risk per trade, below the method's budget */
  "MAX_RISK",
  /** the largest position allowed, as % of equity (notional) */
  "MAX_POSITION",
  /** the buying power available */
  "BUYING_POWER",
  /** rounding down to whole shares cut the size noticeably (see WHOLE_SHARE_BINDING_PERCENT) */
  "WHOLE_SHARES",
  /** half-Kelly found no edge: the size is zero */
  "KELLY_NON_POSITIVE",
] as const;
export type BindingConstraint = (typeof BINDING_CONSTRAINTS)[number];

/** Stable codes for a size that cannot be computed. */
export type SizingRefusalCode =
  | "INVALID_INPUT"
  | "NON_POSITIVE_EQUITY"
  | "ZERO_STOP_DISTANCE"
  | "STOP_WRONG_SIDE"
  | "TARGET_WRONG_SIDE"
  | "QUANTITY_ROUNDS_TO_ZERO";

/**
 * Rounding to whole shares is reported as the binding constraint when it removes at least this
 * percentage of the size the caps allow (1.5 shares -> 1 share is 33%); below that it is ordinary
 * rounding and the cap that set the size is reported instead.
 */
export const WHOLE_SHARE_BINDING_PERCENT = new Decimal(10);

/** Multipliers of the `risk_percent` budget. */
const CONSERVATIVE_FACTOR = new Decimal("0.75");
const AGGRESSIVE_FACTOR = new Decimal("1.25");
/** Half Kelly: full Kelly is too volatile for estimated win rates and payoffs. */
export const DEFAULT_KELLY_SAFETY_FRACTION = new Decimal("0.5");

/** Inputs of half-Kelly sizing, estimated from the trader's closed trades. */
export interface KellyInputs {
  /** p: the fraction of trades that win, 0 to 1 (0.55 for 55%). */
  readonly winRate: Decimal;
  /**
   * b: average win divided by average loss. Absent: the plan's reward:risk (target distance over
   * stop distance) is used, which needs a target.
   */
  readonly payoffRatio?: Decimal;
  /** The share of full Kelly used, above 0 and at most 1 (default 0.5: half Kelly). */
  readonly safetyFraction?: Decimal;
}

/** Everything sizing needs; all money and prices as decimals. */
export interface SizingRequest {
  readonly method: SizingMethod;
  readonly side: PositionSide;
  /** Expected fill price: the limit, or the last quote for a market entry. */
  readonly entry: Decimal;
  readonly stop: Decimal;
  /** Optional target, for reward:risk (and the default Kelly payoff ratio). */
  readonly target?: Decimal | null;
  readonly equity: Decimal;
  /** Buying power available for this order; a negative value counts as none. */
  readonly buyingPower: Decimal;
  /** Percent of equity at risk per trade (1 = 1%); needed by every method but `half_kelly`. */
  readonly riskPercent?: Decimal;
  /** The account's hard ceiling on risk per trade, percent of equity, applied to every method. */
  readonly maxRiskPercent?: Decimal | null;
  /** The largest position's value, percent of equity; absent or null means no such cap. */
  readonly maxPositionPercent?: Decimal | null;
  /**
   * The account may trade fractional shares (default false). Short sales are always whole
   * shares: the broker does not sell fractional shares short.
   */
  readonly fractional?: boolean;
  readonly kelly?: KellyInputs;
}

/** A computed position size and the figures a trader needs to judge it. */
export interface PositionSize {
  readonly method: SizingMethod;
  /** Shares, rounded down (whole shares unless the account and side allow fractions). */
  readonly quantity: Decimal;
  /** Whether the quantity was allowed fractional digits. */
  readonly fractional: boolean;
  /** quantity x entry. */
  readonly positionValue: Decimal;
  /** positionValue as a percentage of equity. */
  readonly percentOfEquity: Decimal;
  /** Dollars the method allows to lose (after the account's max-risk ceiling). */
  readonly riskBudget: Decimal;
  /** Dollars lost if the stop fills: quantity x per-share risk; never above riskBudget. */
  readonly riskAmount: Decimal;
  /** riskAmount as a percentage of equity. */
  readonly riskPercentOfEquity: Decimal;
  /** The R value of one share: the distance from entry to stop. */
  readonly perShareRisk: Decimal;
  /** Reward per share over risk per share; null without a target. */
  readonly rewardToRisk: Decimal | null;
  /** Dollars gained if the target fills: quantity x reward per share; null without a target. */
  readonly rewardAmount: Decimal | null;
  readonly bindingConstraint: BindingConstraint;
  /** Full Kelly fraction f* for `half_kelly` (before the safety fraction); null for other methods. */
  readonly kellyFraction: Decimal | null;
  /** One or two sentences on how the size was reached, for the trader. */
  readonly explanation: string;
}

/**
 * Full Kelly fraction f* = p - (1 - p) / b for a win rate p (0..1) and a payoff ratio b (average
 * win over average loss, > 0). Zero or negative means the trade has no edge. The caller checks
 * the ranges; b must not be zero.
 */
export function kellyFraction(winRate: Decimal, payoffRatio: Decimal): Decimal {
  return winRate.minus(ONE.minus(winRate).div(payoffRatio));
}

/**
 * Sizes a position from the account's risk rules.
 *
 * The risk budget comes from the method. For `half_kelly` the Kelly fraction is read as the
 * fraction of equity put at RISK (the amount lost at the stop), not the position's value: a
 * Kelly bet is what a loss takes away, and a stopped-out trade loses its risk, not its notional.
 * So risk budget = equity x f* x safety fraction. f* <= 0 gives a zero size with
 * bindingConstraint KELLY_NON_POSITIVE. `maxRiskPercent`, when given, caps every method's budget.
 *
 * The quantity is the largest that fits every limit: risk budget / per-share risk, max position
 * value / entry, buying power / entry; then rounded down to whole shares (or to the broker's
 * fractional step). Rounding is always down, so the $ risk never exceeds the budget and no cap is
 * exceeded. Refuses, with a code, invalid or non-positive inputs, a stop at or on the wrong side
 * of the entry, a target on the wrong side, and a size that rounds to zero.
 */
export function sizePosition(request: SizingRequest): Outcome<PositionSize, SizingRefusalCode> {
  const { method, side, entry, stop, equity } = request;
  const target = request.target ?? null;
  const long = side === "long";

  for (const [name, value] of [
    ["entry", entry],
    ["stop", stop],
  ] as const) {
    if (!isPositive(value)) {
      return refuse("INVALID_INPUT", `The ${name} must be a price above zero.`);
    }
  }
  if (!equity.isFinite()) return refuse("INVALID_INPUT", "The equity must be a number.");
  if (!equity.gt(ZERO)) {
    return refuse(
      "NON_POSITIVE_EQUITY",
      `The account equity is $${formatMoney(equity)}: nothing can be risked.`,
    );
  }
  if (!request.buyingPower.isFinite()) {
    return refuse("INVALID_INPUT", "The buying power must be a number.");
  }

  const risk = perShareRisk(entry, stop);
  if (risk.isZero()) {
    return refuse(
      "ZERO_STOP_DISTANCE",
      `The stop (${formatPrice(stop)}) equals the entry: there is no per-share risk to size from.`,
    );
  }
  if (long ? stop.gt(entry) : stop.lt(entry)) {
    return refuse(
      "STOP_WRONG_SIDE",
      `For a ${side} trade the stop (${formatPrice(stop)}) must be ${long ? "below" : "above"} the entry (${formatPrice(entry)}).`,
    );
  }
  if (target !== null) {
    if (!isPositive(target))
      return refuse("INVALID_INPUT", "The target must be a price above zero.");
    if (long ? target.lte(entry) : target.gte(entry)) {
      return refuse(
        "TARGET_WRONG_SIDE",
        `For a ${side} trade the target (${formatPrice(target)}) must be ${long ? "above" : "below"} the entry (${formatPrice(entry)}).`,
      );
    }
  }
  const maxRiskPercent = request.maxRiskPercent ?? null;
  if (maxRiskPercent !== null && !isPercent(maxRiskPercent)) {
    return refuse("INVALID_INPUT", "The max risk per trade must be above 0% and at most 100%.");
  }
  const maxPositionPercent = request.maxPositionPercent ?? null;
  if (maxPositionPercent !== null && !isPositive(maxPositionPercent)) {
    return refuse("INVALID_INPUT", "The max position size must be above 0% of equity.");
  }

  const rewardToRisk = target === null ? null : perShareReward(entry, target).div(risk);
  const budget = methodRiskBudget(request, rewardToRisk);
  if (!budget.ok) return budget;

  const fractional = (request.fractional ?? false) && long;
  const base = {
    method,
    fractional,
    perShareRisk: risk,
    rewardToRisk,
    kellyFraction: budget.value.kellyFraction,
  };

  if (budget.value.noEdge !== null) {
    return ok({
      ...base,
      quantity: ZERO,
      positionValue: ZERO,
      percentOfEquity: ZERO,
      riskBudget: ZERO,
      riskAmount: ZERO,
      riskPercentOfEquity: ZERO,
      rewardAmount: rewardToRisk === null ? null : ZERO,
      bindingConstraint: "KELLY_NON_POSITIVE",
      explanation: budget.value.noEdge,
    });
  }

  let riskBudget = budget.value.amount;
  let riskConstraint: BindingConstraint = "RISK";
  if (maxRiskPercent !== null) {
    const ceiling = equity.times(percentToFraction(maxRiskPercent));
    if (ceiling.lt(riskBudget)) {
      riskBudget = ceiling;
      riskConstraint = "MAX_RISK";
    }
  }

  // Each limit as (constraint, dollars, dollars per share); the smallest quotient wins and ties
  // go to the earlier entry, so a plain risk-sized trade is explained as such.
  const limits: Limit[] = [{ constraint: riskConstraint, dollars: riskBudget, perShare: risk }];
  if (maxPositionPercent !== null) {
    limits.push({
      constraint: "MAX_POSITION",
      dollars: equity.times(percentToFraction(maxPositionPercent)),
      perShare: entry,
    });
  }
  const buyingPower = request.buyingPower.gt(ZERO) ? request.buyingPower : ZERO;
  limits.push({ constraint: "BUYING_POWER", dollars: buyingPower, perShare: entry });

  let binding = limits[0] as Limit;
  let unrounded = binding.dollars.div(binding.perShare);
  for (const limit of limits.slice(1)) {
    const shares = limit.dollars.div(limit.perShare);
    if (shares.lt(unrounded)) {
      binding = limit;
      unrounded = shares;
    }
  }
  let quantity = unrounded;
  for (const limit of limits) {
    quantity = minDecimal(quantity, largestQuantityWithin(limit, fractional));
  }

  if (quantity.isZero()) {
    return refuse("QUANTITY_ROUNDS_TO_ZERO", roundsToZeroMessage(binding, fractional));
  }

  let bindingConstraint = binding.constraint;
  if (!fractional) {
    const cutPercent = unrounded.minus(quantity).div(unrounded).times(HUNDRED);
    if (cutPercent.gte(WHOLE_SHARE_BINDING_PERCENT)) bindingConstraint = "WHOLE_SHARES";
  }

  const positionValue = quantity.times(entry);
  const riskAmount = quantity.times(risk);
  const result: PositionSize = {
    ...base,
    quantity,
    positionValue,
    percentOfEquity: positionValue.div(equity).times(HUNDRED),
    riskBudget,
    riskAmount,
    riskPercentOfEquity: riskAmount.div(equity).times(HUNDRED),
    rewardAmount: target === null ? null : quantity.times(perShareReward(entry, target)),
    bindingConstraint,
    explanation: "",
  };
  return ok({ ...result, explanation: explain(result, budget.value, unrounded) });
}

interface Limit {
  readonly constraint: BindingConstraint;
  readonly dollars: Decimal;
  readonly perShare: Decimal;
}

interface MethodBudget {
  readonly amount: Decimal;
  readonly description: string;
  readonly kellyFraction: Decimal | null;
  /** Set when half-Kelly finds no edge: the sentence to show instead of a size. */
  readonly noEdge: string | null;
}

/** The method's risk budget in dollars, before the account's max-risk ceiling. */
function methodRiskBudget(
  request: SizingRequest,
  rewardToRisk: Decimal | null,
): Outcome<MethodBudget, SizingRefusalCode> {
  const { method, equity } = request;
  if (method === "half_kelly") {
    const kelly = request.kelly;
    if (kelly === undefined) {
      return refuse("INVALID_INPUT", "Half-Kelly sizing needs a win rate.");
    }
    const { winRate } = kelly;
    if (!(winRate.isFinite() && winRate.gte(ZERO) && winRate.lte(ONE))) {
      return refuse("INVALID_INPUT", "The win rate must be between 0 and 1.");
    }
    const payoffRatio = kelly.payoffRatio ?? rewardToRisk;
    if (payoffRatio === null) {
      return refuse("INVALID_INPUT", "Half-Kelly sizing needs a payoff ratio or a target.");
    }
    if (!isPositive(payoffRatio)) {
      return refuse(
        "INVALID_INPUT",
        "The payoff ratio (average win / average loss) must be above 0.",
      );
    }
    const safety = kelly.safetyFraction ?? DEFAULT_KELLY_SAFETY_FRACTION;
    if (!(isPositive(safety) && safety.lte(ONE))) {
      return refuse("INVALID_INPUT", "The Kelly safety fraction must be above 0 and at most 1.");
    }
    const fStar = kellyFraction(winRate, payoffRatio);
    const odds = `a ${winRate.times(HUNDRED).toDecimalPlaces(2).toString()}% win rate and a ${payoffRatio.toDecimalPlaces(2).toString()} payoff ratio`;
    if (!fStar.gt(ZERO)) {
      return ok({
        amount: ZERO,
        description: "",
        kellyFraction: fStar,
        noEdge: `No trade: with ${odds} the Kelly fraction is ${fStar.toDecimalPlaces(4).toString()}, so the trade has no edge.`,
      });
    }
    const share = fStar.times(safety);
    return ok({
      amount: equity.times(share),
      description: `Kelly ${percentText(fStar.times(HUNDRED))} (${odds}) x ${safety.toString()} = ${percentText(share.times(HUNDRED))} of $${formatMoney(equity)}`,
      kellyFraction: fStar,
      noEdge: null,
    });
  }

  const riskPercent = request.riskPercent;
  if (riskPercent === undefined || !isPercent(riskPercent)) {
    return refuse("INVALID_INPUT", "The risk per trade must be above 0% and at most 100%.");
  }
  const factor =
    method === "conservative"
      ? CONSERVATIVE_FACTOR
      : method === "aggressive"
        ? AGGRESSIVE_FACTOR
        : ONE;
  const percent = riskPercent.times(factor);
  const scaled = factor.eq(ONE) ? "" : ` x ${factor.toString()} (${method})`;
  return ok({
    amount: equity.times(percentToFraction(percent)),
    description: `${percentText(riskPercent)}${scaled} of $${formatMoney(equity)}`,
    kellyFraction: null,
    noEdge: null,
  });
}

/**
 * The most shares whose cost under one limit stays within it, rounded down to the quantity step.
 * Decimal division rounds at 40 significant digits and can land a hair above the true quotient,
 * so the product is re-checked and stepped down when it would exceed the limit.
 */
function largestQuantityWithin(limit: Limit, fractional: boolean): Decimal {
  let quantity = roundQuantityDown(limit.dollars.div(limit.perShare), fractional);
  const step = fractional ? new Decimal(10).pow(-FRACTIONAL_QUANTITY_DECIMALS) : ONE;
  while (quantity.gt(ZERO) && quantity.times(limit.perShare).gt(limit.dollars)) {
    let lowered = quantity.minus(step);
    // a quantity past 40 significant digits cannot move by one step; move by its last digit
    if (lowered.eq(quantity)) lowered = quantity.minus(new Decimal(10).pow(quantity.e - 38));
    quantity = roundQuantityDown(lowered, fractional);
  }
  return quantity.gt(ZERO) ? quantity : ZERO;
}

function roundsToZeroMessage(binding: Limit, fractional: boolean): string {
  const unit = fractional ? "the smallest fraction of a share" : "one share";
  const dollars = `$${formatMoney(binding.dollars)}`;
  switch (binding.constraint) {
    case "MAX_POSITION":
      return `The max position size of ${dollars} buys less than ${unit} at $${formatPrice(binding.perShare)} per share.`;
    case "BUYING_POWER":
      return `The buying power of ${dollars} buys less than ${unit} at $${formatPrice(binding.perShare)} per share.`;
    default:
      return `The risk budget of ${dollars} buys less than ${unit} at $${formatPrice(binding.perShare)} per-share risk.`;
  }
}

function explain(size: PositionSize, methodBudget: MethodBudget, unrounded: Decimal): string {
  const shares = `${size.quantity.toString()} ${size.quantity.eq(ONE) ? "share" : "shares"}`;
  const perShare = `$${formatPrice(size.perShareRisk)} per-share risk`;
  const budget = `Risk budget $${formatMoney(size.riskBudget)} (${methodBudget.description})`;
  const sentence = {
    RISK: `${budget} / ${perShare} = ${shares}.`,
    MAX_RISK: `Risk budget $${formatMoney(methodBudget.amount)} (${methodBudget.description}), capped at the account's max risk per trade: $${formatMoney(size.riskBudget)} / ${perShare} = ${shares}.`,
    MAX_POSITION: `${budget}, but the max position size limits the order to ${shares} ($${formatMoney(size.positionValue)}, ${percentText(size.percentOfEquity)} of equity).`,
    BUYING_POWER: `${budget}, but buying power limits the order to ${shares} ($${formatMoney(size.positionValue)}).`,
    WHOLE_SHARES: `${budget}; the limits allow ${unrounded.toDecimalPlaces(2, Decimal.ROUND_DOWN).toString()} shares, rounded down to whole shares: ${shares}.`,
    KELLY_NON_POSITIVE: "",
  } satisfies Record<BindingConstraint, string>;
  return `${sentence[size.bindingConstraint]} At risk: $${formatMoney(size.riskAmount)} (${percentText(size.riskPercentOfEquity)} of equity).`;
}

function percentText(percent: Decimal): string {
  return `${percent.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toString()}%`;
}

function isPositive(value: Decimal): boolean {
  return value.isFinite() && value.gt(ZERO);
}

function isPercent(value: Decimal): boolean {
  return isPositive(value) && value.lte(HUNDRED);
}
