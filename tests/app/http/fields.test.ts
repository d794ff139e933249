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
});
