import type { Dec } from "./decimal";
import type { Position } from "./types";

/**
 * A position after one execution of `signedQty` (negative sells) at `price`, or null when it is
 * flat. Adding keeps the total cost; reducing keeps the average price; crossing through flat
 * opens the rest the other way at this price.
 */
export function positionAfter(
  current: Position | undefined,
  symbol: string,
  signedQty: Dec,
  price: Dec,
): Position | null {
  if (!current || current.qty.isZero()) {
    return { symbol, qty: signedQty, costBasis: signedQty.times(price), lastdayPrice: null };
  }
  const qty = current.qty.plus(signedQty);
  if (qty.isZero()) return null;
  if (current.qty.isNeg() === signedQty.isNeg()) {
    return { ...current, qty, costBasis: current.costBasis.plus(signedQty.times(price)) };
  }
  if (signedQty.abs().lte(current.qty.abs())) {
    return { ...current, qty, costBasis: current.costBasis.times(qty).div(current.qty) };
  }
  return { symbol, qty, costBasis: qty.times(price), lastdayPrice: null };
}
