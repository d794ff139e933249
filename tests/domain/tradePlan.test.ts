import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decimal, dec } from "../../domain/money";
import { isOnTick } from "../../domain/tick";
import {
  accountRecoveryPercent,
  breakEvenPrice,
  defaultTarget,
  perShareReward,
  perShareRisk,
  rewardToRisk,
  type TradePlan,
  validateTradePlan,
} from "../../domain/tradePlan";

function plan(overrides: Partial<TradePlan> = {}): TradePlan {
  return {
    symbol: "AAPL",
    side: "long",
    entry: dec("190.10"),
    stop: dec("185.00"),
    target: dec("205.00"),
    ...overrides,
  };
}

function codes(p: TradePlan, minRewardToRisk?: string): string[] {
  const rules = minRewardToRisk === undefined ? {} : { minRewardToRisk: dec(minRewardToRisk) };
  return validateTradePlan(p, rules).map((problem) => problem.code);
}

describe("per-share risk and reward", () => {
  it("are absolute distances for longs and shorts", () => {
    expect(perShareRisk(dec("190.10"), dec("185.00")).toString()).toBe("5.1");
    expect(perShareRisk(dec("50"), dec("52.25")).toString()).toBe("2.25");
    expect(perShareReward(dec("190.10"), dec("205")).toString()).toBe("14.9");
    expect(perShareReward(dec("50"), dec("45.5")).toString()).toBe("4.5");
  });

  it("are exact for sub-penny prices", () => {
    expect(perShareRisk(dec("0.5123"), dec("0.4999")).toString()).toBe("0.0124");
  });
});

describe("rewardToRisk", () => {
  it("divides reward by risk", () => {
    expect(rewardToRisk(dec("100"), dec("95"), dec("110"))?.toString()).toBe("2");
    expect(rewardToRisk(dec("100"), dec("104"), dec("94"))?.toString()).toBe("1.5");
  });

  it("is null when the stop is at the entry", () => {
    expect(rewardToRisk(dec("100"), dec("100"), dec("110"))).toBeNull();
  });
});

describe("defaultTarget", () => {
  it("is 2R above a long entry by default", () => {
    expect(defaultTarget("long", dec("190.10"), dec("185.00")).toFixed(2)).toBe("200.30");
  });

  it("is 2R below a short entry", () => {
    expect(defaultTarget("short", dec("50"), dec("52.5")).toFixed(2)).toBe("45.00");
  });

  it("takes another R multiple", () => {
    expect(defaultTarget("long", dec("100"), dec("98"), 3).toFixed(2)).toBe("106.00");
    expect(defaultTarget("long", dec("100"), dec("98"), dec("1.5")).toFixed(2)).toBe("103.00");
  });

  it("rounds toward the entry so the reward is never overstated", () => {
    // risk 1.333 -> 2R = 2.666 -> 102.666 rounds down to 102.66 for a long
    expect(defaultTarget("long", dec("100"), dec("98.667")).toFixed(2)).toBe("102.66");
    // short: 100 - 2.666 = 97.334 rounds up to 97.34
    expect(defaultTarget("short", dec("100"), dec("101.333")).toFixed(2)).toBe("97.34");
  });

  it("lands on the sub-penny grid below $1", () => {
    const target = defaultTarget("long", dec("0.5"), dec("0.45"));
    expect(target.toString()).toBe("0.6");
    expect(isOnTick(target)).toBe(true);
  });

  it("can fall to zero or below for a short with a wide stop, which validation refuses", () => {
    const target = defaultTarget("short", dec("10"), dec("20"));
    expect(target.lte(0)).toBe(true);
    expect(codes(plan({ side: "short", entry: dec("10"), stop: dec("20"), target }))).toEqual([
      "NON_POSITIVE_PRICE",
    ]);
  });

  it("always yields a sound plan for a long (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 10_000_000 }),
        fc.integer({ min: 1, max: 99 }),
        (entryCents, stopPercent) => {
          const entry = new Decimal(entryCents).div(100);
          const stop = entry
            .times(100 - stopPercent)
            .div(100)
            .toDecimalPlaces(2, Decimal.ROUND_UP);
          if (stop.gte(entry)) return;
          const target = defaultTarget("long", entry, stop);
          expect(isOnTick(target)).toBe(true);
          const ratio = rewardToRisk(entry, stop, target);
          expect(ratio).not.toBeNull();
          // rounding toward the entry loses at most one tick of reward
          expect(ratio?.lte(2)).toBe(true);
          expect(target.gt(entry)).toBe(true);
        },
      ),
    );
  });
});

describe("breakEvenPrice", () => {
  it("adds commissions per share for a long, rounded up", () => {
    // (100 x 30 + 2) / 30 = 100.0666.. -> 100.07
    expect(breakEvenPrice("long", dec("100"), dec("30"), dec("2")).toFixed(2)).toBe("100.07");
  });

  it("subtracts commissions per share for a short, rounded down", () => {
    // (100 x 30 - 2) / 30 = 99.9333.. -> 99.93
    expect(breakEvenPrice("short", dec("100"), dec("30"), dec("2")).toFixed(2)).toBe("99.93");
  });

  it("is the entry when there are no commissions", () => {
    expect(breakEvenPrice("long", dec("190.10"), dec("7"), dec("0")).toFixed(2)).toBe("190.10");
  });

  it("works with fractional shares and sub-penny prices", () => {
    // (0.5 x 0.5 + 0.01) / 0.5 = 0.52
    expect(breakEvenPrice("long", dec("0.5"), dec("0.5"), dec("0.01")).toString()).toBe("0.52");
    // (0.5123 x 1000 + 1) / 1000 = 0.5133
    expect(breakEvenPrice("long", dec("0.5123"), dec("1000"), dec("1")).toString()).toBe("0.5133");
  });

  it("throws for a non-positive quantity, which is a bug in the caller", () => {
    expect(() => breakEvenPrice("long", dec("100"), dec("0"), dec("1"))).toThrow(RangeError);
    expect(() => breakEvenPrice("long", dec("100"), dec("-1"), dec("1"))).toThrow(RangeError);
  });

  it("exiting at the break-even never loses money (property)", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 100_000_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (isLong, entryTicks, quantity, commissionCents) => {
          const entry = new Decimal(entryTicks).div(100);
          const qty = new Decimal(quantity);
          const commissions = new Decimal(commissionCents).div(100);
          const side = isLong ? "long" : "short";
          const exit = breakEvenPrice(side, entry, qty, commissions);
          const gross = isLong ? exit.minus(entry).times(qty) : entry.minus(exit).times(qty);
          expect(gross.minus(commissions).gte(0)).toBe(true);
        },
      ),
    );
  });
});

describe("accountRecoveryPercent", () => {
  it("is the gain needed to get back to the start", () => {
    expect(accountRecoveryPercent(dec("10000"), dec("5000"))?.toString()).toBe("100");
    expect(accountRecoveryPercent(dec("10000"), dec("8000"))?.toString()).toBe("25");
  });

  it("is zero when the account is flat or up", () => {
    expect(accountRecoveryPercent(dec("10000"), dec("10000"))?.toString()).toBe("0");
    expect(accountRecoveryPercent(dec("10000"), dec("12000"))?.toString()).toBe("0");
  });

  it("is null when there is no equity left", () => {
    expect(accountRecoveryPercent(dec("10000"), dec("0"))).toBeNull();
    expect(accountRecoveryPercent(dec("10000"), dec("-50"))).toBeNull();
  });

  it("does not overflow on huge accounts", () => {
    const result = accountRecoveryPercent(dec("1e30"), dec("5e29"));
    expect(result?.toString()).toBe("100");
  });
});

describe("validateTradePlan", () => {
  it("accepts a sound long and a sound short", () => {
    expect(validateTradePlan(plan())).toEqual([]);
    expect(
      validateTradePlan(
        plan({ side: "short", entry: dec("50"), stop: dec("52"), target: dec("45") }),
        { minRewardToRisk: dec("2") },
      ),
    ).toEqual([]);
  });

  it("explains a long stop above the entry in the trader's words", () => {
    const problems = validateTradePlan(plan({ stop: dec("195") }));
    expect(problems).toEqual([
      {
        code: "STOP_WRONG_SIDE",
        field: "stop",
        message: "For a long trade the stop (195.00) must be below the entry (190.10).",
      },
    ]);
  });

  it("explains a short stop below the entry", () => {
    const problems = validateTradePlan(
      plan({ side: "short", entry: dec("190.10"), stop: dec("185"), target: dec("180") }),
    );
    expect(problems.map((p) => p.message)).toEqual([
      "For a short trade the stop (185.00) must be above the entry (190.10).",
    ]);
  });

  it("refuses a stop at the entry as zero distance, not as wrong side", () => {
    expect(codes(plan({ stop: dec("190.10") }))).toEqual(["ZERO_STOP_DISTANCE"]);
    expect(
      codes(plan({ side: "short", entry: dec("10"), stop: dec("10"), target: dec("8") })),
    ).toEqual(["ZERO_STOP_DISTANCE"]);
  });

  it("refuses a target on the wrong side or at the entry", () => {
    expect(codes(plan({ target: dec("180") }))).toEqual(["TARGET_WRONG_SIDE"]);
    expect(codes(plan({ target: dec("190.10") }))).toEqual(["TARGET_WRONG_SIDE"]);
    expect(
      codes(plan({ side: "short", entry: dec("50"), stop: dec("52"), target: dec("55") })),
    ).toEqual(["TARGET_WRONG_SIDE"]);
    const [problem] = validateTradePlan(plan({ target: dec("180") }));
    expect(problem?.message).toBe(
      "For a long trade the target (180.00) must be above the entry (190.10).",
    );
  });

  it("returns every problem, not only the first", () => {
    // a long plan written as if it were a short, with a sub-penny entry
    expect(
      codes(plan({ entry: dec("190.105"), stop: dec("195"), target: dec("180") }), "2").sort(),
    ).toEqual(["OFF_TICK", "STOP_WRONG_SIDE", "TARGET_WRONG_SIDE"]);
  });

  it("refuses non-positive prices and skips side checks that would repeat them", () => {
    expect(codes(plan({ entry: dec("0") }))).toEqual(["NON_POSITIVE_PRICE"]);
    expect(codes(plan({ stop: dec("-5") }))).toEqual(["NON_POSITIVE_PRICE"]);
    const problems = validateTradePlan(
      plan({ entry: dec("-1"), stop: dec("0"), target: dec("0") }),
    );
    expect(problems.map((p) => [p.code, p.field])).toEqual([
      ["NON_POSITIVE_PRICE", "entry"],
      ["NON_POSITIVE_PRICE", "stop"],
      ["NON_POSITIVE_PRICE", "target"],
    ]);
    expect(problems[0]?.message).toBe("The entry (-1.00) must be a price above zero.");
  });

  it("refuses a price that is not a number", () => {
    expect(codes(plan({ target: new Decimal(Number.NaN) }))).toEqual(["NON_POSITIVE_PRICE"]);
  });

  it("refuses prices off the broker's tick, showing them unrounded", () => {
    const problems = validateTradePlan(plan({ stop: dec("185.005") }));
    expect(problems.map((p) => p.code)).toEqual(["OFF_TICK"]);
    expect(problems[0]?.field).toBe("stop");
    expect(problems[0]?.message).toContain("185.005");
  });

  it("accepts four decimals below $1 and refuses five", () => {
    const penny = plan({ entry: dec("0.5123"), stop: dec("0.4801"), target: dec("0.6001") });
    expect(codes(penny)).toEqual([]);
    expect(codes({ ...penny, entry: dec("0.51235") })).toEqual(["OFF_TICK"]);
  });

  it("refuses a reward:risk below the minimum, and accepts one exactly at it", () => {
    // risk 5.10, reward 10.20 -> exactly 2
    expect(codes(plan({ target: dec("200.30") }), "2")).toEqual([]);
    const problems = validateTradePlan(plan({ target: dec("200.29") }), {
      minRewardToRisk: dec("2"),
    });
    expect(problems.map((p) => p.code)).toEqual(["BELOW_MIN_REWARD_TO_RISK"]);
    expect(problems[0]?.message).toBe(
      "The reward:risk is 2.00, below the minimum of 2: the target (200.29) is 10.19 away for 5.1 of risk per share.",
    );
  });

  it("does not judge the reward:risk of a plan whose stop or target is already wrong", () => {
    expect(codes(plan({ stop: dec("195") }), "3")).toEqual(["STOP_WRONG_SIDE"]);
    expect(codes(plan({ target: dec("189") }), "3")).toEqual(["TARGET_WRONG_SIDE"]);
  });

  it("needs a symbol", () => {
    expect(codes(plan({ symbol: "  " }))).toEqual(["MISSING_SYMBOL"]);
  });

  it("handles huge prices without overflow", () => {
    expect(
      codes(plan({ entry: dec("1e20"), stop: dec("9e19"), target: dec("1.2e20") }), "2"),
    ).toEqual([]);
  });
});
