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
