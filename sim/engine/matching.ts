import { type Dec, minDec, roundToTick } from "./decimal";
import type { Quote, SimOrder } from "./types";

/** When the match runs: continuous trading, the opening auction, or the closing auction. */
export type MatchPhase = "continuous" | "open" | "close";

/** What an order may do against a quote right now. */
export type MatchDecision =
  | { kind: "fill"; price: Dec; qty: Dec }
  | { kind: "cancel" } // ioc/fok (or opg/cls) that cannot execute now
  | { kind: "wait" };

const HUNDRED = 100;

/** Moves a trailing stop's high-water mark and stop price with the last trade. Mutates the order. */
export function trailStop(order: SimOrder, last: Dec): void {
  if (order.type !== "trailing_stop" || order.stopTriggered) return;
  const sells = order.side === "sell";
  const hwm = order.hwm;
  if (!hwm || (sells ? last.gt(hwm) : last.lt(hwm))) order.hwm = last;
  const mark = order.hwm ?? last;
  const offset = order.trailPrice ?? roundToTick(mark.times(order.trailPercent ?? 0).div(HUNDRED));
  order.stopPrice = roundToTick(sells ? mark.minus(offset) : mark.plus(offset));
}

/** Whether a stop has been touched by the last trade (a gap through it counts). */
function stopTouched(order: SimOrder, quote: Quote): boolean {
  const stop = order.stopPrice;
  if (!stop) return false;
  return order.side === "buy" ? quote.last.gte(stop) : quote.last.lte(stop);
}

/**
 * Decides how an active order executes against the quote: market-like orders take the ask (buy)
 * or bid (sell), which is how a stop that gaps through fills at the gap price; limits fill when
 * the opposite side reaches them, at that side's price. `available` caps the size (liquidity).
 */
export function decide(
  order: SimOrder,
  quote: Quote,
  phase: MatchPhase,
  available: Dec | null,
  remaining: Dec,
): MatchDecision {
  if (order.timeInForce === "opg" && phase !== "open") return { kind: "wait" };
  if (order.timeInForce === "cls" && phase !== "close") return { kind: "wait" };
  trailStop(order, quote.last);
  const stopLike =
    order.type === "stop" || order.type === "stop_limit" || order.type === "trailing_stop";
  if (stopLike && !order.stopTriggered) {
    if (!stopTouched(order, quote)) return unfilled(order);
    order.stopTriggered = true;
  }
  const take = order.side === "buy" ? (quote.ask ?? quote.last) : (quote.bid ?? quote.last);
  const limitLike = order.type === "limit" || order.type === "stop_limit";
  if (limitLike) {
    const limit = order.limitPrice;
    if (!limit) return { kind: "wait" };
    const marketable = order.side === "buy" ? take.lte(limit) : take.gte(limit);
    if (!marketable) return unfilled(order);
  }
  const qty = available ? minDec(remaining, available) : remaining;
  if (qty.lte(0)) return unfilled(order);
  if (order.timeInForce === "fok" && qty.lt(remaining)) return { kind: "cancel" };
  return { kind: "fill", price: take, qty };
}

function unfilled(order: SimOrder): MatchDecision {
  const tif = order.timeInForce;
  return tif === "ioc" || tif === "fok" || tif === "opg" || tif === "cls"
    ? { kind: "cancel" }
    : { kind: "wait" };
}
