/** Request fields the HTTP routes share. */
import { z } from "zod";
import { type Decimal, parseDecimal, ZERO } from "../../domain/money";
import { tickPriceWithinNoise } from "../../domain/tick";

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

/**
 * A price the order will carry as it is: on the broker's tick grid. A price within floating-point
 * noise of a tick (190.10000000000002 from a sender computing in binary floating point) is read
 * as that tick; one really off the grid (190.105) is refused, saying what to send, never moved.
 */
export const tickPriceField = priceField.transform((price, ctx): Decimal => {
  const tick = tickPriceWithinNoise(price);
  if (tick === null) {
    ctx.issues.push({
      code: "custom",
      message: `must be on the broker's price grid: whole cents at or above $1 (such as 190.10), at most 4 decimals below $1 (such as 0.1234); got ${price.toFixed()}`,
      input: price.toFixed(),
    });
    return z.NEVER;
  }
  return tick;
});
