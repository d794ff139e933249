/**
 * How numbers and times look in messages. Every figure passes through Decimal (never a float):
 * money with two decimals and a sign where it is a gain or loss, prices as the broker has them,
 * times in the reader's display time zone.
 */
import { roundAveragePrice } from "../../domain/averagePrice";
import { Decimal, type DecimalInput, formatMoney } from "../../domain/money";

/** A decimal from a stored string or a Decimal. */
function toDecimal(value: DecimalInput): Decimal {
  return value instanceof Decimal ? value : new Decimal(value);
}

/** Thousands separators on the integer part of a plain decimal string. */
function groupThousands(text: string): string {
  const [whole = "", fraction] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/**
 * The sign of an amount as shown rounded (`shown`, its absolute value written out): -1, 0 or 1.
 * What rounds to zero has none, so -0.004 never reads "-$0.00".
 */
function shownSign(amount: Decimal, shown: string): number {
  return new Decimal(shown).isZero() ? 0 : amount.isNegative() ? -1 : 1;
}

/** Dollars: `$1,234.50`, `-$80.00`. */
export function usd(value: DecimalInput): string {
  const amount = toDecimal(value);
  const shown = formatMoney(amount.abs());
  const text = groupThousands(shown);
  return shownSign(amount, shown) < 0 ? `-$${text}` : `$${text}`;
}

/** A gain or loss: `+$120.00`, `-$80.00`, `$0.00`. */
export function pnl(value: DecimalInput): string {
  const amount = toDecimal(value);
  return shownSign(amount, formatMoney(amount.abs())) > 0 ? `+${usd(amount)}` : usd(amount);
}

/** A price as stored: at least two decimals, no exponent, sub-cent digits kept (`0.1234`). */
export function price(value: DecimalInput): string {
  const amount = toDecimal(value);
  const places = Math.max(2, amount.decimalPlaces());
  return groupThousands(amount.toFixed(places));
}

/**
 * An average of fills (cost / quantity, which need not terminate): four decimals at most, as
 * `price` otherwise (`190.1167`, `200.00`).
 */
export function averagePrice(value: DecimalInput): string {
  return price(roundAveragePrice(toDecimal(value)));
}

/** A quantity without trailing zeros (`10`, `2.5`). */
export function quantity(value: DecimalInput): string {
  return toDecimal(value).toFixed();
}

/** A percentage with two decimals and its sign: `+1.25%`. */
export function signedPercent(value: DecimalInput): string {
  const amount = toDecimal(value);
  const shown = amount.abs().toFixed(2);
  const sign = ["-", "", "+"][shownSign(amount, shown) + 1];
  return `${sign}${shown}%`;
}

/** An R multiple with its sign: `+2.00R`. */
export function rMultiple(value: DecimalInput): string {
  const amount = toDecimal(value);
  const shown = amount.abs().toFixed(2);
  const sign = ["-", "", "+"][shownSign(amount, shown) + 1];
  return `${sign}${shown}R`;
}

/** Whether a text names a time zone this runtime knows (IANA names, `UTC`). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A moment in a time zone: `2026-03-02 09:35` (24-hour clock). */
export function dateTime(moment: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(moment);
  const part = (type: Intl.DateTimeFormatPartTypes) =>
    parts.find((candidate) => candidate.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")}`;
}
