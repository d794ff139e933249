import { Decimal, minDecimal, ZERO } from "./money";
import type { OrderSide } from "./order";
import { type Ok, ok, type Refusal, refuse } from "./outcome";
import type { PositionSide } from "./tick";

/**
 * A position in one symbol, at average cost.
 *
 * - `quantity` is signed: positive long, negative short, zero flat (as the broker's `qty`).
 * - `costBasis` is signed like the quantity: what the open quantity cost at entry, quantity x
 *   average entry price (negative for a short: what the short sale brought in). Keeping the total
 *   rather than the average keeps round trips exact: a close takes out exactly the cost that went
 *   in, so the realized P&L of a round trip equals its cash flow to the cent and beyond.
 * - `realizedPnl` is net of commissions; `commissions` is the total paid, already deducted.
 */
export interface Position {
  readonly symbol: string;
  readonly quantity: Decimal;
  readonly costBasis: Decimal;
  readonly realizedPnl: Decimal;
  readonly commissions: Decimal;
}

/**
 * Decimal places of the cost taken out by a partial close. A share of the cost can be a
 * non-terminating quotient; rounding it to a fixed (far sub-cent) place rather than to significant
 * digits keeps every later sum and difference exact, so nothing drifts between fills.
 */
export const COST_SHARE_DECIMALS = 20;

/** One execution as a position sees it. */
export interface PositionFill {
  readonly side: OrderSide;
  /** This execution's quantity, positive. */
  readonly quantity: Decimal;
  readonly price: Decimal;
  /** Commission on this execution, zero or more; zero when absent. */
  readonly commission?: Decimal;
}

/** What a fill did to a position. */
export interface PositionFillApplied {
  readonly position: Position;
  /** Realized by this fill on the closed part, net of this fill's commission. */
  readonly realizedPnl: Decimal;
  /** Quantity this fill closed (unsigned). */
  readonly closedQuantity: Decimal;
  /** Quantity this fill opened or added (unsigned); after a flip, the new side's quantity. */
  readonly openedQuantity: Decimal;
  /** Whether the fill crossed zero: closed the old side and opened the other. */
  readonly flipped: boolean;
}

export type PositionFillRefusalCode = "INVALID_FILL";

/** A flat position with nothing realized. */
export function flatPosition(symbol: string): Position {
  return { symbol, quantity: ZERO, costBasis: ZERO, realizedPnl: ZERO, commissions: ZERO };
}

/** The fill's quantity signed as a position change: positive for a buy, negative for a sell. */
export function signedFillQuantity(side: OrderSide, quantity: Decimal): Decimal {
  return side === "buy" ? quantity : quantity.neg();
}

/** Long, short, or null when flat. */
export function positionSide(position: Position): PositionSide | null {
  if (position.quantity.isZero()) return null;
  return position.quantity.isPositive() ? "long" : "short";
}

/** Average entry price of the open quantity (always positive); null when flat. */
export function averageEntryPrice(position: Position): Decimal | null {
  if (position.quantity.isZero()) return null;
  return position.costBasis.div(position.quantity);
}

/** Market value at a mark price, signed like the quantity (negative for a short, as the broker reports it). */
export function marketValue(position: Position, markPrice: Decimal): Decimal {
  return position.quantity.times(markPrice);
}

/** Unrealized P&L at a mark price: market value minus cost basis (a short gains as the price falls). */
export function unrealizedPnl(position: Position, markPrice: Decimal): Decimal {
  return marketValue(position, markPrice).minus(position.costBasis);
}

/**
 * Applies one execution to a position at average cost, for longs and shorts alike: opening or
 * scaling in adds to the cost basis; scaling out realizes (price - average cost) on the closed part
 * (reversed for a short); closing realizes the rest. A fill that crosses zero is split: it
 * realizes the closing part and opens the remainder on the other side at the fill price. The
 * commission always reduces realized P&L, on opening fills too, so realized P&L is the position's
 * whole cash result once it is flat.
 */
export function applyFillToPosition(
  position: Position,
  fill: PositionFill,
): Ok<PositionFillApplied> | Refusal<PositionFillRefusalCode> {
  const commission = fill.commission ?? ZERO;
  if (
    !fill.quantity.isFinite() ||
    fill.quantity.lte(0) ||
    !fill.price.isFinite() ||
    fill.price.lte(0) ||
    !commission.isFinite() ||
    commission.isNegative()
  ) {
    return refuse(
      "INVALID_FILL",
      `a ${position.symbol} fill needs a positive quantity and price and a commission of zero or more`,
    );
  }

  const change = signedFillQuantity(fill.side, fill.quantity);
  const held = position.quantity;
  const reducing = !held.isZero() && held.isPositive() !== change.isPositive();
  const closedQuantity = reducing ? minDecimal(fill.quantity, held.abs()) : ZERO;
  const closingChange = signedFillQuantity(fill.side, closedQuantity);
  const openingChange = change.minus(closingChange);

  // The closed part takes out its share of the cost; closing everything takes out all of it, so
  // the rounding of a non-terminating share stays inside the position and vanishes at flat.
  const removedCost = closedQuantity.isZero()
    ? ZERO
    : closedQuantity.eq(held.abs())
      ? position.costBasis
      : position.costBasis
          .times(closedQuantity)
          .div(held.abs())
          .toDecimalPlaces(COST_SHARE_DECIMALS, Decimal.ROUND_HALF_EVEN);
  // Cash from the closing part is -price x change (a sale brings money in).
  const grossRealized = closedQuantity.isZero()
    ? ZERO
    : fill.price.times(closingChange).neg().minus(removedCost);
  const realizedPnl = grossRealized.minus(commission);

  return ok({
    position: {
      symbol: position.symbol,
      quantity: held.plus(change),
      costBasis: position.costBasis.minus(removedCost).plus(fill.price.times(openingChange)),
      realizedPnl: position.realizedPnl.plus(realizedPnl),
      commissions: position.commissions.plus(commission),
    },
    realizedPnl,
    closedQuantity,
    openedQuantity: openingChange.abs(),
    flipped: reducing && !openingChange.isZero(),
  });
}
