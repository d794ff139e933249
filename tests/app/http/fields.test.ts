import { describe, expect, it } from "vitest";
import { priceField } from "../../../app/http/fields";

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
