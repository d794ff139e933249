import { describe, expect, it } from "vitest";
import { closingQuantity, readCloseArguments } from "../../../bot/features/closePosition";
import { closeSubject, readCloseSubject } from "../../../bot/keyboards/tradingConfirmations";
import { dec } from "../../../domain/money";

describe("/close arguments", () => {
  it("reads a symbol and an optional percentage", () => {
    expect(readCloseArguments("aapl")).toEqual({ symbol: "AAPL", percent: null });
    expect(readCloseArguments(" BRK.B  12.5% ")).toEqual({ symbol: "BRK.B", percent: "12.5" });
    expect(readCloseArguments("AAPL 100")).toEqual({ symbol: "AAPL", percent: null });
  });

  it("refuses what is not a close", () => {
    for (const text of ["", "AAPL 0", "AAPL 101", "AAPL -5", "AAPL x", "AAPL 50 more", "<b>"]) {
      expect(readCloseArguments(text)).toHaveProperty("error");
    }
  });

  it("refuses a decimal comma rather than closing ten times more", () => {
    for (const text of ["AAPL 0,5", "AAPL 1,5%", "AAPL 50,5"]) {
      expect(readCloseArguments(text), text).toEqual({
        error:
          "The percentage must be above 0 and at most 100, such as 50 or 12.5. Write decimals with a dot (190.50); a comma may only separate thousands (1,234.50).",
      });
    }
  });

  it("closes whole shares of a whole-share position, rounding down", () => {
    expect(closingQuantity(dec("100"), "50").toString()).toBe("50");
    expect(closingQuantity(dec("7"), "50").toString()).toBe("3");
    expect(closingQuantity(dec("1"), "10").toString()).toBe("0");
    expect(closingQuantity(dec("2.5"), "50").toString()).toBe("1.25");
    expect(closingQuantity(dec("100"), null).toString()).toBe("100");
  });

  it("carries position and percentage in the button and reads them back", () => {
    expect(readCloseSubject(closeSubject(42, "12.5"))).toEqual({ positionId: 42, percent: "12.5" });
    expect(readCloseSubject(closeSubject(42, null))).toEqual({ positionId: 42, percent: null });
    expect(readCloseSubject("42-lots")).toBeNull();
  });
});
