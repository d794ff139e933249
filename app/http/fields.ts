/** Request fields the HTTP routes share. */
import { z } from "zod";
import { type Decimal, parseDecimal, ZERO } from "../../domain/money";

/** A price above zero, sent as a decimal string or a JSON number, read as a `Decimal`. */
export const priceField = z.union([z.string(), z.number()]).transform((value, ctx): Decimal => {
  const parsed =
    typeof value === "number"
      ? Number.isFinite(value)
        ? parseDecimal(String(value))
        : null
      : parseDecimal(value);
  if (parsed === null || !parsed.gt(ZERO)) {
    // A decimal comma ("190,10") is refused, never read as 19010.
    const message =
      typeof value === "string" && value.includes(",")
        ? "must be a price above zero written with a dot for decimals, such as 190.10 or 1,234.50"
        : "must be a price above zero";
    ctx.issues.push({ code: "custom", message, input: value });
    return z.NEVER;
  }
  return parsed;
});
