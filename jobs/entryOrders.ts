/**
 * From a decision to the orders that carry it out: the broker request (a native bracket when it
 * can be one, else a simple entry that the protect job covers fill by fill) and the rows recorded
 * before it is sent. Client order ids derive from the decision id, so a retry finds, never
 * repeats, the order.
 */
import type { Decision } from "../db/decisions";
import type { NewTradeEntry } from "../db/trades";
import type { GroupEntry, OrderRequest } from "../domain/broker";
import type { Decimal } from "../domain/money";
import { createOrder, type OrderSide } from "../domain/order";
import {
  type PositionSide,
  roundEntryPrice,
  roundStopPrice,
  roundTargetPrice,
} from "../domain/tick";

/** The client order id of a decision's entry. */
export function entryClientOrderId(decisionId: number): string {
  return `d${decisionId}-entry`;
}

/** The side that closes a position opened on `side`. */
export function exitSideOf(side: OrderSide): OrderSide {
  return side === "buy" ? "sell" : "buy";
}

export function positionSideOf(side: OrderSide): PositionSide {
  return side === "buy" ? "long" : "short";
}

/** Whether the decision goes out as a native bracket (the broker's rules: whole shares, day/gtc, a target). */
export function sendsAsBracket(decision: Decision, nativeBrackets: boolean): boolean {
  return (
    nativeBrackets &&
    decision.targetPrice !== null &&
    (decision.timeInForce === "day" || decision.timeInForce === "gtc") &&
    decision.quantity.isInteger() &&
    (decision.entryType === "market" || decision.entryType === "limit")
  );
}

interface DecisionPrices {
  readonly entry: Decimal | null;
  readonly stop: Decimal;
  readonly target: Decimal | null;
}

/** The decision's prices on the broker's tick, each rounded the safe way for its role. */
export function decisionPrices(decision: Decision): DecisionPrices {
  const side = positionSideOf(decision.side);
  return {
    entry:
      decision.entryType === "limit" && decision.entryPrice !== null
        ? roundEntryPrice(side, decision.entryPrice)
        : null,
    stop: roundStopPrice(side, decision.stopPrice),
    target: decision.targetPrice === null ? null : roundTargetPrice(side, decision.targetPrice),
  };
}

/** The broker request for a decision's entry. */
export function entryRequestFor(decision: Decision, bracket: boolean): OrderRequest {
  const prices = decisionPrices(decision);
  const entry: GroupEntry =
    prices.entry === null ? { type: "market" } : { type: "limit", limitPrice: prices.entry };
  const common = {
    clientOrderId: entryClientOrderId(decision.id),
    symbol: decision.symbol,
    side: decision.side,
    qty: decision.quantity,
    timeInForce: decision.timeInForce,
  };
  if (bracket && prices.target !== null) {
    return {
      ...common,
      orderClass: "bracket",
      entry,
      takeProfit: { limitPrice: prices.target },
      stopLoss: { stopPrice: prices.stop },
    };
  }
  return { ...common, orderClass: "simple", entry };
}

/**
 * The trade, entry and (for a bracket) leg rows to record before sending. `plannedEntry` is the
 * limit, or for a market entry the price it is expected to fill at.
 */
export function tradeEntryFor(
  decision: Decision,
  bracket: boolean,
  plannedEntry: Decimal,
  at: Date,
): NewTradeEntry {
  const prices = decisionPrices(decision);
  const iso = at.toISOString();
  const orderClass = bracket ? ("bracket" as const) : ("simple" as const);
  const exitSide = exitSideOf(decision.side);
  const base = { symbol: decision.symbol, timeInForce: decision.timeInForce, orderClass };
  const legs: NonNullable<NewTradeEntry["legs"]> =
    bracket && prices.target !== null
      ? [
          {
            order: createOrder(
              {
                ...base,
                clientOrderId: `d${decision.id}-sl`,
                side: exitSide,
                type: "stop",
                role: "STOP_LOSS",
                quantity: decision.quantity,
                limitPrice: null,
                stopPrice: prices.stop,
              },
              iso,
              "held",
            ),
            expectedPrice: prices.stop,
          },
          {
            order: createOrder(
              {
                ...base,
                clientOrderId: `d${decision.id}-tp`,
                side: exitSide,
                type: "limit",
                role: "TAKE_PROFIT",
                quantity: decision.quantity,
                limitPrice: prices.target,
                stopPrice: null,
              },
              iso,
              "held",
            ),
            expectedPrice: prices.target,
          },
        ]
      : [];
  return {
    accountId: decision.accountId,
    decisionId: decision.id,
    plan: {
      symbol: decision.symbol,
      side: positionSideOf(decision.side),
      plannedEntryPrice: plannedEntry,
      plannedStopPrice: prices.stop,
      plannedTargetPrice: prices.target,
      plannedQuantity: decision.quantity,
      plannedRisk: decision.riskAmount,
    },
    entry: {
      order: createOrder(
        {
          ...base,
          clientOrderId: entryClientOrderId(decision.id),
          side: decision.side,
          type: prices.entry === null ? "market" : "limit",
          role: "ENTRY",
          quantity: decision.quantity,
          limitPrice: prices.entry,
          stopPrice: null,
        },
        iso,
      ),
      expectedPrice: plannedEntry,
    },
    legs,
  };
}
