/**
 * Numbers as people type them. `parseDecimal` drops every comma, so a decimal comma ("190,50",
 * "0,5") would silently become a number a hundred or ten times larger; here a comma is read only
 * where it groups thousands (1,234.50), and anything else with a comma is refused.
 */
import { type Decimal, parseDecimal } from "../domain/money";

/** A sign, digits in groups of three split by commas, then an optional fraction after a dot. */
const THOUSANDS_GROUPED = /^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$/;

/** What to say when a number's commas are not thousands separators. */
export const DECIMAL_POINT_HINT =
  "Write decimals with a dot (190.50); a comma may only separate thousands (1,234.50).";

/**
 * Parses a decimal a person typed (a leading $ and thousands commas allowed), or null when it is
 * not a plain finite number or a comma stands anywhere but between groups of three digits.
 */
export function parseTypedDecimal(text: string): Decimal | null {
  const trimmed = text.trim();
  if (trimmed.includes(",") && !THOUSANDS_GROUPED.test(trimmed.replace(/^\$/, ""))) return null;
  return parseDecimal(trimmed);
}

/** Whether text that did not parse holds a comma, so the refusal can say how to write decimals. */
export function hasComma(text: string): boolean {
  return text.includes(",");
}
