import DecimalJs from "decimal.js";

/**
 * Decimal arithmetic for prices, quantities and money. A private clone of decimal.js so no other
 * code's global configuration can change how our numbers round. Never convert to `number` for
 * arithmetic; `number` is only for display-free figures such as counts and ratios in benchmarks.
 */
export const Decimal = DecimalJs.clone({
  precision: 40,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -40,
  toExpPos: 40,
});
export type Decimal = DecimalJs;

/** What a decimal may be built from: a decimal string, an integer or exact literal, or a Decimal. */
export type DecimalInput = string | number | DecimalJs;

export const ZERO: Decimal = new Decimal(0);
export const ONE: Decimal = new Decimal(1);
export const HUNDRED: Decimal = new Decimal(100);

/** Builds a decimal from trusted input (code literals, database values); throws on non-finite input, which is a bug. */
export function dec(value: DecimalInput): Decimal {
  const d = new Decimal(value);
  if (!d.isFinite()) throw new RangeError(`not a finite decimal: ${String(value)}`);
  return d;
}

/** A sign, digits in groups of three split by commas, then an optional fraction after a dot. */
const THOUSANDS_GROUPED = /^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$/;

/**
 * Parses untrusted text (a trader's message, a webhook field) into a decimal, or null if it is
 * not a plain finite number. A leading `$` is allowed, and commas only between groups of three
 * digits (1,234.50): a decimal comma ("190,50") is refused, never read as a number a hundred
 * times larger.
 */
export function parseDecimal(text: string): Decimal | null {
  const trimmed = text.trim().replace(/^\$/, "");
  if (trimmed.includes(",") && !THOUSANDS_GROUPED.test(trimmed)) return null;
  const plain = trimmed.replace(/,/g, "");
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(plain)) return null;
  return new Decimal(plain);
}

/** Percent to fraction: 1.5 -> 0.015. */
export function percentToFraction(percent: Decimal): Decimal {
  return percent.div(HUNDRED);
}

/** Sum of decimals; zero for an empty list. */
export function sumDecimals(values: Iterable<Decimal>): Decimal {
  let total = ZERO;
  for (const v of values) total = total.plus(v);
  return total;
}

/** The smaller of two decimals. */
export function minDecimal(a: Decimal, b: Decimal): Decimal {
  return a.lte(b) ? a : b;
}

/** The larger of two decimals. */
export function maxDecimal(a: Decimal, b: Decimal): Decimal {
  return a.gte(b) ? a : b;
}

/** Formats money for people and for the broker: fixed decimals, no exponent (default 2). */
export function formatMoney(value: Decimal, decimals = 2): string {
  return value.toFixed(decimals, Decimal.ROUND_HALF_EVEN);
}
