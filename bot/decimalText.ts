/**
 * What a trader is told about writing numbers: `parseDecimal` reads a comma only where it groups
 * thousands (1,234.50) and refuses a decimal comma ("190,50"), and the refusal says so.
 */

/** What to say when a number's commas are not thousands separators. */
export const DECIMAL_POINT_HINT =
  "Write decimals with a dot (190.50); a comma may only separate thousands (1,234.50).";

/** Whether text that did not parse holds a comma, so the refusal can say how to write decimals. */
export function hasComma(text: string): boolean {
  return text.includes(",");
}
