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
    ctx.issues.push({ code: "custom", message: "must be a price above zero", input: value });
    return z.NEVER;
  }
  return parsed;
});
