import { describe, expect, it } from "vitest";
import { changeLimit } from "../../../bot/features/limits";
import { DEFAULT_RISK_LIMITS } from "../../../domain/riskLimits";

describe("changing a limit from text", () => {
  it("changes one field, decimals exactly, counts as whole numbers, names in any case", () => {
    const changed = changeLimit(DEFAULT_RISK_LIMITS, "riskpertradepercent", "0.35%");
    expect("limits" in changed && changed.limits.riskPerTradePercent.toString()).toBe("0.35");
    const counted = changeLimit(DEFAULT_RISK_LIMITS, "maxOpenPositions", "4");
    expect("limits" in counted && counted.limits.maxOpenPositions).toBe(4);
  });

  it("says what is wrong", () => {
    expect(changeLimit(DEFAULT_RISK_LIMITS, "nope", "1")).toEqual({
      error: "There is no limit called nope.",
    });
    expect(changeLimit(DEFAULT_RISK_LIMITS, "maxOpenPositions", "2.5")).toEqual({
      error: "maxOpenPositions must be a whole number.",
    });
    expect(changeLimit(DEFAULT_RISK_LIMITS, "riskPerTradePercent", "lots")).toEqual({
      error: "lots is not a number.",
    });
  });
});
