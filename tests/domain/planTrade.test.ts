import { describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import {
  marketEntryPrice,
  planTrade,
  resolveStop,
  resolveTarget,
  type TradeInput,
} from "../../domain/planTrade";
import type { AccountSnapshot } from "../../domain/riskChecks";
import { DEFAULT_RISK_LIMITS, type RiskLimits } from "../../domain/riskLimits";
import type { TradingState } from "../../domain/tradingState";

const NOW = Date.parse("2026-03-02T15:00:00Z");
const ACTIVE: TradingState = { mode: "ACTIVE", setBy: "AUTO", reason: "", since: 0 };

/** $100,000 equity: default limits allow $1,000 risk per trade and a $5,000 position. */
function snapshot(overrides: Partial<AccountSnapshot> = {}): AccountSnapshot {
  return {
    equity: dec("100000"),
    buyingPower: dec("200000"),
    positions: [],
    workingOrders: [],
    recentOrders: [],
    quotes: new Map([
      ["AAPL", { bid: dec("189.99"), ask: dec("190.01"), last: dec("190.00") }],
      ["GME", { bid: dec("20.00"), ask: dec("20.02"), last: dec("20.01") }],
    ]),
    assets: new Map([
      ["AAPL", { tradable: true, shortable: true, fractionable: true }],
      ["GME", { tradable: true, shortable: false, fractionable: false }],
    ]),
    sectors: new Map(),
    market: { open: true },
    ...overrides,
  };
}

const WIDE: RiskLimits = {
  ...DEFAULT_RISK_LIMITS,
  maxPositionPercent: dec("50"),
  maxSectorExposurePercent: dec("50"),
};

function input(overrides: Partial<TradeInput> = {}): TradeInput {
  return {
    symbol: "AAPL",
    side: "long",
    entryType: "market",
    limitPrice: null,
    stop: { kind: "price", price: dec("185.01") },
    ...overrides,
  };
}

describe("planTrade", () => {
  it("prices a market long at the ask, targets 2R and sizes it to the position limit", () => {
    const result = planTrade(input(), snapshot(), DEFAULT_RISK_LIMITS, ACTIVE, NOW);
    expect(result.violations).toEqual([]);
    expect(result.canConfirm).toBe(true);
    expect(result.plan?.expectedEntry.toString()).toBe("190.01");
    expect(result.plan?.limitPrice).toBeNull();
    expect(result.plan?.target.toString()).toBe("200.01");
    expect(result.plan?.rewardToRisk?.toString()).toBe("2");
    // $1,000 at risk would be 200 shares; 5% of equity ($5,000) buys 26.
    expect(result.size?.quantity.toString()).toBe("26");
    expect(result.size?.bindingConstraint).toBe("MAX_POSITION");
    expect(result.size?.positionValue.toString()).toBe("4940.26");
    expect(result.size?.riskAmount.toString()).toBe("130");
    expect(result.size?.rewardAmount.toString()).toBe("260");
    expect(result.size?.breakEven.toString()).toBe("190.01");
    expect(result.size?.percentOfEquity.toFixed(2)).toBe("4.94");
  });

  it("sizes from the risk percent asked for, capped by the account's risk per trade", () => {
    const half = planTrade(input({ riskPercent: dec("0.5") }), snapshot(), WIDE, ACTIVE, NOW);
    // $500 / $5.00 per share.
    expect(half.size?.quantity.toString()).toBe("100");
    expect(half.size?.bindingConstraint).toBe("RISK");
    const greedy = planTrade(input({ riskPercent: dec("3") }), snapshot(), WIDE, ACTIVE, NOW);
    expect(greedy.size?.quantity.toString()).toBe("200");
    expect(greedy.size?.bindingConstraint).toBe("MAX_RISK");
    expect(greedy.canConfirm).toBe(true);
    const conservative = planTrade(
      input({ sizingMethod: "conservative" }),
      snapshot(),
      WIDE,
      ACTIVE,
      NOW,
    );
    expect(conservative.size?.quantity.toString()).toBe("150");
    expect(conservative.size?.method).toBe("conservative");
  });

  it("sizes half Kelly from a win rate, and refuses it without one", () => {
    const kelly = planTrade(
      input({ sizingMethod: "half_kelly", kelly: { winRate: dec("0.55") } }),
      snapshot(),
      WIDE,
      ACTIVE,
      NOW,
    );
    // f* = 0.55 - 0.45 / 2 = 0.325; half is 16.25% of equity, capped at the 1% risk per trade.
    expect(kelly.size?.bindingConstraint).toBe("MAX_RISK");
    expect(kelly.size?.quantity.toString()).toBe("200");
    const blind = planTrade(input({ sizingMethod: "half_kelly" }), snapshot(), WIDE, ACTIVE, NOW);
    expect(blind.canConfirm).toBe(false);
    expect(blind.size).toBeNull();
    expect(blind.violations.map((v) => v.code)).toEqual(["INVALID_INPUT"]);
    const noEdge = planTrade(
      input({ sizingMethod: "half_kelly", kelly: { winRate: dec("0.2") } }),
      snapshot(),
      WIDE,
      ACTIVE,
      NOW,
    );
    expect(noEdge.violations.map((v) => v.code)).toEqual(["NO_EDGE"]);
    expect(noEdge.canConfirm).toBe(false);
  });

  it("takes the stop as a distance and the target as an R multiple, on the tick", () => {
    const result = planTrade(
      input({
        entryType: "limit",
        limitPrice: dec("190.00"),
        stop: { kind: "percent", percent: dec("2.5") },
        target: { kind: "r", multiple: dec("3") },
      }),
      snapshot(),
      WIDE,
      ACTIVE,
      NOW,
    );
    expect(result.plan?.limitPrice?.toString()).toBe("190");
    expect(result.plan?.stop.toString()).toBe("185.25");
    expect(result.plan?.target.toString()).toBe("204.25");
    expect(result.canConfirm).toBe(true);
    expect(
      resolveStop("short", dec("20"), { kind: "amount", amount: dec("1.333") }).toString(),
    ).toBe("21.33");
    expect(
      resolveStop("long", dec("20"), { kind: "amount", amount: dec("1.333") }).toString(),
    ).toBe("18.67");
    expect(
      resolveTarget("long", dec("100"), dec("95"), { kind: "price", price: dec("111") }).toString(),
    ).toBe("111");
  });

  it("reports every violation, once per code, and refuses confirmation", () => {
    const result = planTrade(
      input({ symbol: "GME", side: "short", stop: { kind: "price", price: dec("19.00") } }),
      snapshot(),
      DEFAULT_RISK_LIMITS,
      { mode: "HALTED", reason: "daily loss limit" },
      NOW,
    );
    expect(result.canConfirm).toBe(false);
    const codes = result.violations.map((v) => v.code);
    expect(codes).toContain("STOP_WRONG_SIDE");
    expect(new Set(codes).size).toBe(codes.length);
    const shortable = planTrade(
      input({ symbol: "GME", side: "short", stop: { kind: "price", price: dec("21.00") } }),
      snapshot(),
      DEFAULT_RISK_LIMITS,
      { mode: "HALTED", reason: "daily loss limit" },
      NOW,
    );
    expect(shortable.violations.map((v) => v.code)).toEqual(["TRADING_HALTED", "NOT_SHORTABLE"]);
    expect(shortable.plan?.expectedEntry.toString()).toBe("20");
    expect(shortable.size?.quantity.gt(0)).toBe(true);
  });

  it("refuses a plan below the minimum reward:risk or outside the price collar", () => {
    const result = planTrade(
      input({
        entryType: "limit",
        limitPrice: dec("170.00"),
        stop: { kind: "price", price: dec("165.00") },
        target: { kind: "price", price: dec("171.00") },
      }),
      snapshot(),
      WIDE,
      ACTIVE,
      NOW,
    );
    expect(result.violations.map((v) => v.code)).toEqual([
      "BELOW_MIN_REWARD_TO_RISK",
      "PRICE_COLLAR",
    ]);
  });

  it("cannot price a market entry without a quote", () => {
    const result = planTrade(input({ symbol: "ZZZZ" }), snapshot(), WIDE, ACTIVE, NOW);
    expect(result).toEqual({
      plan: null,
      size: null,
      canConfirm: false,
      violations: [
        { code: "NO_QUOTE", message: "There is no quote for ZZZZ to price a market entry." },
      ],
    });
    expect(
      marketEntryPrice({ bid: dec("0"), ask: dec("0"), last: dec("9.5") }, "short")?.toString(),
    ).toBe("9.5");
  });

  it("keeps a quantity the caller chose and checks it", () => {
    const result = planTrade(input({ quantity: dec("300") }), snapshot(), WIDE, ACTIVE, NOW);
    expect(result.size?.quantity.toString()).toBe("300");
    expect(result.size?.bindingConstraint).toBe("QUANTITY_GIVEN");
    expect(result.violations.map((v) => v.code)).toEqual([
      "RISK_PER_TRADE",
      "MAX_POSITION_SIZE",
      "MAX_SECTOR_EXPOSURE",
    ]);
  });

  it("refuses a quantity given at or below zero, never a refusal without a reason", () => {
    for (const quantity of ["0", "-5"]) {
      const result = planTrade(input({ quantity: dec(quantity) }), snapshot(), WIDE, ACTIVE, NOW);
      expect(result.canConfirm).toBe(false);
      expect(result.size).toBeNull();
      expect(result.plan?.expectedEntry.toString()).toBe("190.01");
      expect(result.violations.map((v) => v.code)).toEqual(["INVALID_QUANTITY"]);
    }
  });

  it("prices a stop and a target given as prices, as the HTTP API sends them", () => {
    const result = planTrade(
      input({
        entryType: "limit",
        limitPrice: dec("190.00"),
        stop: { kind: "price", price: dec("185.00") },
        target: { kind: "price", price: dec("205.00") },
        quantity: dec("10"),
      }),
      snapshot(),
      DEFAULT_RISK_LIMITS,
      ACTIVE,
      NOW,
    );
    expect(result.violations).toEqual([]);
    expect(result.plan).toMatchObject({ orderSide: "buy", entryType: "limit" });
    expect(result.plan?.limitPrice?.toString()).toBe("190");
    expect(result.plan?.stop.toString()).toBe("185");
    expect(result.plan?.target.toString()).toBe("205");
    expect(result.size?.riskAmount.toString()).toBe("50");
    // What the rules would allow, beside the quantity given.
    expect(result.size?.sizing?.quantity.toString()).toBe("26");
  });

  it("sizes a market entry within buying power once the slippage allowance is added, as the checks count it", () => {
    // 950.10 buys 5 shares at the 190.01 ask, but the checks count a market buy at the ask plus
    // 0.5%: 5 x 190.01 x 1.005 = 954.80, more than there is.
    const result = planTrade(
      input(),
      snapshot({ buyingPower: dec("950.10") }),
      DEFAULT_RISK_LIMITS,
      ACTIVE,
      NOW,
    );
    expect(result.violations).toEqual([]);
    expect(result.canConfirm).toBe(true);
    // 950.10 / 1.005 / 190.01 = 4.97 shares.
    expect(result.size?.quantity.toString()).toBe("4");
    // A limit entry pays its limit at most: no allowance.
    const limit = planTrade(
      input({ entryType: "limit", limitPrice: dec("190.01") }),
      snapshot({ buyingPower: dec("950.10") }),
      DEFAULT_RISK_LIMITS,
      ACTIVE,
      NOW,
    );
    expect(limit.violations).toEqual([]);
    expect(limit.size?.quantity.toString()).toBe("5");
  });

  it("sizes an add to a position within what the position limit leaves, as the checks count it", () => {
    // 5% of equity is $5,000; the position holds $1,900 and a working entry $1,000 more.
    const held = snapshot({
      positions: [{ symbol: "AAPL", quantity: dec("10"), marketValue: dec("1900") }],
      workingOrders: [
        {
          symbol: "AAPL",
          side: "buy",
          role: "ENTRY",
          remainingQuantity: dec("5"),
          limitPrice: dec("200"),
          stopPrice: null,
        },
      ],
    });
    const result = planTrade(
      input({ entryType: "limit", limitPrice: dec("190.01") }),
      held,
      DEFAULT_RISK_LIMITS,
      ACTIVE,
      NOW,
    );
    expect(result.violations).toEqual([]);
    // $2,100 left: 11 shares at 190.01.
    expect(result.size?.quantity.toString()).toBe("11");
    expect(result.size?.bindingConstraint).toBe("MAX_POSITION");
  });

  it("leaves a full position to the checks to explain", () => {
    const full = snapshot({
      positions: [{ symbol: "AAPL", quantity: dec("30"), marketValue: dec("5700") }],
    });
    const result = planTrade(
      input({ entryType: "limit", limitPrice: dec("190.01") }),
      full,
      DEFAULT_RISK_LIMITS,
      ACTIVE,
      NOW,
    );
    expect(result.canConfirm).toBe(false);
    expect(result.violations.map((violation) => violation.code)).toEqual(["MAX_POSITION_SIZE"]);
  });
});
