import DecimalJs from "decimal.js";

/**
 * The simulator's own decimal type: a private clone so nothing else in the process can change how
 * its prices, quantities and cash round. Deliberately not shared with the product's money module.
 */
export const Dec = DecimalJs.clone({
  precision: 40,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -40,
  toExpPos: 40,
});
export type Dec = DecimalJs;

export const ZERO: Dec = new Dec(0);

/** Parses a decimal from request input (string or JSON number); null when it is not a finite number. */
export function parseDec(value: unknown): Dec | null {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    return new Dec(String(value));
  }
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return null;
  return new Dec(text);
}

/** Alpaca's money format: plain decimal string without exponent or trailing zeros. */
export function fmt(value: Dec): string {
  return value.toFixed();
}

/** Money rounded to cents for account figures. */
export function cents(value: Dec): string {
  return value.toDecimalPlaces(2, DecimalJs.ROUND_HALF_EVEN).toFixed(2);
}

/** Alpaca's tick: pennies at or above $1, hundredths of a cent below. */
export function tickDecimals(price: Dec): number {
  return price.gte(1) ? 2 : 4;
}

/** Whether a price respects Alpaca's minimum price increment. */
export function isOnTick(price: Dec): boolean {
  return price.decimalPlaces() <= tickDecimals(price);
}

/** Rounds a price to the tick (used for trailing-stop levels and random-walk prices). */
export function roundToTick(price: Dec): Dec {
  return price.toDecimalPlaces(tickDecimals(price), DecimalJs.ROUND_HALF_EVEN);
}

export function minDec(a: Dec, b: Dec): Dec {
  return a.lt(b) ? a : b;
}

export function maxDec(a: Dec, b: Dec): Dec {
  return a.gt(b) ? a : b;
}
