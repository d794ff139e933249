import { type Decimal, HUNDRED, ONE, percentToFraction, ZERO } from "./money";
import type { OrderSide } from "./order";
import { type AccountSnapshot, checkOrder, prepareSnapshot, type QuoteView } from "./riskChecks";
import type { RiskLimits } from "./riskLimits";
import {
  type BindingConstraint,
  type KellyInputs,
  type PositionSize,
  type SizingMethod,
  sizePosition,
} from "./sizing";
import { type PositionSide, roundStopPrice } from "./tick";
import { breakEvenPrice, defaultTarget, rewardToRisk, validateTradePlan } from "./tradePlan";
import type { TradingState } from "./tradingState";

/** Where the stop goes: a price, or a distance from the entry in percent or dollars. */
export type StopInput =
  | { readonly kind: "price"; readonly price: Decimal }
  | { readonly kind: "percent"; readonly percent: Decimal }
  | { readonly kind: "amount"; readonly amount: Decimal };

/** Where the target goes: a price, or a multiple of the per-share risk (2R by default). */
export type TargetInput =
  | { readonly kind: "price"; readonly price: Decimal }
  | { readonly kind: "r"; readonly multiple: Decimal };

/** A trade as a trader (or a scanner, or the HTTP API) proposes it, before sizing. */
export interface TradeInput {
  readonly symbol: string;
  readonly side: PositionSide;
  readonly entryType: "market" | "limit";
  /** Required for a limit entry, ignored for a market one. */
  readonly limitPrice: Decimal | null;
  readonly stop: StopInput;
  /** Absent or null: 2R from the entry. */
  readonly target?: TargetInput | null;
  /** Percent of equity at risk (1 = 1%); absent or null: the account's risk per trade. */
  readonly riskPercent?: Decimal | null;
  /** Absent: fixed-fractional (`risk_percent`). */
  readonly sizingMethod?: SizingMethod;
  /** Win rate (and payoff) for half Kelly, from the trader's closed trades. */
  readonly kelly?: KellyInputs;
  /** A quantity chosen by the caller; absent or null: the size the risk rules allow. */
  readonly quantity?: Decimal | null;
  /** Commissions for both legs, for the break-even (default 0: the broker charges none). */
  readonly commissionTotal?: Decimal;
}

/** One rule the plan breaks, from the plan checks, sizing or the pre-trade checks. */
export interface PlanViolation {
  readonly code: string;
  readonly message: string;
}

/** The priced trade: what a plan card shows and a decision stores. */
export interface PricedPlan {
  readonly symbol: string;
  readonly side: PositionSide;
  readonly orderSide: OrderSide;
  readonly entryType: "market" | "limit";
  /** The limit price; null for a market entry. */
  readonly limitPrice: Decimal | null;
  /** The price the checks assumed: the limit, or the quote a market entry would take. */
  readonly expectedEntry: Decimal;
  readonly stop: Decimal;
  readonly target: Decimal;
  /** Null when the stop equals the entry. */
  readonly rewardToRisk: Decimal | null;
}

/** The size and what it means in money, for the quantity actually planned. */
export interface PlannedSize {
  readonly quantity: Decimal;
  readonly positionValue: Decimal;
  readonly percentOfEquity: Decimal;
  readonly riskAmount: Decimal;
  readonly riskPercentOfEquity: Decimal;
  readonly rewardAmount: Decimal;
  readonly breakEven: Decimal;
  /** What limited the size; `QUANTITY_GIVEN` when the caller chose the quantity. */
  readonly bindingConstraint: BindingConstraint | "QUANTITY_GIVEN";
  readonly method: SizingMethod;
  /** The risk percent the method started from (the account's when none was asked for). */
  readonly riskPercent: Decimal;
  /** The sizing's own account of the size, for the trader. */
  readonly explanation: string;
  /** What the rules allow, when sizing could compute it. */
  readonly sizing: PositionSize | null;
}

/** The result: the plan when it could be priced, the size when it could be computed, every violation. */
export interface TradePlanning {
  readonly plan: PricedPlan | null;
  readonly size: PlannedSize | null;
  readonly violations: readonly PlanViolation[];
  /** Whether the plan may be confirmed: priced, sized, and no violation. */
  readonly canConfirm: boolean;
}

/** The price a market order on this side is expected to take: the ask to buy, the bid to sell. */
export function marketEntryPrice(quote: QuoteView | undefined, side: PositionSide): Decimal | null {
  if (quote === undefined) return null;
  const near = side === "long" ? quote.ask : quote.bid;
  for (const candidate of [near, quote.last]) if (candidate?.gt(ZERO)) return candidate;
  return null;
}

/**
 * The stop price of a stop input for an entry: a price as given; a distance (percent of the entry
 * or dollars) below the entry for a long, above for a short, rounded onto the tick toward the
 * entry so the rounded stop never risks more than asked.
 */
export function resolveStop(side: PositionSide, entry: Decimal, stop: StopInput): Decimal {
  if (stop.kind === "price") return stop.price;
  const distance =
    stop.kind === "amount" ? stop.amount : entry.times(percentToFraction(stop.percent));
  return roundStopPrice(side, side === "long" ? entry.minus(distance) : entry.plus(distance));
}

/**
 * The target price of a target input: a price as given, else `multiple` R from the entry (2R when
 * absent), rounded toward the entry (see `defaultTarget`).
 */
export function resolveTarget(
  side: PositionSide,
  entry: Decimal,
  stop: Decimal,
  target: TargetInput | null | undefined,
): Decimal {
  if (target?.kind === "price") return target.price;
  return defaultTarget(side, entry, stop, target?.multiple ?? 2);
}

/**
 * Plans a trade the one way every path does (the bot's /plan, alert approvals, the HTTP API):
 * the expected entry from the limit or the quote, the stop and target from prices, distances or
 * R multiples, the plan checks (`validateTradePlan`, with the account's minimum reward:risk), the
 * size from the chosen method capped by the account's risk per trade and position size
 * (`sizePosition`), the break-even, then every pre-trade check (`checkOrder`) against the
 * snapshot and trading state. Returns what could be computed and every violation (one per code,
 * in the order found); `canConfirm` only when there is none. `now` is epoch ms.
 */
export function planTrade(
  input: TradeInput,
  snapshot: AccountSnapshot,
  limits: RiskLimits,
  tradingState: Pick<TradingState, "mode" | "reason">,
  now: number,
): TradePlanning {
  const violations: PlanViolation[] = [];
  const add = (violation: PlanViolation) => {
    if (!violations.some((known) => known.code === violation.code)) {
      violations.push({ code: violation.code, message: violation.message });
    }
  };
  const refused = (): TradePlanning => ({ plan: null, size: null, violations, canConfirm: false });
  const { symbol, side } = input;
  const orderSide: OrderSide = side === "long" ? "buy" : "sell";

  const expectedEntry =
    input.entryType === "limit"
      ? input.limitPrice
      : marketEntryPrice(snapshot.quotes.get(symbol), side);
  if (expectedEntry === null || !expectedEntry.gt(ZERO)) {
    add(
      input.entryType === "limit"
        ? { code: "INVALID_PRICE", message: "A limit entry needs a limit price above zero." }
        : { code: "NO_QUOTE", message: `There is no quote for ${symbol} to price a market entry.` },
    );
    return refused();
  }
  const stop = resolveStop(side, expectedEntry, input.stop);
  const target = resolveTarget(side, expectedEntry, stop, input.target);
  const plan: PricedPlan = {
    symbol,
    side,
    orderSide,
    entryType: input.entryType,
    limitPrice: input.entryType === "limit" ? expectedEntry : null,
    expectedEntry,
    stop,
    target,
    rewardToRisk: rewardToRisk(expectedEntry, stop, target),
  };

  for (const problem of validateTradePlan(
    { symbol, side, entry: expectedEntry, stop, target },
    { minRewardToRisk: limits.minRewardToRisk },
  )) {
    add(problem);
  }

  const method = input.sizingMethod ?? "risk_percent";
  const riskPercent = input.riskPercent ?? limits.riskPerTradePercent;
  const asset = snapshot.assets.get(symbol);
  // The checks count a market entry at the quote plus the slippage allowance against buying
  // power: size it the same way, or the size the rules offer is one the checks refuse.
  const buyingPower =
    input.entryType === "market"
      ? snapshot.buyingPower.div(ONE.plus(percentToFraction(limits.maxSlippagePercent)))
      : snapshot.buyingPower;
  // The checks count what the symbol already holds or is being entered toward the position
  // limit: size within what is left, or the size the rules offer is one the checks refuse. With
  // less than a share left, the full limit is passed and the checks say the position is full.
  const prepared = prepareSnapshot(snapshot);
  const held = prepared.exposureBySymbol.get(symbol) ?? ZERO;
  const positionRoom = snapshot.equity
    .times(percentToFraction(limits.maxPositionPercent))
    .minus(held);
  const maxPositionPercent =
    held.gt(ZERO) && positionRoom.gte(expectedEntry) && snapshot.equity.gt(ZERO)
      ? positionRoom.div(snapshot.equity).times(HUNDRED)
      : limits.maxPositionPercent;
  const sized = sizePosition({
    method,
    side,
    entry: expectedEntry,
    stop,
    target,
    equity: snapshot.equity,
    buyingPower,
    riskPercent,
    maxRiskPercent: limits.riskPerTradePercent,
    maxPositionPercent,
    fractional: false,
    ...(input.kelly === undefined ? {} : { kelly: input.kelly }),
  });
  if (!sized.ok) add({ code: sized.code, message: sized.message });
  const sizing = sized.ok ? sized.value : null;
  if (sizing?.bindingConstraint === "KELLY_NON_POSITIVE") {
    add({ code: "NO_EDGE", message: sizing.explanation });
  }

  const quantity = input.quantity ?? sizing?.quantity ?? null;
  if (quantity === null || !quantity.gt(ZERO)) {
    // A size of zero from the rules has its reason already (e.g. NO_EDGE); a caller's has none.
    if (input.quantity !== undefined && input.quantity !== null) {
      add({ code: "INVALID_QUANTITY", message: "The quantity must be above zero." });
    }
    return { ...refused(), plan };
  }

  const verdict = checkOrder(
    {
      symbol,
      side: orderSide,
      type: input.entryType,
      quantity,
      limitPrice: plan.limitPrice,
      stopLossPrice: stop,
      takeProfitPrice: target,
      opensTrade: true,
    },
    prepared,
    limits,
    tradingState,
    now,
  );
  if (!verdict.ok) for (const violation of verdict.violations) add(violation);
  if (asset?.fractionable === false && !quantity.isInteger()) {
    add({ code: "INVALID_QUANTITY", message: `${symbol} cannot be traded in fractions.` });
  }

  const equity = snapshot.equity;
  const positionValue = quantity.times(expectedEntry);
  const riskAmount = quantity.times(expectedEntry.minus(stop).abs());
  const ofEquity = (amount: Decimal) =>
    equity.gt(ZERO) ? amount.div(equity).times(HUNDRED) : ZERO;
  const quantityGiven = input.quantity !== undefined && input.quantity !== null;
  const size: PlannedSize = {
    quantity,
    positionValue,
    percentOfEquity: ofEquity(positionValue),
    riskAmount,
    riskPercentOfEquity: ofEquity(riskAmount),
    rewardAmount: quantity.times(target.minus(expectedEntry).abs()),
    breakEven: breakEvenPrice(side, expectedEntry, quantity, input.commissionTotal ?? ZERO),
    bindingConstraint: quantityGiven ? "QUANTITY_GIVEN" : (sizing?.bindingConstraint ?? "RISK"),
    method,
    riskPercent,
    explanation: quantityGiven
      ? `Quantity given: ${quantity.toString()}.`
      : (sizing?.explanation ?? ""),
    sizing,
  };
  return { plan, size, violations, canConfirm: violations.length === 0 };
}
