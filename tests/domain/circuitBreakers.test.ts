import { describe, expect, it } from "vitest";
import {
  DEFAULT_CIRCUIT_BREAKERS,
  evaluateDrawdown,
  evaluateLossStreak,
  MAX_DRAWDOWN_DAYS,
  MAX_STREAK_MINUTES,
  validateCircuitBreakers,
} from "../../domain/circuitBreakers";
import { dec } from "../../domain/money";

const MIN = 60_000;

describe("drawdown from the peak", () => {
  it("is off by default", () => {
    expect(evaluateDrawdown([dec("200")], dec("100"), DEFAULT_CIRCUIT_BREAKERS)).toEqual({
      tripped: false,
    });
  });

  it("trips at the limit below the highest recent equity, not before", () => {
    const settings = { maxDrawdownPercent: dec("10") };
    const equities = [dec("100000"), dec("110000"), dec("104000")];
    expect(evaluateDrawdown(equities, dec("99001"), settings).tripped).toBe(false);
    const verdict = evaluateDrawdown(equities, dec("99000"), settings);
    expect(verdict).toMatchObject({ tripped: true, code: "MAX_DRAWDOWN" });
    if (verdict.tripped) expect(verdict.message).toContain("10.00%");
  });

  it("treats a new high as the peak", () => {
    const settings = { maxDrawdownPercent: dec("5") };
    expect(evaluateDrawdown([dec("100")], dec("120"), settings).tripped).toBe(false);
  });
});

describe("loss-streak cooldown", () => {
  const settings = { lossStreakCount: 3, lossStreakWindowMinutes: 60, lossStreakPauseMinutes: 30 };

  it("is off by default", () => {
    expect(evaluateLossStreak([1, 2, 3, 4], 5, DEFAULT_CIRCUIT_BREAKERS).tripped).toBe(false);
  });

  it("pauses after N stop-outs within the window, until the pause ends", () => {
    const times = [0, 20 * MIN, 50 * MIN];
    const during = evaluateLossStreak(times, 60 * MIN, settings);
    expect(during).toMatchObject({ tripped: true, code: "LOSS_STREAK", pausedUntil: 80 * MIN });
    expect(evaluateLossStreak(times, 80 * MIN, settings).tripped).toBe(false);
  });

  it("does not count stop-outs spread wider than the window", () => {
    expect(evaluateLossStreak([0, 40 * MIN, 61 * MIN], 62 * MIN, settings).tripped).toBe(false);
  });

  it("ignores stop-outs after now and fewer than N", () => {
    expect(evaluateLossStreak([0, 10 * MIN], 11 * MIN, settings).tripped).toBe(false);
    expect(evaluateLossStreak([0, 10 * MIN, 20 * MIN], 15 * MIN, settings).tripped).toBe(false);
  });
});

describe("validating breaker settings", () => {
  it("accepts the defaults and breakers switched on within range", () => {
    expect(validateCircuitBreakers(DEFAULT_CIRCUIT_BREAKERS)).toEqual([]);
    expect(
      validateCircuitBreakers({
        maxDrawdownPercent: dec("8"),
        drawdownDays: 5,
        lossStreakCount: 3,
        lossStreakWindowMinutes: 120,
        lossStreakPauseMinutes: 60,
      }),
    ).toEqual([]);
    expect(
      validateCircuitBreakers({ ...DEFAULT_CIRCUIT_BREAKERS, maxDrawdownPercent: dec("100") }),
    ).toEqual([]);
  });

  it("names each unusable field and says what to type", () => {
    const problems = validateCircuitBreakers({
      maxDrawdownPercent: dec("0"),
      drawdownDays: 0,
      lossStreakCount: 2.5,
      lossStreakWindowMinutes: MAX_STREAK_MINUTES + 1,
      lossStreakPauseMinutes: -1,
    });
    expect(problems.map((p) => p.field)).toEqual([
      "maxDrawdownPercent",
      "drawdownDays",
      "lossStreakCount",
      "lossStreakWindowMinutes",
      "lossStreakPauseMinutes",
    ]);
    expect(problems[0]?.message).toBe(
      "maxDrawdownPercent must be above 0% and at most 100% (e.g. 8), or off.",
    );
    expect(problems.every((p) => p.code === "INVALID_KILL_SWITCH_SETTING")).toBe(true);
  });

  it("refuses a drawdown above 100% and more days than it looks back", () => {
    expect(
      validateCircuitBreakers({ ...DEFAULT_CIRCUIT_BREAKERS, maxDrawdownPercent: dec("100.01") }),
    ).toHaveLength(1);
    expect(
      validateCircuitBreakers({ ...DEFAULT_CIRCUIT_BREAKERS, drawdownDays: MAX_DRAWDOWN_DAYS + 1 }),
    ).toHaveLength(1);
    expect(
      validateCircuitBreakers({ ...DEFAULT_CIRCUIT_BREAKERS, lossStreakCount: 0 }),
    ).toHaveLength(1);
  });
});
