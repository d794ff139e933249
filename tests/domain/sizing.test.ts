import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decimal, dec } from "../../domain/money";
import {
  kellyFraction,
  type PositionSize,
  type SizingRequest,
  sizePosition,
} from "../../domain/sizing";

/** A $100,000 account risking 1% on a long AAPL at 190.10 with a stop at 185.00 ($5.10 of risk). */
function request(overrides: Partial<SizingRequest> = {}): SizingRequest {
  return {
    method: "risk_percent",
    side: "long",
    entry: dec("190.10"),
    stop: dec("185.00"),
    equity: dec("100000"),
    buyingPower: dec("400000"),
    riskPercent: dec("1"),
    ...overrides,
  };
}

function sized(overrides: Partial<SizingRequest> = {}): PositionSize {
  const outcome = sizePosition(request(overrides));
  if (!outcome.ok) throw new Error(`expected a size, got ${outcome.code}: ${outcome.message}`);
  return outcome.value;
}

function refusal(overrides: Partial<SizingRequest>): { code: string; message: string } {
  const outcome = sizePosition(request(overrides));
  if (outcome.ok) throw new Error(`expected a refusal, got ${outcome.value.quantity.toString()}`);
  return { code: outcome.code, message: outcome.message };
}

describe("risk_percent sizing", () => {
  it("sizes by equity x risk% / per-share risk, rounded down", () => {
    const size = sized();
    // 1000 / 5.10 = 196.07
    expect(size.quantity.toString()).toBe("196");
    expect(size.bindingConstraint).toBe("RISK");
    expect(size.riskBudget.toString()).toBe("1000");
    expect(size.riskAmount.toString()).toBe("999.6");
    expect(size.perShareRisk.toString()).toBe("5.1");
    expect(size.positionValue.toString()).toBe("37259.6");
    expect(size.percentOfEquity.toString()).toBe("37.2596");
    expect(size.riskPercentOfEquity.toString()).toBe("0.9996");
    expect(size.fractional).toBe(false);
    expect(size.kellyFraction).toBeNull();
    expect(size.explanation).toBe(
      "Risk budget $1000.00 (1% of $100000.00) / $5.10 per-share risk = 196 shares. At risk: $999.60 (1% of equity).",
    );
  });

  it("reports reward:risk and the reward in dollars when a target is given", () => {
    const size = sized({ target: dec("205.40") });
    expect(size.rewardToRisk?.toString()).toBe("3");
    expect(size.rewardAmount?.toString()).toBe("2998.8");
    const without = sized();
    expect(without.rewardToRisk).toBeNull();
    expect(without.rewardAmount).toBeNull();
  });

  it("sizes a short from a stop above the entry", () => {
    const size = sized({ side: "short", entry: dec("50"), stop: dec("52"), target: dec("46") });
    // 1000 / 2 = 500
    expect(size.quantity.toString()).toBe("500");
    expect(size.riskAmount.toString()).toBe("1000");
    expect(size.rewardToRisk?.toString()).toBe("2");
  });

  it("uses the exact budget when it divides evenly (risk equals budget)", () => {
    const size = sized({ entry: dec("100"), stop: dec("95") });
    expect(size.quantity.toString()).toBe("200");
    expect(size.riskAmount.eq(size.riskBudget)).toBe(true);
  });

  it("sizes sub-penny stocks on their own tick", () => {
    const size = sized({ entry: dec("0.5123"), stop: dec("0.4801") });
    // 1000 / 0.0322 = 31055.9
    expect(size.quantity.toString()).toBe("31055");
    expect(size.riskAmount.toString()).toBe("999.971");
  });

  it("accepts fractional risk percentages", () => {
    expect(sized({ riskPercent: dec("0.25") }).quantity.toString()).toBe("49");
  });
});

describe("conservative and aggressive sizing", () => {
  it("risks 75% of the risk_percent budget", () => {
    const size = sized({ method: "conservative" });
    expect(size.riskBudget.toString()).toBe("750");
    expect(size.quantity.toString()).toBe("147");
    expect(size.explanation).toContain("1% x 0.75 (conservative) of $100000.00");
  });

  it("risks 125% of the risk_percent budget", () => {
    const size = sized({ method: "aggressive" });
    expect(size.riskBudget.toString()).toBe("1250");
    expect(size.quantity.toString()).toBe("245");
  });

  it("keeps aggressive sizing under the account's max risk per trade", () => {
    const size = sized({ method: "aggressive", maxRiskPercent: dec("1") });
    expect(size.bindingConstraint).toBe("MAX_RISK");
    expect(size.riskBudget.toString()).toBe("1000");
    expect(size.quantity.toString()).toBe("196");
    expect(size.explanation).toContain("capped at the account's max risk per trade: $1000.00");
  });

  it("does not report the max risk as binding when the method stays below it", () => {
    expect(sized({ method: "conservative", maxRiskPercent: dec("1") }).bindingConstraint).toBe(
      "RISK",
    );
  });
});

describe("caps", () => {
  it("caps the position value at max position % of equity", () => {
    const size = sized({ maxPositionPercent: dec("25") });
    // 25,000 / 190.10 = 131.5
    expect(size.quantity.toString()).toBe("131");
    expect(size.bindingConstraint).toBe("MAX_POSITION");
    expect(size.positionValue.lte(dec("25000"))).toBe(true);
    expect(size.riskAmount.toString()).toBe("668.1");
    expect(size.riskBudget.toString()).toBe("1000");
    expect(size.explanation).toContain("max position size limits the order to 131 shares");
  });

  it("caps the position value at the buying power", () => {
    const size = sized({ buyingPower: dec("10000") });
    // 10,000 / 190.10 = 52.6
    expect(size.quantity.toString()).toBe("52");
    expect(size.bindingConstraint).toBe("BUYING_POWER");
    expect(size.explanation).toContain("buying power limits the order to 52 shares");
  });

  it("names the tightest of several caps", () => {
    expect(
      sized({ maxPositionPercent: dec("10"), buyingPower: dec("20000") }).bindingConstraint,
    ).toBe("MAX_POSITION");
    expect(
      sized({ maxPositionPercent: dec("30"), buyingPower: dec("20000") }).bindingConstraint,
    ).toBe("BUYING_POWER");
  });

  it("allows a max position above 100% of equity on margin, still bounded by buying power", () => {
    const size = sized({
      riskPercent: dec("5"),
      entry: dec("100"),
      stop: dec("99"),
      maxPositionPercent: dec("150"),
      buyingPower: dec("200000"),
    });
    expect(size.quantity.toString()).toBe("1500");
    expect(size.bindingConstraint).toBe("MAX_POSITION");
  });

  it("reports whole-share rounding when it cuts the size by 10% or more", () => {
    const size = sized({
      equity: dec("100"),
      riskPercent: dec("7"),
      entry: dec("10"),
      stop: dec("6"),
    });
    // 7 / 4 = 1.75 -> 1 share: a 43% cut
    expect(size.quantity.toString()).toBe("1");
    expect(size.bindingConstraint).toBe("WHOLE_SHARES");
    expect(size.explanation).toContain(
      "the limits allow 1.75 shares, rounded down to whole shares: 1 share",
    );
  });

  it("treats a small rounding cut as ordinary rounding", () => {
    // 1000 / 51 = 19.6 -> 19: a 3% cut
    const size = sized({ entry: dec("100"), stop: dec("49") });
    expect(size.quantity.toString()).toBe("19");
    expect(size.bindingConstraint).toBe("RISK");
  });
});

describe("fractional shares", () => {
  it("keeps fractions of a share when the account allows them", () => {
    const size = sized({
      equity: dec("1000"),
      entry: dec("500"),
      stop: dec("497"),
      fractional: true,
    });
    // 10 / 3 = 3.333333333(3) -> 9 decimals, rounded down
    expect(size.quantity.toString()).toBe("3.333333333");
    expect(size.fractional).toBe(true);
    expect(size.riskAmount.lte(size.riskBudget)).toBe(true);
    expect(size.bindingConstraint).toBe("RISK");
  });

  it("buys part of an expensive share that whole shares could not", () => {
    const whole = sizePosition(
      request({ equity: dec("1000"), entry: dec("1000"), stop: dec("600") }),
    );
    expect(whole.ok).toBe(false);
    const part = sized({
      equity: dec("1000"),
      entry: dec("1000"),
      stop: dec("600"),
      fractional: true,
    });
    // 10 / 400 = 0.025
    expect(part.quantity.toString()).toBe("0.025");
  });

  it("sizes shorts in whole shares even on a fractional account", () => {
    const size = sized({
      side: "short",
      entry: dec("500"),
      stop: dec("503"),
      equity: dec("1000"),
      fractional: true,
    });
    expect(size.quantity.toString()).toBe("3");
    expect(size.fractional).toBe(false);
  });
});

describe("half-Kelly sizing", () => {
  it("computes the Kelly fraction p - (1 - p) / b", () => {
    expect(kellyFraction(dec("0.6"), dec("2")).toString()).toBe("0.4");
    expect(kellyFraction(dec("0.5"), dec("1")).toString()).toBe("0");
    expect(kellyFraction(dec("0"), dec("3")).toDecimalPlaces(6).toString()).toBe("-0.333333");
    expect(kellyFraction(dec("1"), dec("0.01")).toString()).toBe("1");
  });

  it("puts half the Kelly fraction of equity at risk", () => {
    const size = sized({
      method: "half_kelly",
      riskPercent: undefined,
      kelly: { winRate: dec("0.6"), payoffRatio: dec("2") },
      buyingPower: dec("1000000"),
    });
    // f* = 0.4, x 0.5 = 20% of 100,000 at risk = 20,000 / 5.10 = 3921.5
    expect(size.kellyFraction?.toString()).toBe("0.4");
    expect(size.riskBudget.toString()).toBe("20000");
    expect(size.quantity.toString()).toBe("3921");
    expect(size.bindingConstraint).toBe("RISK");
    expect(size.explanation).toContain(
      "Kelly 40% (a 60% win rate and a 2 payoff ratio) x 0.5 = 20%",
    );
  });

  it("takes another safety fraction, up to full Kelly", () => {
    const quarter = sized({
      method: "half_kelly",
      kelly: { winRate: dec("0.6"), payoffRatio: dec("2"), safetyFraction: dec("0.25") },
    });
    expect(quarter.riskBudget.toString()).toBe("10000");
    const full = sized({
      method: "half_kelly",
      kelly: { winRate: dec("0.6"), payoffRatio: dec("2"), safetyFraction: dec("1") },
      buyingPower: dec("10000000"),
    });
    expect(full.riskBudget.toString()).toBe("40000");
  });

  it("uses the plan's reward:risk as the payoff ratio when none is given", () => {
    const size = sized({
      method: "half_kelly",
      target: dec("200.30"),
      kelly: { winRate: dec("0.5") },
    });
    // b = 10.20 / 5.10 = 2, f* = 0.5 - 0.5 / 2 = 0.25
    expect(size.kellyFraction?.toString()).toBe("0.25");
    expect(size.riskBudget.toString()).toBe("12500");
  });

  it("sizes zero with a reason when the win rate is 0", () => {
    const size = sized({
      method: "half_kelly",
      kelly: { winRate: dec("0"), payoffRatio: dec("3") },
    });
    expect(size.quantity.isZero()).toBe(true);
    expect(size.bindingConstraint).toBe("KELLY_NON_POSITIVE");
    expect(size.riskAmount.isZero()).toBe(true);
    expect(size.riskBudget.isZero()).toBe(true);
    expect(size.explanation).toBe(
      "No trade: with a 0% win rate and a 3 payoff ratio the Kelly fraction is -0.3333, so the trade has no edge.",
    );
  });

  it("sizes zero at exactly no edge (f* = 0)", () => {
    const size = sized({
      method: "half_kelly",
      kelly: { winRate: dec("0.5"), payoffRatio: dec("1") },
    });
    expect(size.bindingConstraint).toBe("KELLY_NON_POSITIVE");
    expect(size.quantity.isZero()).toBe(true);
  });

  it("sizes zero when the payoff ratio is tiny", () => {
    const size = sized({
      method: "half_kelly",
      kelly: { winRate: dec("0.9"), payoffRatio: dec("0.0001") },
    });
    expect(size.kellyFraction?.toString()).toBe("-999.1");
    expect(size.bindingConstraint).toBe("KELLY_NON_POSITIVE");
  });

  it("with a win rate of 1 risks half the equity, still bounded by the caps", () => {
    const uncapped = sized({
      method: "half_kelly",
      kelly: { winRate: dec("1"), payoffRatio: dec("2") },
      buyingPower: dec("100000000"),
    });
    expect(uncapped.kellyFraction?.toString()).toBe("1");
    expect(uncapped.riskBudget.toString()).toBe("50000");
    expect(uncapped.quantity.toString()).toBe("9803");

    const capped = sized({
      method: "half_kelly",
      kelly: { winRate: dec("1"), payoffRatio: dec("2") },
      maxRiskPercent: dec("2"),
      maxPositionPercent: dec("20"),
    });
    // max risk 2,000 / 5.10 = 392; max position 20,000 / 190.10 = 105
    expect(capped.quantity.toString()).toBe("105");
    expect(capped.bindingConstraint).toBe("MAX_POSITION");
    expect(capped.riskBudget.toString()).toBe("2000");
  });

  it("refuses missing or out-of-range Kelly inputs", () => {
    expect(refusal({ method: "half_kelly" }).code).toBe("INVALID_INPUT");
    expect(refusal({ method: "half_kelly", kelly: { winRate: dec("0.5") } }).message).toBe(
      "Half-Kelly sizing needs a payoff ratio or a target.",
    );
    for (const winRate of ["-0.1", "1.01"]) {
      expect(
        refusal({ method: "half_kelly", kelly: { winRate: dec(winRate), payoffRatio: dec("2") } })
          .code,
      ).toBe("INVALID_INPUT");
    }
    for (const payoffRatio of ["0", "-1"]) {
      expect(
        refusal({
          method: "half_kelly",
          kelly: { winRate: dec("0.5"), payoffRatio: dec(payoffRatio) },
        }).code,
      ).toBe("INVALID_INPUT");
    }
    for (const safetyFraction of ["0", "1.5", "-0.5"]) {
      expect(
        refusal({
          method: "half_kelly",
          kelly: {
            winRate: dec("0.5"),
            payoffRatio: dec("2"),
            safetyFraction: dec(safetyFraction),
          },
        }).code,
      ).toBe("INVALID_INPUT");
    }
  });
});

describe("refusals", () => {
  it("refuses a stop at the entry", () => {
    expect(refusal({ stop: dec("190.10") })).toEqual({
      code: "ZERO_STOP_DISTANCE",
      message: "The stop (190.10) equals the entry: there is no per-share risk to size from.",
    });
  });

  it("refuses non-positive equity", () => {
    expect(refusal({ equity: dec("0") }).code).toBe("NON_POSITIVE_EQUITY");
    expect(refusal({ equity: dec("-5000") })).toEqual({
      code: "NON_POSITIVE_EQUITY",
      message: "The account equity is $-5000.00: nothing can be risked.",
    });
  });

  it("refuses a size that rounds to zero, saying which limit and why", () => {
    expect(refusal({ equity: dec("1000"), entry: dec("1000"), stop: dec("600") })).toEqual({
      code: "QUANTITY_ROUNDS_TO_ZERO",
      message: "The risk budget of $10.00 buys less than one share at $400.00 per-share risk.",
    });
    expect(refusal({ buyingPower: dec("100") })).toEqual({
      code: "QUANTITY_ROUNDS_TO_ZERO",
      message: "The buying power of $100.00 buys less than one share at $190.10 per share.",
    });
    expect(refusal({ maxPositionPercent: dec("0.1") }).message).toBe(
      "The max position size of $100.00 buys less than one share at $190.10 per share.",
    );
  });

  it("treats negative or zero buying power as none", () => {
    expect(refusal({ buyingPower: dec("-2500") }).code).toBe("QUANTITY_ROUNDS_TO_ZERO");
    expect(refusal({ buyingPower: dec("0") }).code).toBe("QUANTITY_ROUNDS_TO_ZERO");
  });

  it("refuses a stop or target on the wrong side", () => {
    expect(refusal({ stop: dec("195") })).toEqual({
      code: "STOP_WRONG_SIDE",
      message: "For a long trade the stop (195.00) must be below the entry (190.10).",
    });
    expect(refusal({ side: "short" }).code).toBe("STOP_WRONG_SIDE");
    expect(refusal({ target: dec("180") }).code).toBe("TARGET_WRONG_SIDE");
    expect(refusal({ target: dec("190.10") }).code).toBe("TARGET_WRONG_SIDE");
  });

  it("refuses invalid prices and percentages", () => {
    const invalid: Partial<SizingRequest>[] = [
      { entry: dec("0") },
      { entry: dec("-190.10") },
      { stop: dec("-1") },
      { stop: dec("0") },
      { target: dec("-5") },
      { entry: new Decimal(Number.NaN) },
      { equity: new Decimal(Number.POSITIVE_INFINITY) },
      { buyingPower: new Decimal(Number.NaN) },
      { riskPercent: dec("0") },
      { riskPercent: dec("-1") },
      { riskPercent: dec("100.01") },
      { riskPercent: undefined },
      { maxRiskPercent: dec("0") },
      { maxRiskPercent: dec("101") },
      { maxPositionPercent: dec("0") },
      { maxPositionPercent: dec("-10") },
    ];
    for (const overrides of invalid) {
      expect(refusal(overrides).code, JSON.stringify(overrides)).toBe("INVALID_INPUT");
    }
  });

  it("accepts 100% risk, the largest allowed", () => {
    expect(sized({ riskPercent: dec("100"), buyingPower: dec("1e9") }).quantity.toString()).toBe(
      "19607",
    );
  });
});

describe("huge and tiny numbers", () => {
  it("sizes a huge account without overflow or precision loss", () => {
    const size = sized({
      equity: dec("1e30"),
      buyingPower: dec("1e35"),
      entry: dec("0.0002"),
      stop: dec("0.0001"),
    });
    // 1e28 / 0.0001 = 1e32 shares
    expect(size.quantity.eq(dec("1e32"))).toBe(true);
    expect(size.riskAmount.eq(size.riskBudget)).toBe(true);
  });

  it("keeps fractional quantities of a huge account within the budget", () => {
    const size = sized({
      equity: dec("123456789012345678901234567.89"),
      buyingPower: dec("1e40"),
      entry: dec("3.07"),
      stop: dec("0.01"),
      riskPercent: dec("0.7"),
      fractional: true,
    });
    expect(size.quantity.gt(0)).toBe(true);
    expect(size.riskAmount.lte(size.riskBudget)).toBe(true);
  });

  it("stays within a limit when the division rounds up past 40 significant digits", () => {
    // 1.999... (44 nines) / 1 rounds to 2 at 40 digits; 2 shares would cost more than the buying power
    const buyingPower = dec(`1.${"9".repeat(44)}`);
    const size = sized({
      equity: dec("1000"),
      riskPercent: dec("100"),
      entry: dec("1"),
      stop: dec("0.5"),
      buyingPower,
    });
    expect(size.quantity.toString()).toBe("1");
    expect(size.positionValue.lte(buyingPower)).toBe(true);
    const fractional = sized({
      equity: dec("1000"),
      riskPercent: dec("100"),
      entry: dec("1"),
      stop: dec("0.5"),
      buyingPower,
      fractional: true,
    });
    expect(fractional.quantity.toString()).toBe("1.999999999");
  });

  it("stays within a limit when a fractional quantity has more digits than the precision", () => {
    // 10^32 - 10^-12: one fractional step cannot be subtracted at 40 significant digits
    const buyingPower = dec(`${"9".repeat(32)}.${"9".repeat(12)}`);
    const size = sized({
      equity: dec("1e40"),
      riskPercent: dec("100"),
      entry: dec("1"),
      stop: dec("0.5"),
      buyingPower,
      fractional: true,
    });
    expect(size.bindingConstraint).toBe("BUYING_POWER");
    expect(size.positionValue.lte(buyingPower)).toBe(true);
    expect(size.quantity.gt(dec("9.99999e31"))).toBe(true);
  });

  it("sizes a tiny account with a sub-penny stop in fractions", () => {
    const size = sized({
      equity: dec("1"),
      entry: dec("0.0003"),
      stop: dec("0.0001"),
      riskPercent: dec("0.01"),
      fractional: true,
    });
    // 0.0001 / 0.0002 = 0.5
    expect(size.quantity.toString()).toBe("0.5");
  });
});

/** Prices on the broker's grid: cents at or above $1, hundredths of a cent below. */
const price = fc.oneof(
  fc.integer({ min: 100, max: 10_000_000 }).map((cents) => new Decimal(cents).div(100)),
  fc.integer({ min: 1, max: 9_999 }).map((ticks) => new Decimal(ticks).div(10_000)),
);
/** Any positive decimal with up to 12 digits after the point, to stress the division rounding. */
const oddDecimal = fc
  .tuple(fc.bigInt({ min: 1n, max: 10n ** 30n }), fc.integer({ min: 0, max: 12 }))
  .map(([digits, scale]) => new Decimal(digits.toString()).div(new Decimal(10).pow(scale)));
const percent = fc.integer({ min: 1, max: 10_000 }).map((bp) => new Decimal(bp).div(100));
const method = fc.constantFrom("risk_percent", "half_kelly", "conservative", "aggressive" as const);

const sizingRequest = fc
  .record({
    method,
    side: fc.constantFrom("long" as const, "short" as const),
    a: fc.oneof(price, oddDecimal),
    b: fc.oneof(price, oddDecimal),
    equity: fc.oneof(
      oddDecimal,
      fc.integer({ min: 1, max: 10_000_000 }).map((d) => new Decimal(d)),
    ),
    buyingPower: fc.oneof(oddDecimal, fc.constant(new Decimal(0))),
    riskPercent: percent,
    maxRiskPercent: fc.option(percent, { nil: null }),
    maxPositionPercent: fc.option(percent, { nil: null }),
    fractional: fc.boolean(),
    winRate: fc.integer({ min: 0, max: 100 }).map((p) => new Decimal(p).div(100)),
    payoffRatio: oddDecimal,
  })
  .filter(({ a, b }) => !a.eq(b))
  .map((r): SizingRequest => {
    const [low, high] = r.a.lt(r.b) ? [r.a, r.b] : [r.b, r.a];
    return {
      method: r.method,
      side: r.side,
      entry: r.side === "long" ? high : low,
      stop: r.side === "long" ? low : high,
      equity: r.equity,
      buyingPower: r.buyingPower,
      riskPercent: r.riskPercent,
      maxRiskPercent: r.maxRiskPercent,
      maxPositionPercent: r.maxPositionPercent,
      fractional: r.fractional,
      kelly: { winRate: r.winRate, payoffRatio: r.payoffRatio },
    };
  });

describe("sizing properties", () => {
  it("never risks more than the budget and never exceeds a cap", () => {
    fc.assert(
      fc.property(sizingRequest, (req) => {
        const outcome = sizePosition(req);
        if (!outcome.ok) {
          expect(outcome.code).toBe("QUANTITY_ROUNDS_TO_ZERO");
          return;
        }
        const size = outcome.value;
        expect(size.quantity.gte(0)).toBe(true);
        expect(size.riskAmount.lte(size.riskBudget)).toBe(true);
        expect(size.quantity.times(size.perShareRisk).lte(size.riskBudget)).toBe(true);
        expect(size.positionValue.lte(req.buyingPower)).toBe(true);
        if (req.maxPositionPercent !== null && req.maxPositionPercent !== undefined) {
          const cap = req.equity.times(req.maxPositionPercent).div(100);
          expect(size.positionValue.lte(cap)).toBe(true);
        }
        if (req.maxRiskPercent !== null && req.maxRiskPercent !== undefined) {
          const ceiling = req.equity.times(req.maxRiskPercent).div(100);
          expect(size.riskBudget.lte(ceiling)).toBe(true);
        }
        if (!size.fractional) expect(size.quantity.isInteger()).toBe(true);
        if (req.side === "short") expect(size.fractional).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("sizes the largest quantity the limits allow (one more step breaks a limit)", () => {
    fc.assert(
      fc.property(sizingRequest, (req) => {
        const outcome = sizePosition(req);
        if (!outcome.ok || outcome.value.bindingConstraint === "KELLY_NON_POSITIVE") return;
        const size = outcome.value;
        // quantities beyond 30 significant digits cannot grow by a single step at this precision
        if (size.quantity.precision(true) > 30) return;
        const step = size.fractional ? new Decimal("1e-9") : new Decimal(1);
        const next = size.quantity.plus(step);
        const positionCap =
          req.maxPositionPercent === null || req.maxPositionPercent === undefined
            ? null
            : req.equity.times(req.maxPositionPercent).div(100);
        const breaks =
          next.times(size.perShareRisk).gt(size.riskBudget) ||
          next.times(req.entry).gt(req.buyingPower) ||
          (positionCap !== null && next.times(req.entry).gt(positionCap));
        expect(breaks).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
