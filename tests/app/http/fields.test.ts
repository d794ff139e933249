import { describe, expect, it } from "vitest";
import { priceField, tickPriceField } from "../../../app/http/fields";

describe("priceField", () => {
  it("reads a decimal string or a JSON number as an exact Decimal", () => {
    expect(priceField.parse("190.10").toString()).toBe("190.1");
    expect(priceField.parse(0.1).toString()).toBe("0.1");
    expect(priceField.parse("0.0001").toFixed(4)).toBe("0.0001");
  });

  it("refuses zero, negatives and words with one message, and numbers that are not finite", () => {
    for (const value of ["0", -1, "abc", ""]) {
      const parsed = priceField.safeParse(value);
      expect(parsed.success, String(value)).toBe(false);
      expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([
        "must be a price above zero",
      ]);
    }
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(priceField.safeParse(value).success, String(value)).toBe(false);
    }
  });

  it("reads a comma only as a thousands separator, refusing a decimal comma", () => {
    expect(priceField.parse("1,234.50").toString()).toBe("1234.5");
    for (const value of ["190,10", "0,5", "1.234,50"]) {
      const parsed = priceField.safeParse(value);
      expect(parsed.success, value).toBe(false);
      expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([
        "must be a price above zero written with a dot for decimals, such as 190.10 or 1,234.50",
      ]);
    }
  });
});

describe("tickPriceField", () => {
  it("reads a price within floating-point noise of a tick as that tick", () => {
    expect(tickPriceField.parse(190.10000000000002).toFixed()).toBe("190.1");
    expect(tickPriceField.parse("186.09999999999997").toFixed()).toBe("186.1");
    expect(tickPriceField.parse(0.1 + 0.2).toFixed()).toBe("0.3");
  });

  it("refuses a price off the grid, saying what to send", () => {
    const parsed = tickPriceField.safeParse(190.105);
    expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([
      "must be on the broker's price grid: whole cents at or above $1 (such as 190.10), at most 4 decimals below $1 (such as 0.1234); got 190.105",
    ]);
    expect(tickPriceField.safeParse("0.00005").success).toBe(false);
  });
});
