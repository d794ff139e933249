import { describe, expect, it } from "vitest";
import { changeKillSwitch, changeLimit, killSwitchFieldOf } from "../../../bot/features/limits";
import { DEFAULT_KILL_SWITCH_SETTINGS } from "../../../db/killSwitchSettings";
import { DEFAULT_RISK_LIMITS } from "../../../domain/riskLimits";

describe("changing a limit from text", () => {
  it("changes one field, decimals exactly, counts as whole numbers, names in any case", () => {
    const changed = changeLimit(DEFAULT_RISK_LIMITS, "riskpertradepercent", "0.35%");
    expect("limits" in changed && changed.limits.riskPerTradePercent.toString()).toBe("0.35");
    const counted = changeLimit(DEFAULT_RISK_LIMITS, "maxOpenPositions", "4");
    expect("limits" in counted && counted.limits.maxOpenPositions).toBe(4);
  });

  it("refuses a decimal comma rather than storing a limit ten times larger", () => {
    const hint =
      "Write decimals with a dot (190.50); a comma may only separate thousands (1,234.50).";
    expect(changeLimit(DEFAULT_RISK_LIMITS, "riskPerTradePercent", "0,5")).toEqual({
      error: `0,5 is not a number. ${hint}`,
    });
    expect(changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "maxDrawdownPercent", "7,5")).toEqual({
      error: `7,5 is not a number. ${hint} Type /limits maxDrawdownPercent 8 (percent below the peak) or off.`,
    });
    const grouped = changeLimit(DEFAULT_RISK_LIMITS, "duplicateWindowMs", "60,000");
    expect("limits" in grouped && grouped.limits.duplicateWindowMs).toBe(60000);
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

describe("changing a kill switch from text", () => {
  it("finds the setting in any case and leaves risk-limit names alone", () => {
    expect(killSwitchFieldOf("LOSSSTREAKCOUNT")).toBe("lossStreakCount");
    expect(killSwitchFieldOf("riskPerTradePercent")).toBeNull();
  });

  it("turns switches on and off, reads percents exactly and counts as numbers", () => {
    const on = changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "flattenOnHalt", "ON");
    expect("settings" in on && on.settings.flattenOnHalt).toBe(true);
    const drawdown = changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "maxDrawdownPercent", "7.5%");
    expect("settings" in drawdown && drawdown.settings.maxDrawdownPercent?.toString()).toBe("7.5");
    const off = changeKillSwitch(
      { ...DEFAULT_KILL_SWITCH_SETTINGS, lossStreakCount: 3 },
      "lossStreakCount",
      "off",
    );
    expect("settings" in off && off.settings.lossStreakCount).toBeNull();
    const pause = changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "lossStreakPauseMinutes", "90");
    expect("settings" in pause && pause.settings.lossStreakPauseMinutes).toBe(90);
  });

  it("says what to type", () => {
    expect(changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "lossStreakCount", "many")).toEqual({
      error: "many is not a number. Type /limits lossStreakCount 3 (stop-outs) or off.",
    });
    expect(
      changeKillSwitch(DEFAULT_KILL_SWITCH_SETTINGS, "lossStreakWindowMinutes", "off"),
    ).toEqual({
      error:
        "lossStreakWindowMinutes cannot be off; turn the breaker off with /limits lossStreakCount off.",
    });
  });
});
