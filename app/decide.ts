/**
 * Planning a trade into a decision: the same steps for every path that proposes one (the HTTP
 * API, the bot's /plan and alert approvals). Expected entry from the quote or the limit, default
 * target at 2R, plan validation, sizing from the account's risk rules, then every pre-trade check
 * against a fresh snapshot and the account's trading state. Pure: the caller loads the inputs.
 */
import type { Decimal } from "../domain/money";
import type { OrderSide } from "../domain/order";
import { type AccountSnapshot, checkOrder } from "../domain/riskChecks";
import type { RiskLimits } from "../domain/riskLimits";
import { type PositionSize, sizePosition } from "../domain/sizing";
import type { PositionSide } from "../domain/tick";
import { defaultTarget, perShareRisk, validateTradePlan } from "../domain/tradePlan";
import type { TradingState } from "../domain/tradingState";

/** A trade as proposed: the quantity may be left to the sizing rules. */
export interface TradeProposal {
  readonly symbol: string;
  readonly side: PositionSide;
  readonly entryType: "market" | "limit";
  /** Required for a limit entry, ignored for a market one. */
  readonly limitPrice: Decimal | null;
  readonly stop: Decimal;
  /** Null: 2R from the entry. */
  readonly target: Decimal | null;
  /** Null: the size the risk rules allow. */
  readonly quantity: Decimal | null;
}

/** A rule the proposal breaks: codes from the plan checks, sizing and the pre-trade checks. */
export interface PlanViolation {
  readonly code: string;
  readonly message: string;
}

/** A plan that passed every check, ready to be stored as a decision. */
export interface PlannedTrade {
  readonly symbol: string;
  readonly side: PositionSide;
  readonly orderSide: OrderSide;
  readonly entryType: "market" | "limit";
  readonly entryPrice: Decimal | null;
  /** The price the checks assumed: the limit, or the quote the entry would take. */
  readonly expectedEntry: Decimal;
  readonly stop: Decimal;
  readonly target: Decimal;
  readonly quantity: Decimal;
  readonly riskAmount: Decimal;
  /** What the risk rules would allow, for the trader to compare. */
  readonly sizing: PositionSize;
}

export type PlanOutcome =
  | { readonly ok: true; readonly plan: PlannedTrade }
  | { readonly ok: false; readonly violations: readonly PlanViolation[] };

/**
 * Plans a trade and runs every check on it, returning the plan or every violation found
 * (deduplicated by code, in the order found). `now` is epoch ms.
 */
export function planTrade(
  proposal: TradeProposal,
  snapshot: AccountSnapshot,
  limits: RiskLimits,
  tradingState: Pick<TradingState, "mode" | "reason">,
  now: number,
): PlanOutcome {
  const violations: PlanViolation[] = [];
  const add = (violation: PlanViolation) => {
    if (!violations.some((v) => v.code === violation.code)) violations.push(violation);
  };
  const orderSide: OrderSide = proposal.side === "long" ? "buy" : "sell";
  const { symbol, stop } = proposal;

  const quote = snapshot.quotes.get(symbol);
  const marketPrice =
    orderSide === "buy" ? (quote?.ask ?? quote?.last ?? null) : (quote?.bid ?? quote?.last ?? null);
  const expectedEntry =
    proposal.entryType === "limit" ? proposal.limitPrice : marketPrice?.gt(0) ? marketPrice : null;
  if (expectedEntry === null) {
    add(
      proposal.entryType === "limit"
        ? { code: "INVALID_PRICE", message: "A limit entry needs a limit price." }
        : { code: "NO_QUOTE", message: `There is no quote for ${symbol} to price a market entry.` },
    );
    return { ok: false, violations };
  }
  const target = proposal.target ?? defaultTarget(proposal.side, expectedEntry, stop);

  for (const problem of validateTradePlan(
    { symbol, side: proposal.side, entry: expectedEntry, stop, target },
    { minRewardToRisk: limits.minRewardToRisk },
  )) {
    add(problem);
  }

  const sized = sizePosition({
    method: "risk_percent",
    side: proposal.side,
    entry: expectedEntry,
    stop,
    target,
    equity: snapshot.equity,
    buyingPower: snapshot.buyingPower,
    riskPercent: limits.riskPerTradePercent,
    maxRiskPercent: limits.riskPerTradePercent,
    maxPositionPercent: limits.maxPositionPercent,
    fractional: false,
  });
  if (!sized.ok) {
    add({ code: sized.code, message: sized.message });
    return { ok: false, violations };
  }
  const quantity = proposal.quantity ?? sized.value.quantity;

  const verdict = checkOrder(
    {
      symbol,
      side: orderSide,
      type: proposal.entryType,
      quantity,
      limitPrice: proposal.entryType === "limit" ? proposal.limitPrice : null,
      stopLossPrice: stop,
      takeProfitPrice: target,
    },
    snapshot,
    limits,
    tradingState,
    now,
  );
  if (!verdict.ok) for (const violation of verdict.violations) add(violation);
  if (violations.length > 0) return { ok: false, violations };

  return {
    ok: true,
    plan: {
      symbol,
      side: proposal.side,
      orderSide,
      entryType: proposal.entryType,
      entryPrice: proposal.entryType === "limit" ? proposal.limitPrice : null,
      expectedEntry,
      stop,
      target,
      quantity,
      riskAmount: quantity.times(perShareRisk(expectedEntry, stop)),
      sizing: sized.value,
    },
  };
}
