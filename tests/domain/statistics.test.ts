import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decimal, dec, sumDecimals } from "../../domain/money";
import {
  type ClosedTradeSummary,
  computeTradeStatistics,
  expectancyQuality,
  type TradeSource,
} from "../../domain/statistics";

let minute = 0;
/** A closed trade; each call closes one minute after the previous unless `closedAt` is given. */
function trade(
  pnl: string,
  r: string | null,
  extra: Partial<ClosedTradeSummary> = {},
): ClosedTradeSummary {
  minute += 1;
  return {
    realizedPnl: dec(pnl),
    rMultiple: r === null ? null : dec(r),
    source: "manual",
    closedAt: Date.UTC(2026, 2, 2, 15, minute),
    ...extra,
  };
}

describe("trade statistics", () => {
  it("gives a clear empty result without trades", () => {
    const stats = computeTradeStatistics([]);
    expect(stats.count).toBe(0);
    expect(stats.wins + stats.losses + stats.breakevens).toBe(0);
    expect(stats.totalPnl.isZero()).toBe(true);
    expect(stats.grossProfit.isZero()).toBe(true);
    expect(stats.grossLoss.isZero()).toBe(true);
    expect(stats.maxDrawdown.isZero()).toBe(true);
    expect(stats.winRate).toBeNull();
    expect(stats.winRatePercent).toBeNull();
    expect(stats.profitFactor).toBeNull();
    expect(stats.averageWin).toBeNull();
    expect(stats.averageLoss).toBeNull();
    expect(stats.payoffRatio).toBeNull();
    expect(stats.expectancy).toBeNull();
    expect(stats.expectancyR).toBeNull();
    expect(stats.quality).toBeNull();
    expect(stats.bySource).toEqual([]);
    expect(stats.byPattern).toEqual([]);
  });

  it("counts wins, losses and breakevens and their dollar figures", () => {
    const stats = computeTradeStatistics([
      trade("300", "2"),
      trade("-100", "-1"),
      trade("150", "1"),
      trade("0", "0"),
      trade("-50", "-0.5"),
    ]);
    expect([stats.count, stats.wins, stats.losses, stats.breakevens]).toEqual([5, 2, 2, 1]);
    expect(stats.winRate?.toString()).toBe("0.4");
    expect(stats.winRatePercent?.toString()).toBe("40");
    expect(stats.totalPnl.toString()).toBe("300");
    expect(stats.grossProfit.toString()).toBe("450");
    expect(stats.grossLoss.toString()).toBe("150");
    expect(stats.profitFactor?.toString()).toBe("3");
    expect(stats.averageWin?.toString()).toBe("225");
    expect(stats.averageLoss?.toString()).toBe("75");
    expect(stats.payoffRatio?.toString()).toBe("3");
    expect(stats.largestWin?.toString()).toBe("300");
    expect(stats.largestLoss?.toString()).toBe("100");
    // 0.4 x 225 - 0.4 x 75 = 60 = 300 / 5
    expect(stats.expectancy?.toString()).toBe("60");
    expect(stats.rCount).toBe(5);
    expect(stats.expectancyR?.toString()).toBe("0.3");
    expect(stats.quality).toBe("Fair");
  });

  it("computes the dollar expectancy as win% x average win - loss% x average loss", () => {
    const trades = [trade("120.50", null), trade("-40.25", null), trade("-10", null)];
    const stats = computeTradeStatistics(trades);
    const { winRate, averageWin, averageLoss } = stats;
    if (winRate === null || averageWin === null || averageLoss === null) throw new Error("missing");
    const lossRate = new Decimal(stats.losses).div(stats.count);
    const formula = winRate.times(averageWin).minus(lossRate.times(averageLoss));
    expect(stats.expectancy?.toDecimalPlaces(20).eq(formula.toDecimalPlaces(20))).toBe(true);
    expect(stats.expectancy?.toDecimalPlaces(2).toString()).toBe("23.42");
  });

  it("has no profit factor without losses, and zero without wins", () => {
    const allWins = computeTradeStatistics([trade("10", "1"), trade("20", "2")]);
    expect(allWins.profitFactor).toBeNull();
    expect(allWins.averageLoss).toBeNull();
    expect(allWins.payoffRatio).toBeNull();
    expect(allWins.winRatePercent?.toString()).toBe("100");
    const allLosses = computeTradeStatistics([trade("-10", "-1"), trade("-20", "-1")]);
    expect(allLosses.profitFactor?.toString()).toBe("0");
    expect(allLosses.averageWin).toBeNull();
    expect(allLosses.winRate?.toString()).toBe("0");
    expect(allLosses.maxConsecutiveLosses).toBe(2);
  });

  it("takes expectancy in R only from trades that have an R multiple", () => {
    const stats = computeTradeStatistics([trade("100", "2"), trade("-50", null), trade("40", "1")]);
    expect(stats.rCount).toBe(2);
    expect(stats.expectancyR?.toString()).toBe("1.5");
    expect(stats.quality).toBe("Excellent");
    const noR = computeTradeStatistics([trade("100", null)]);
    expect(noR.expectancyR).toBeNull();
    expect(noR.quality).toBeNull();
  });

  it("keeps sub-penny and huge P&L exact", () => {
    const stats = computeTradeStatistics([
      trade("0.0001", null),
      trade("123456789012345678901234567.89", null),
      trade("-0.00005", null),
    ]);
    expect(stats.totalPnl.toString()).toBe("123456789012345678901234567.89005");
    expect(stats.largestLoss?.toString()).toBe("0.00005");
  });
});

describe("expectancy quality", () => {
  it("labels expectancy in R with the thresholds as strict bounds", () => {
    expect(expectancyQuality(dec("1.01"))).toBe("Excellent");
    expect(expectancyQuality(dec("1"))).toBe("Good");
    expect(expectancyQuality(dec("0.51"))).toBe("Good");
    expect(expectancyQuality(dec("0.5"))).toBe("Fair");
    expect(expectancyQuality(dec("0.0001"))).toBe("Fair");
    expect(expectancyQuality(dec("0"))).toBe("Losing (review strategy)");
    expect(expectancyQuality(dec("-2"))).toBe("Losing (review strategy)");
  });
});

describe("max drawdown", () => {
  it("is the largest fall from the running peak of the closed-trade equity curve", () => {
    // curve: 100, 300, 150, 50, 250, 100 -> peak 300, trough 50: 250
    const stats = computeTradeStatistics(
      ["100", "200", "-150", "-100", "200", "-150"].map((pnl) => trade(pnl, null)),
    );
    expect(stats.maxDrawdown.toString()).toBe("250");
    expect(stats.maxConsecutiveLosses).toBe(2);
  });

  it("counts a first losing trade as a drawdown from zero", () => {
    const stats = computeTradeStatistics([
      trade("-80", null),
      trade("-20", null),
      trade("500", null),
    ]);
    expect(stats.maxDrawdown.toString()).toBe("100");
  });

  it("is zero for a curve that never falls", () => {
    expect(computeTradeStatistics([trade("1", null), trade("0", null)]).maxDrawdown.isZero()).toBe(
      true,
    );
  });

  it("orders trades by close time, not by input order, reading ISO text and epoch ms", () => {
    const t = (pnl: string, closedAt: string | number) => trade(pnl, null, { closedAt });
    const stats = computeTradeStatistics([
      t("-100", "2026-03-02T16:00:00Z"),
      t("-100", Date.parse("2026-03-02T14:00:00Z")),
      t("500", "2026-03-02T15:00:00.000Z"),
    ]);
    // closing order: -100, +500, -100: curve -100, 400, 300, drawdown 100
    // (input order would give -100, -200, 300, drawdown 200)
    expect(stats.maxDrawdown.toString()).toBe("100");
    expect(stats.maxConsecutiveLosses).toBe(1);
    const streak = computeTradeStatistics([
      t("-1", "2026-03-02T15:00:00Z"),
      t("5", "2026-03-02T15:30:00Z"),
      t("-1", "2026-03-02T16:00:00Z"),
      t("-1", "2026-03-02T14:00:00Z"),
    ]);
    // closing order: -1, -1, +5, -1
    expect(streak.maxConsecutiveLosses).toBe(2);
    expect(streak.maxDrawdown.toString()).toBe("2");
  });

  it("keeps input order for equal close times", () => {
    const at = "2026-03-02T15:00:00Z";
    const stats = computeTradeStatistics([
      trade("100", null, { closedAt: at }),
      trade("-100", null, { closedAt: at }),
    ]);
    expect(stats.maxDrawdown.toString()).toBe("100");
  });

  it("throws on an unreadable close time, a bug in the caller's data", () => {
    expect(() => computeTradeStatistics([trade("1", null, { closedAt: "yesterday-ish" })])).toThrow(
      RangeError,
    );
    expect(() => computeTradeStatistics([trade("1", null, { closedAt: Number.NaN })])).toThrow(
      RangeError,
    );
  });
});

describe("breakdowns", () => {
  it("splits by source, in a fixed order, leaving out sources without trades", () => {
    const stats = computeTradeStatistics([
      trade("100", "1", { source: "api" }),
      trade("-50", "-1", { source: "manual" }),
      trade("30", "0.5", { source: "api" }),
    ]);
    expect(stats.bySource.map((s) => [s.source, s.statistics.count])).toEqual([
      ["manual", 1],
      ["api", 2],
    ]);
    const api = stats.bySource.find((s) => s.source === "api")?.statistics;
    expect(api?.totalPnl.toString()).toBe("130");
    expect(api?.expectancyR?.toString()).toBe("0.75");
    expect(api?.quality).toBe("Good");
  });

  it("splits alert trades by pattern, most trades first, then by name", () => {
    const stats = computeTradeStatistics([
      trade("200", "2", { source: "alert", pattern: "VCP" }),
      trade("-100", "-1", { source: "alert", pattern: "Cup and Handle" }),
      trade("-100", "-1", { source: "alert", pattern: "VCP" }),
      trade("50", "0.5", { source: "alert", pattern: "Flat Base" }),
      trade("10", "0.1", { source: "manual" }),
      trade("10", "0.1", { source: "manual", pattern: "  " }),
      trade("300", "3", { source: "alert", pattern: " VCP " }),
    ]);
    expect(stats.byPattern.map((p) => [p.pattern, p.statistics.count])).toEqual([
      ["VCP", 3],
      ["Cup and Handle", 1],
      ["Flat Base", 1],
    ]);
    const vcp = stats.byPattern[0]?.statistics;
    expect(vcp?.totalPnl.toString()).toBe("400");
    expect(vcp?.winRatePercent?.toDecimalPlaces(2).toString()).toBe("66.67");
    expect(vcp?.maxDrawdown.toString()).toBe("100");
    expect(vcp?.quality).toBe("Excellent");
    expect(stats.bySource.find((s) => s.source === "alert")?.statistics.count).toBe(5);
  });
});

const tradeArbitrary = fc.record({
  realizedPnl: fc
    .tuple(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }))
    .map(([digits, scale]) => new Decimal(digits.toString()).div(new Decimal(10).pow(scale))),
  rMultiple: fc.option(
    fc.integer({ min: -500, max: 1000 }).map((r) => new Decimal(r).div(100)),
    { nil: null },
  ),
  source: fc.constantFrom<TradeSource>("manual", "alert", "api"),
  pattern: fc.option(fc.constantFrom("VCP", "Cup and Handle", "Flat Base"), { nil: undefined }),
  closedAt: fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 }),
});

describe("statistics properties", () => {
  it("total P&L equals the sum of the inputs, and the parts add up", () => {
    fc.assert(
      fc.property(fc.array(tradeArbitrary, { maxLength: 60 }), (trades) => {
        const stats = computeTradeStatistics(trades);
        expect(stats.totalPnl.eq(sumDecimals(trades.map((t) => t.realizedPnl)))).toBe(true);
        expect(stats.grossProfit.minus(stats.grossLoss).eq(stats.totalPnl)).toBe(true);
        expect(stats.wins + stats.losses + stats.breakevens).toBe(trades.length);
        const sourceTotal = sumDecimals(stats.bySource.map((s) => s.statistics.totalPnl));
        expect(sourceTotal.eq(stats.totalPnl)).toBe(true);
        expect(stats.bySource.reduce((n, s) => n + s.statistics.count, 0)).toBe(trades.length);
        expect(stats.maxDrawdown.gte(0)).toBe(true);
        // the drawdown can never exceed the sum of all losses
        expect(stats.maxDrawdown.lte(stats.grossLoss)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("does not depend on the input order, only on close times", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(tradeArbitrary, { maxLength: 30, selector: (t) => t.closedAt }),
        (trades) => {
          const forward = computeTradeStatistics(trades);
          const backward = computeTradeStatistics([...trades].reverse());
          expect(backward.maxDrawdown.eq(forward.maxDrawdown)).toBe(true);
          expect(backward.maxConsecutiveLosses).toBe(forward.maxConsecutiveLosses);
          expect(backward.totalPnl.eq(forward.totalPnl)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
