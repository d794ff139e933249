import { describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import { DEFAULT_RISK_LIMITS, validateRiskLimits } from "../../domain/riskLimits";

describe("risk limits", () => {
  it("defaults to the original settings", () => {
    const d = DEFAULT_RISK_LIMITS;
    expect(d.riskPerTradePercent.toString()).toBe("1");
    expect(d.maxPositionPercent.toString()).toBe("5");
    expect(d.maxOpenPositions).toBe(10);
    expect(d.maxDailyLossPercent.toString()).toBe("3");
    expect(d.dailyLossWarningFraction.toString()).toBe("0.8");
    expect(d.maxTotalExposurePercent.toString()).toBe("80");
    expect(d.maxSectorExposurePercent.toString()).toBe("30");
    expect(d.maxSlippagePercent.toString()).toBe("0.5");
    expect(d.priceCollarPercent.toString()).toBe("5");
    expect(d.duplicateWindowMs).toBe(60_000);
    expect(d.minRewardToRisk.toString()).toBe("1.5");
    expect(d.maxOrdersPerMinute).toBe(30);
  });

  it("finds the defaults sound", () => {
    expect(validateRiskLimits(DEFAULT_RISK_LIMITS)).toEqual([]);
  });

  it("reports every unsound field", () => {
    const problems = validateRiskLimits({
      ...DEFAULT_RISK_LIMITS,
      riskPerTradePercent: dec("0"),
      maxPositionPercent: dec("100.01"),
      maxTotalExposurePercent: dec("400"),
      dailyLossWarningFraction: dec("1.2"),
      maxOpenPositions: -1,
      duplicateWindowMs: 1.5,
      minRewardToRisk: dec("-1"),
    });
    expect(problems.map((p) => p.field).sort()).toEqual(
      [
        "dailyLossWarningFraction",
        "duplicateWindowMs",
        "maxOpenPositions",
        "maxPositionPercent",
        "minRewardToRisk",
        "riskPerTradePercent",
      ].sort(),
    );
    expect(problems.every((p) => p.code === "INVALID_RISK_LIMIT")).toBe(true);
  });
});
