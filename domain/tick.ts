import { Decimal, type Decimal as DecimalValue, ONE, ZERO } from "./money";

const CENT = new Decimal("0.01");
const HUNDREDTH_OF_CENT = new Decimal("0.0001");

/** How a price is moved onto the tick grid. */
export type TickRounding = "up" | "down" | "nearest";

/** The side of a position: long profits when the price rises, short when it falls. */
export type PositionSide = "long" | "short";

/** The broker's minimum price increment: a cent at or above $1, a hundredth of a cent below. */
export function tickSizeFor(price: DecimalValue): DecimalValue {
  return price.gte(ONE) ? CENT : HUNDREDTH_OF_CENT;
}

/** Whether a price is already a whole number of ticks (the broker rejects sub-penny prices with 422). */
export function isOnTick(price: DecimalValue): boolean {
  return price.mod(tickSizeFor(price)).isZero();
}

/**
 * Moves a price onto the tick grid. The tick is chosen from the rounded price, so a price just
 * under $1 that rounds up to $1.00 lands on a cent.
 */
export function roundToTick(price: DecimalValue, mode: TickRounding): DecimalValue {
  const rounding =
    mode === "up"
      ? Decimal.ROUND_CEIL
      : mode === "down"
        ? Decimal.ROUND_FLOOR
        : Decimal.ROUND_HALF_UP;
  const fine = price.toNearest(HUNDREDTH_OF_CENT, rounding);
  if (fine.lt(ONE)) return fine;
  return price.toNearest(CENT, rounding);
}

/**
 * How far from a tick, relative to the price, a price still counts as that tick printed from
 * binary floating point (190.10000000000002 for 190.10). Double precision errs by about 1e-16 per
 * operation, so this leaves room for long computations while staying far below half a tick for
 * any price under $5,000,000 (a real sub-penny price such as 190.105 is never taken for a tick).
 */
const FLOAT_NOISE = new Decimal("1e-9");

/**
 * The tick a price means: the price itself when on the grid, the nearest tick when the price is
 * within floating-point noise of it, else null (a price really off the grid, to be refused rather
 * than moved to a price nobody asked for).
 */
export function tickPriceWithinNoise(price: DecimalValue): DecimalValue | null {
  if (!price.gt(ZERO)) return null;
  if (isOnTick(price)) return price;
  const nearest = roundToTick(price, "nearest");
  if (!nearest.gt(ZERO)) return null;
  return price.minus(nearest).abs().lte(price.times(FLOAT_NOISE)) ? nearest : null;
}

/**
 * Rounds a stop onto the tick grid toward the entry (up for a long, down for a short), so the
 * rounded stop never risks more per share than the one asked for.
 */
export function roundStopPrice(side: PositionSide, stop: DecimalValue): DecimalValue {
  return roundToTick(stop, side === "long" ? "up" : "down");
}

/**
 * Rounds a target onto the tick grid toward the entry (down for a long, up for a short), so the
 * reward is never overstated and the order is not further away than asked.
 */
export function roundTargetPrice(side: PositionSide, target: DecimalValue): DecimalValue {
  return roundToTick(target, side === "long" ? "down" : "up");
}

/**
 * Rounds an entry limit onto the tick grid in the trader's favour (down for a buy, up for a
 * short sale), so the order never pays more than asked.
 */
export function roundEntryPrice(side: PositionSide, entry: DecimalValue): DecimalValue {
  return roundToTick(entry, side === "long" ? "down" : "up");
}

/** Fractional shares: Alpaca accepts up to 9 decimal places. */
export const FRACTIONAL_QUANTITY_DECIMALS = 9;

/** Rounds a quantity down (never up: a larger size is a larger risk) to whole or fractional shares. */
export function roundQuantityDown(quantity: DecimalValue, fractional: boolean): DecimalValue {
  return quantity.toDecimalPlaces(
    fractional ? FRACTIONAL_QUANTITY_DECIMALS : 0,
    Decimal.ROUND_DOWN,
  );
}
