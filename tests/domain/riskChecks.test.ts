import { describe, expect, it } from "vitest";
import { buildTradingCalendar } from "../../domain/calendar";
import { type Decimal, dec } from "../../domain/money";
import {
  type AccountSnapshot,
  type AssetFlags,
  checkOrder,
  type PositionView,
  type ProposedOrder,
  prepareSnapshot,
  type QuoteView,
  type RecentOrder,
  type RiskCheckResult,
  reducesPosition,
  type WorkingOrderView,
} from "../../domain/riskChecks";
import { DEFAULT_RISK_LIMITS, type RiskLimits } from "../../domain/riskLimits";
import type { TradingState } from "../../domain/tradingState";

const NOW = Date.parse("2026-03-09T15:00:00Z");
const ACTIVE: TradingState = { mode: "ACTIVE", setBy: "AUTO", reason: "", since: 0 };
const HALTED: TradingState = {
  mode: "HALTED",
  setBy: "AUTO",
  reason: "daily loss limit",
  since: 0,
};
const REDUCING: TradingState = { mode: "REDUCING", setBy: "MANUAL", reason: "/reduce", since: 0 };

const tradable: AssetFlags = { tradable: true, shortable: true, fractionable: false };

function quote(bid: string, ask: string): QuoteView {
  return { bid: dec(bid), ask: dec(ask), last: dec(ask) };
}

function position(symbol: string, quantity: string, marketValue: string): PositionView {
  return { symbol, quantity: dec(quantity), marketValue: dec(marketValue) };
}

/**
 * $100,000 equity, so the default limits are: $1,000 risk per trade, $5,000 per position,
 * $80,000 total, $30,000 per sector. Gross exposure held: MSFT $4,000 + XOM $2,000 + TSLA short
 * $1,000 + ABCD (no sector) $3,000 = $10,000. Technology holds MSFT's $4,000.
 */
function snapshot(overrides: Partial<AccountSnapshot> = {}): AccountSnapshot {
  return {
    equity: dec("100000"),
    buyingPower: dec("200000"),
    positions: [
      position("MSFT", "10", "4000"),
      position("XOM", "20", "2000"),
      position("TSLA", "-5", "-1000"),
      position("ABCD", "30", "3000"),
    ],
    workingOrders: [],
    recentOrders: [],
    quotes: new Map([
      ["AAPL", quote("189.99", "190.01")],
      ["NVDA", quote("99.99", "100.01")],
      ["MSFT", quote("399.99", "400.01")],
      ["XOM", quote("99.99", "100.01")],
      ["TSLA", quote("199.99", "200.01")],
      ["ABCD", quote("99.99", "100.01")],
      ["WXYZ", quote("99.99", "100.01")],
      ["PENNY", quote("0.1199", "0.1201")],
      ["HTZ", quote("99.99", "100.01")],
    ]),
    assets: new Map([
      ["AAPL", { ...tradable, fractionable: true }],
      ["NVDA", tradable],
      ["MSFT", tradable],
      ["XOM", tradable],
      ["TSLA", tradable],
      ["ABCD", tradable],
      ["WXYZ", tradable],
      ["PENNY", tradable],
      ["HTZ", { tradable: true, shortable: false, fractionable: false }],
    ]),
    sectors: new Map([
      ["AAPL", "Technology"],
      ["NVDA", "Technology"],
      ["MSFT", "Technology"],
      ["XOM", "Energy"],
      ["TSLA", "Consumer"],
      ["PENNY", "Energy"],
      ["HTZ", "Industrials"],
    ]),
    market: { open: true },
    ...overrides,
  };
}

/** A buy of 20 AAPL at a $190.00 limit, stop $185.00 ($100 risk), target $200.00 (2R): valid. */
function order(overrides: Partial<ProposedOrder> = {}): ProposedOrder {
  return {
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    quantity: dec("20"),
    limitPrice: dec("190.00"),
    stopLossPrice: dec("185.00"),
    takeProfitPrice: dec("200.00"),
    ...overrides,
  };
}

/** A buy of NVDA at a $100.00 limit, stop $99.00 (1% away), target $102.00 (2R). */
function nvda(quantity: string | number, overrides: Partial<ProposedOrder> = {}): ProposedOrder {
  return order({
    symbol: "NVDA",
    quantity: dec(quantity),
    limitPrice: dec("100.00"),
    stopLossPrice: dec("99.00"),
    takeProfitPrice: dec("102.00"),
    ...overrides,
  });
}

function check(
  o: ProposedOrder,
  s: AccountSnapshot = snapshot(),
  limits: RiskLimits = DEFAULT_RISK_LIMITS,
  state: TradingState = ACTIVE,
  now = NOW,
): RiskCheckResult {
  return checkOrder(o, s, limits, state, now);
}

function codes(result: RiskCheckResult): string[] {
  return result.ok ? [] : result.violations.map((v) => v.code);
}

function message(result: RiskCheckResult, code: string): string {
  return result.ok ? "" : (result.violations.find((v) => v.code === code)?.message ?? "");
}

const limitsWith = (overrides: Partial<RiskLimits>): RiskLimits => ({
  ...DEFAULT_RISK_LIMITS,
  ...overrides,
});

describe("a fully valid order", () => {
  it("passes", () => {
    expect(check(order())).toEqual({ ok: true });
  });

  it("passes as a short sale with the stop above and the target below", () => {
    const short = order({
      side: "sell",
      stopLossPrice: dec("195.00"),
      takeProfitPrice: dec("180.00"),
    });
    expect(check(short)).toEqual({ ok: true });
  });

  it("passes as a market order priced at the ask", () => {
    expect(check(order({ type: "market", limitPrice: null }))).toEqual({ ok: true });
  });

  it("gives the same verdict from a prepared snapshot, reused across orders", () => {
    const s = snapshot();
    const prepared = prepareSnapshot(s);
    for (const o of [order(), nvda(51), nvda(50), order({ quantity: dec("0") })]) {
      expect(checkOrder(o, prepared, DEFAULT_RISK_LIMITS, ACTIVE, NOW)).toEqual(check(o, s));
    }
  });
});

describe("RISK_PER_TRADE", () => {
  // Entry $190, stop $150: $40 a share. 25 shares risk exactly $1,000 (1% of $100,000);
  // notional $4,750 stays under the $5,000 position limit; a $250 target is exactly 1.5R.
  const atLimit = order({
    quantity: dec("25"),
    stopLossPrice: dec("150.00"),
    takeProfitPrice: dec("250.00"),
  });

  it("passes exactly at 1% of equity", () => {
    expect(check(atLimit)).toEqual({ ok: true });
  });

  it("refuses a cent of stop distance more", () => {
    const r = check({ ...atLimit, stopLossPrice: dec("149.99"), takeProfitPrice: dec("260.00") });
    expect(codes(r)).toEqual(["RISK_PER_TRADE"]);
    expect(message(r, "RISK_PER_TRADE")).toBe(
      "The trade risks $1,000.25, above the per-trade limit of $1,000.00, 1% of $100,000.00 equity.",
    );
  });

  it("measures a market order from the ask", () => {
    // 25 shares from the $190.01 ask to a $150.00 stop risk $1,000.25.
    const r = check({
      ...atLimit,
      type: "market",
      limitPrice: null,
      takeProfitPrice: dec("260.00"),
    });
    expect(codes(r)).toEqual(["RISK_PER_TRADE"]);
  });

  it("refuses an opening order without a stop loss", () => {
    expect(codes(check(order({ stopLossPrice: null })))).toEqual(["MISSING_STOP"]);
  });
});

describe("BELOW_MIN_REWARD_TO_RISK", () => {
  it("passes exactly at the 1.5 minimum and refuses just below", () => {
    expect(check(order({ takeProfitPrice: dec("197.50") }))).toEqual({ ok: true });
    const r = check(order({ takeProfitPrice: dec("197.49") }));
    expect(codes(r)).toEqual(["BELOW_MIN_REWARD_TO_RISK"]);
    expect(message(r, "BELOW_MIN_REWARD_TO_RISK")).toContain("1.50");
  });

  it("is not checked without a target", () => {
    expect(check(order({ takeProfitPrice: null }))).toEqual({ ok: true });
  });

  it("follows the account's minimum", () => {
    expect(codes(check(order(), undefined, limitsWith({ minRewardToRisk: dec("2.01") })))).toEqual([
      "BELOW_MIN_REWARD_TO_RISK",
    ]);
  });
});

describe("STOP_WRONG_SIDE and TARGET_WRONG_SIDE", () => {
  it("refuses a long stop at or above the entry", () => {
    expect(codes(check(order({ stopLossPrice: dec("190.00") })))).toEqual(["STOP_WRONG_SIDE"]);
    expect(codes(check(order({ stopLossPrice: dec("191.00") })))).toEqual(["STOP_WRONG_SIDE"]);
  });

  it("refuses a short stop below the entry and a short target above it", () => {
    const short = order({
      side: "sell",
      stopLossPrice: dec("185.00"),
      takeProfitPrice: dec("195.00"),
    });
    expect(codes(check(short))).toEqual(["STOP_WRONG_SIDE", "TARGET_WRONG_SIDE"]);
  });

  it("refuses a sell stop that would trigger at once (above the market)", () => {
    const exit = order({
      symbol: "MSFT",
      side: "sell",
      type: "stop",
      quantity: dec("10"),
      limitPrice: null,
      stopPrice: dec("400.50"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(codes(check(exit))).toEqual(["STOP_WRONG_SIDE"]);
    expect(check({ ...exit, stopPrice: dec("390.00") })).toEqual({ ok: true });
  });
});

describe("a protective stop the market has already crossed", () => {
  // AAPL fell to 184: a buy limit at 190 fills at once near 184, below its 185 stop.
  const fallen = () => snapshot({ quotes: new Map([["AAPL", quote("183.99", "184.01")]]) });

  it("refuses a long entry that would fill below its own stop, and a short above its own", () => {
    const result = check(order(), fallen());
    expect(codes(result)).toEqual(["STOP_WRONG_SIDE"]);
    expect(message(result, "STOP_WRONG_SIDE")).toBe(
      "The stop loss ($185.00) is at or above the market ($184.00): it would sell as soon as the entry fills. Move the stop below the market, or let the trade go.",
    );
    const short = order({
      side: "sell",
      stopLossPrice: dec("195.00"),
      takeProfitPrice: dec("180.00"),
    });
    const risen = snapshot({ quotes: new Map([["AAPL", quote("195.99", "196.01")]]) });
    expect(codes(check(short, risen))).toEqual(["STOP_WRONG_SIDE"]);
    expect(codes(check({ ...order(), type: "market", limitPrice: null }, fallen()))).toEqual([
      "STOP_WRONG_SIDE",
    ]);
  });

  it("leaves a stop entry alone: it fills only once the market reaches it", () => {
    const breakout = order({
      type: "stop",
      limitPrice: null,
      stopPrice: dec("190.00"),
      stopLossPrice: dec("186.00"),
    });
    expect(check(breakout, fallen())).toEqual({ ok: true });
  });
});

describe("MAX_POSITION_SIZE", () => {
  it("passes at exactly 5% of equity and refuses one share more", () => {
    expect(check(nvda(50))).toEqual({ ok: true });
    const r = check(nvda(51));
    expect(codes(r)).toEqual(["MAX_POSITION_SIZE"]);
    expect(message(r, "MAX_POSITION_SIZE")).toBe(
      "NVDA would be $5,100.00, above the position limit of $5,000.00, 5% of $100,000.00 equity.",
    );
  });

  it("refuses a cent over the limit", () => {
    const held = (marketValue: string) =>
      snapshot({ positions: [position("NVDA", "1", marketValue)] });
    expect(check(nvda(49), held("100.00"))).toEqual({ ok: true });
    const r = check(nvda(49), held("100.01"));
    expect(codes(r)).toEqual(["MAX_POSITION_SIZE"]);
    expect(message(r, "MAX_POSITION_SIZE")).toContain("$5,000.01");
  });

  it("adds to the position already held", () => {
    const msft = (quantity: string) =>
      order({
        symbol: "MSFT",
        quantity: dec(quantity),
        limitPrice: dec("400.00"),
        stopLossPrice: dec("390.00"),
        takeProfitPrice: dec("420.00"),
      });
    expect(check(msft("2"))).toEqual({ ok: true });
    expect(codes(check(msft("3")))).toEqual(["MAX_POSITION_SIZE"]);
  });

  it("adds working entries on the same symbol", () => {
    const working: WorkingOrderView = {
      symbol: "NVDA",
      side: "buy",
      role: "ENTRY",
      remainingQuantity: dec("10"),
      limitPrice: dec("100.00"),
      stopPrice: null,
    };
    expect(check(nvda(40), snapshot({ workingOrders: [working] }))).toEqual({ ok: true });
    expect(codes(check(nvda(41), snapshot({ workingOrders: [working] })))).toEqual([
      "MAX_POSITION_SIZE",
    ]);
  });

  it("ignores working exits", () => {
    const stop: WorkingOrderView = {
      symbol: "NVDA",
      side: "sell",
      role: "STOP_LOSS",
      remainingQuantity: dec("100"),
      limitPrice: null,
      stopPrice: dec("95.00"),
    };
    expect(check(nvda(50), snapshot({ workingOrders: [stop] }))).toEqual({ ok: true });
  });
});

describe("MAX_OPEN_POSITIONS", () => {
  const four = limitsWith({ maxOpenPositions: 4 });

  it("refuses a new symbol when the count is at the limit", () => {
    const r = check(nvda(10), snapshot(), four);
    expect(codes(r)).toEqual(["MAX_OPEN_POSITIONS"]);
    expect(message(r, "MAX_OPEN_POSITIONS")).toContain("4 positions");
  });

  it("passes a new symbol one below the limit", () => {
    expect(check(nvda(10), snapshot(), limitsWith({ maxOpenPositions: 5 }))).toEqual({ ok: true });
  });

  it("passes an addition to a symbol already held", () => {
    const xom = order({
      symbol: "XOM",
      quantity: dec("10"),
      limitPrice: dec("100.00"),
      stopLossPrice: dec("99.00"),
      takeProfitPrice: dec("102.00"),
    });
    expect(check(xom, snapshot(), four)).toEqual({ ok: true });
  });

  it("counts symbols with working entries", () => {
    const working: WorkingOrderView = {
      symbol: "NVDA",
      side: "buy",
      role: "ENTRY",
      remainingQuantity: dec("1"),
      limitPrice: dec("100.00"),
      stopPrice: null,
    };
    const s = snapshot({ workingOrders: [working] });
    const limits = limitsWith({ maxOpenPositions: 5 });
    expect(codes(check(order({ quantity: dec("1") }), s, limits))).toEqual(["MAX_OPEN_POSITIONS"]);
    expect(check(nvda(1), s, limits)).toEqual({ ok: true });
  });
});

describe("MAX_TOTAL_EXPOSURE", () => {
  // $10,000 held; a 13% limit is $13,000.
  const limits = limitsWith({ maxTotalExposurePercent: dec("13") });

  it("passes exactly at the limit and refuses one share more", () => {
    expect(check(nvda(30), snapshot(), limits)).toEqual({ ok: true });
    const r = check(nvda(31), snapshot(), limits);
    expect(codes(r)).toEqual(["MAX_TOTAL_EXPOSURE"]);
    expect(message(r, "MAX_TOTAL_EXPOSURE")).toContain("$13,100.00");
  });

  it("refuses a cent over the limit", () => {
    const s = (xom: string) =>
      snapshot({ positions: [position("MSFT", "10", "4000"), position("XOM", "60", xom)] });
    expect(check(nvda(30), s("6000.00"), limits)).toEqual({ ok: true });
    expect(codes(check(nvda(30), s("6000.01"), limits))).toEqual(["MAX_TOTAL_EXPOSURE"]);
  });

  it("counts a short by its size", () => {
    const s = snapshot({ positions: [position("TSLA", "-60", "-12000")] });
    expect(check(nvda(10), s, limits)).toEqual({ ok: true });
    expect(codes(check(nvda(11), s, limits))).toEqual(["MAX_TOTAL_EXPOSURE"]);
  });
});

describe("MAX_SECTOR_EXPOSURE", () => {
  // Technology holds $4,000; an 8% limit is $8,000.
  const limits = limitsWith({ maxSectorExposurePercent: dec("8"), maxPositionPercent: dec("10") });

  it("passes exactly at the sector limit and refuses one share more", () => {
    expect(check(nvda(40), snapshot(), limits)).toEqual({ ok: true });
    const r = check(nvda(41), snapshot(), limits);
    expect(codes(r)).toEqual(["MAX_SECTOR_EXPOSURE"]);
    expect(message(r, "MAX_SECTOR_EXPOSURE")).toContain("Technology");
  });

  it("refuses a cent over the sector limit", () => {
    const s = (msft: string) => snapshot({ positions: [position("MSFT", "10", msft)] });
    expect(check(nvda(40), s("4000.00"), limits)).toEqual({ ok: true });
    expect(codes(check(nvda(40), s("4000.01"), limits))).toEqual(["MAX_SECTOR_EXPOSURE"]);
  });

  it("puts symbols without a sector together in UNKNOWN", () => {
    // ABCD ($3,000) has no sector; WXYZ neither: together up to $8,000.
    const wxyz = (q: number) => nvda(q, { symbol: "WXYZ" });
    expect(check(wxyz(50), snapshot(), limits)).toEqual({ ok: true });
    const r = check(wxyz(51), snapshot(), limits);
    expect(codes(r)).toEqual(["MAX_SECTOR_EXPOSURE"]);
    expect(message(r, "MAX_SECTOR_EXPOSURE")).toContain("UNKNOWN");
  });
});

describe("UNPRICED_WORKING_ENTRY", () => {
  // A market entry in QQQQ, a symbol the snapshot has no quote for.
  const unpriced: WorkingOrderView = {
    symbol: "QQQQ",
    side: "buy",
    role: "ENTRY",
    remainingQuantity: dec("40"),
    limitPrice: null,
    stopPrice: null,
  };

  it("keeps a working entry without limit, stop or quote out of the totals, and lists it", () => {
    const p = prepareSnapshot(snapshot({ workingOrders: [unpriced] }));
    expect(p.totalExposure.toString()).toBe("10000");
    expect(p.unpricedEntries).toEqual([unpriced]);
    expect(p.heldSymbols.has("QQQQ")).toBe(true);
  });

  it("refuses an opening order in any symbol while such an entry works, and says what to do", () => {
    const s = snapshot({ workingOrders: [unpriced] });
    const r = check(nvda(1), s);
    expect(codes(r)).toEqual(["UNPRICED_WORKING_ENTRY"]);
    expect(message(r, "UNPRICED_WORKING_ENTRY")).toBe(
      "A working entry has no known price (buy 40 QQQQ), so the account's exposure cannot be checked: wait for it to fill or cancel it, then try again.",
    );
    expect(codes(check(order({ type: "market", limitPrice: null }), s))).toEqual([
      "UNPRICED_WORKING_ENTRY",
    ]);
  });

  it("never keeps a position from being reduced", () => {
    const s = snapshot({ workingOrders: [unpriced] });
    const sellMsft = order({
      symbol: "MSFT",
      side: "sell",
      quantity: dec("10"),
      limitPrice: dec("400.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(sellMsft, s)).toEqual({ ok: true });
  });

  it("prices the entry from the quote when its symbol has one", () => {
    const quoted = snapshot({
      workingOrders: [unpriced],
      quotes: new Map([
        ["NVDA", quote("99.99", "100.01")],
        ["QQQQ", quote("49.99", "50.01")],
      ]),
    });
    const p = prepareSnapshot(quoted);
    expect(p.unpricedEntries).toEqual([]);
    expect(p.totalExposure.toString()).toBe("12000.4");
  });

  it("counts an entry priced by the books (the planned entry) with no quote for its symbol", () => {
    // 40 QQQQ planned at $50.00 add $2,000 to the $10,000 held: a 13% limit leaves $1,000.
    const planned = snapshot({ workingOrders: [{ ...unpriced, limitPrice: dec("50.00") }] });
    const limits = limitsWith({ maxTotalExposurePercent: dec("13") });
    expect(check(nvda(10), planned, limits)).toEqual({ ok: true });
    expect(codes(check(nvda(11), planned, limits))).toEqual(["MAX_TOTAL_EXPOSURE"]);
  });
});

describe("BUYING_POWER", () => {
  it("passes with exactly enough and refuses a cent less", () => {
    expect(check(order(), snapshot({ buyingPower: dec("3800") }))).toEqual({ ok: true });
    const r = check(order(), snapshot({ buyingPower: dec("3799.99") }));
    expect(codes(r)).toEqual(["BUYING_POWER"]);
    expect(message(r, "BUYING_POWER")).toBe(
      "The order needs $3,800.00 of buying power; the account has $3,799.99.",
    );
  });

  it("adds the slippage allowance to a market order", () => {
    // 20 x $190.01 = $3,800.20, plus 0.5% = $3,819.201.
    const market = order({ type: "market", limitPrice: null });
    expect(check(market, snapshot({ buyingPower: dec("3819.21") }))).toEqual({ ok: true });
    const r = check(market, snapshot({ buyingPower: dec("3819.20") }));
    expect(codes(r)).toEqual(["BUYING_POWER"]);
    expect(message(r, "BUYING_POWER")).toContain("slippage");
  });
});

describe("PRICE_COLLAR and NO_QUOTE", () => {
  // AAPL mark $190.00; 5% is $9.50 either way.
  // The stop stays below the market: a buy limit above it fills at the market.
  const at = (limit: string) => {
    const entry = dec(limit);
    return order({
      limitPrice: entry,
      stopLossPrice: entry.gt(dec("190")) ? dec("185.00") : entry.minus(1),
      takeProfitPrice: entry.plus(30),
      quantity: dec("10"),
    });
  };

  it("passes at exactly 5% from the mark on either side", () => {
    expect(check(at("199.50"))).toEqual({ ok: true });
    expect(check(at("180.50"))).toEqual({ ok: true });
  });

  it("refuses a cent beyond on either side", () => {
    expect(codes(check(at("199.51")))).toEqual(["PRICE_COLLAR"]);
    const r = check(at("180.49"));
    expect(codes(r)).toEqual(["PRICE_COLLAR"]);
    expect(message(r, "PRICE_COLLAR")).toBe(
      "The limit price $180.49 is more than 5% from the market ($190.00).",
    );
  });

  it("refuses an order with no quote to check against", () => {
    const s = snapshot({ quotes: new Map() });
    expect(codes(check(order(), s))).toEqual(["NO_QUOTE"]);
  });

  it("lets a reducing order through without a quote (a stop must always be placeable)", () => {
    const exit = order({
      symbol: "MSFT",
      side: "sell",
      quantity: dec("10"),
      limitPrice: dec("400.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(exit, snapshot({ quotes: new Map() }))).toEqual({ ok: true });
  });

  it("falls back to one side, then the last trade, ignoring zero prices", () => {
    const oneSided = snapshot({
      quotes: new Map([["AAPL", { bid: dec("0"), ask: dec("190.00"), last: null }]]),
    });
    expect(check(order(), oneSided)).toEqual({ ok: true });
    const lastOnly = snapshot({ quotes: new Map([["AAPL", { last: dec("190.00") }]]) });
    expect(check(order(), lastOnly)).toEqual({ ok: true });
  });
});

describe("OFF_TICK (sub-penny)", () => {
  it("refuses sub-penny prices at or above $1, naming each", () => {
    const r = check(order({ limitPrice: dec("190.005"), stopLossPrice: dec("185.001") }));
    expect(codes(r)).toEqual(["OFF_TICK"]);
    expect(message(r, "OFF_TICK")).toContain("limit $190.005, stop loss $185.001");
  });

  it("accepts four decimals below $1 and refuses five", () => {
    const penny = (limit: string) =>
      order({
        symbol: "PENNY",
        quantity: dec("1000"),
        limitPrice: dec(limit),
        stopLossPrice: dec("0.1100"),
        takeProfitPrice: dec("0.1500"),
      });
    expect(check(penny("0.1200"))).toEqual({ ok: true });
    expect(codes(check(penny("0.12005")))).toEqual(["OFF_TICK"]);
  });
});

describe("DUPLICATE_ORDER", () => {
  const sent = (ageMs: number, overrides: Partial<RecentOrder> = {}): RecentOrder => ({
    symbol: "AAPL",
    side: "buy",
    quantity: dec("20"),
    limitPrice: dec("190"),
    stopPrice: null,
    submittedAt: NOW - ageMs,
    ...overrides,
  });

  it("refuses the same order sent less than 60 s ago", () => {
    const r = check(order(), snapshot({ recentOrders: [sent(59_999)] }));
    expect(codes(r)).toEqual(["DUPLICATE_ORDER"]);
    expect(message(r, "DUPLICATE_ORDER")).toContain("less than 60 s ago");
  });

  it("passes once 60 s have gone by", () => {
    expect(check(order(), snapshot({ recentOrders: [sent(60_000)] }))).toEqual({ ok: true });
  });

  it("passes a different quantity, price, side or symbol", () => {
    const recentOrders = [
      sent(1000, { quantity: dec("21") }),
      sent(1000, { limitPrice: dec("190.01") }),
      sent(1000, { side: "sell" }),
      sent(1000, { symbol: "NVDA" }),
    ];
    expect(check(order(), snapshot({ recentOrders }))).toEqual({ ok: true });
  });

  it("ignores submissions stamped after now (a clock ahead elsewhere)", () => {
    expect(check(order(), snapshot({ recentOrders: [sent(-5000)] }))).toEqual({ ok: true });
  });

  it("applies to reducing orders too", () => {
    const exit = order({
      symbol: "MSFT",
      side: "sell",
      quantity: dec("10"),
      limitPrice: dec("400.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    const recentOrders = [
      sent(10_000, { symbol: "MSFT", side: "sell", quantity: dec("10"), limitPrice: dec("400") }),
    ];
    expect(codes(check(exit, snapshot({ recentOrders })))).toEqual(["DUPLICATE_ORDER"]);
  });
});

describe("ORDER_RATE", () => {
  const burst = (count: number, ageMs: number): RecentOrder[] =>
    Array.from({ length: count }, (_, i) => ({
      symbol: `S${i}`,
      side: "buy" as const,
      quantity: dec("1"),
      limitPrice: null,
      stopPrice: null,
      submittedAt: NOW - ageMs,
    }));

  it("passes the 30th order of a minute and refuses the 31st", () => {
    expect(check(order(), snapshot({ recentOrders: burst(29, 1000) }))).toEqual({ ok: true });
    const r = check(order(), snapshot({ recentOrders: burst(30, 1000) }));
    expect(codes(r)).toEqual(["ORDER_RATE"]);
    expect(message(r, "ORDER_RATE")).toBe(
      "30 orders were sent in the last minute; the limit is 30.",
    );
  });

  it("forgets orders 60 s old", () => {
    expect(check(order(), snapshot({ recentOrders: burst(30, 60_000) }))).toEqual({ ok: true });
  });

  it("never keeps an exit from going out, however busy the minute was", () => {
    const exit = order({
      symbol: "MSFT",
      side: "sell",
      type: "stop",
      quantity: dec("10"),
      limitPrice: null,
      stopPrice: dec("380.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(exit, snapshot({ recentOrders: burst(30, 1000) }))).toEqual({ ok: true });
  });
});

describe("MARKET_CLOSED", () => {
  it("refuses when the broker's clock says closed", () => {
    const r = check(order(), snapshot({ market: { open: false } }));
    expect(codes(r)).toEqual(["MARKET_CLOSED"]);
  });

  it("lets an order that reduces a position through, so exits can be placed after hours", () => {
    const stop = order({
      symbol: "MSFT",
      side: "sell",
      type: "stop",
      quantity: dec("10"),
      limitPrice: null,
      stopPrice: dec("380.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(stop, snapshot({ market: { open: false } }))).toEqual({ ok: true });
    expect(
      codes(check({ ...stop, quantity: dec("11") }, snapshot({ market: { open: false } }))),
    ).toEqual(["MARKET_CLOSED", "MISSING_STOP"]);
  });

  it("lets an extended-hours order through", () => {
    expect(check(order({ extendedHours: true }), snapshot({ market: { open: false } }))).toEqual({
      ok: true,
    });
  });

  it("follows the calendar: open at the open, closed at the close, closed on a holiday", () => {
    const calendar = buildTradingCalendar([
      { date: "2026-03-09", open: "09:30", close: "16:00" },
      { date: "2026-03-10", open: "09:30", close: "16:00" },
    ]);
    const s = snapshot({ market: { calendar } });
    const at = (iso: string) =>
      checkOrder(order(), s, DEFAULT_RISK_LIMITS, ACTIVE, Date.parse(iso));
    expect(at("2026-03-09T13:30:00Z")).toEqual({ ok: true });
    expect(codes(at("2026-03-09T13:29:59.999Z"))).toEqual(["MARKET_CLOSED"]);
    expect(codes(at("2026-03-09T20:00:00Z"))).toEqual(["MARKET_CLOSED"]);
    expect(codes(at("2026-03-11T15:00:00Z"))).toEqual(["MARKET_CLOSED"]);
  });
});

describe("NOT_TRADABLE and NOT_SHORTABLE", () => {
  it("refuses an asset the broker does not trade or does not know", () => {
    const s = snapshot({
      assets: new Map([["AAPL", { tradable: false, shortable: true, fractionable: true }]]),
    });
    expect(codes(check(order(), s))).toEqual(["NOT_TRADABLE"]);
    const unknown = snapshot({ assets: new Map() });
    expect(message(check(order(), unknown), "NOT_TRADABLE")).toContain("not an asset");
  });

  it("refuses everything on an account the broker blocked", () => {
    expect(codes(check(order(), snapshot({ tradingBlocked: true })))).toEqual(["NOT_TRADABLE"]);
  });

  const shortHtz = nvda(10, {
    symbol: "HTZ",
    side: "sell",
    stopLossPrice: dec("101.00"),
    takeProfitPrice: dec("98.00"),
  });

  it("refuses a short sale of an asset that cannot be borrowed", () => {
    expect(codes(check(shortHtz))).toEqual(["NOT_SHORTABLE"]);
  });

  it("refuses a short sale on an account without shorting", () => {
    const short = order({
      side: "sell",
      stopLossPrice: dec("195.00"),
      takeProfitPrice: dec("180.00"),
    });
    expect(codes(check(short, snapshot({ shortingEnabled: false })))).toEqual(["NOT_SHORTABLE"]);
  });

  it("lets a long in a non-shortable asset be sold", () => {
    const s = snapshot({ positions: [position("HTZ", "10", "1000")] });
    const sell = { ...shortHtz, stopLossPrice: null, takeProfitPrice: null };
    expect(check(sell, s)).toEqual({ ok: true });
  });
});

describe("INVALID_QUANTITY and INVALID_PRICE", () => {
  it("refuses zero, negative and over-precise quantities", () => {
    expect(codes(check(order({ quantity: dec("0") })))).toEqual(["INVALID_QUANTITY"]);
    expect(codes(check(order({ quantity: dec("-5") })))).toEqual(["INVALID_QUANTITY"]);
    expect(codes(check(order({ quantity: dec("0.0000000001") })))).toEqual(["INVALID_QUANTITY"]);
  });

  it("takes fractions only where the asset is fractionable", () => {
    expect(check(order({ quantity: dec("2.5") }))).toEqual({ ok: true });
    const r = check(nvda("2.5"));
    expect(codes(r)).toEqual(["INVALID_QUANTITY"]);
    expect(message(r, "INVALID_QUANTITY")).toContain("whole shares");
  });

  it("refuses a fractional short sale, even of a fractionable asset", () => {
    const short = order({
      side: "sell",
      quantity: dec("2.5"),
      stopLossPrice: dec("195.00"),
      takeProfitPrice: dec("180.00"),
    });
    const r = check(short);
    expect(codes(r)).toEqual(["INVALID_QUANTITY"]);
    expect(message(r, "INVALID_QUANTITY")).toContain("whole shares");
  });

  it("refuses a limit order without a limit price and non-positive prices", () => {
    expect(codes(check(order({ limitPrice: null })))).toEqual(["INVALID_PRICE"]);
    expect(codes(check(order({ stopLossPrice: dec("-1") })))).toEqual(["INVALID_PRICE"]);
    expect(codes(check(order({ type: "stop", limitPrice: null })))).toEqual(["INVALID_PRICE"]);
  });
});

describe("trading state: TRADING_HALTED and REDUCE_ONLY", () => {
  const sellMsft = (quantity: string) =>
    order({
      symbol: "MSFT",
      side: "sell",
      quantity: dec(quantity),
      limitPrice: dec("400.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });

  it("refuses an opening order when halted, saying why", () => {
    const r = check(order(), snapshot(), DEFAULT_RISK_LIMITS, HALTED);
    expect(codes(r)).toEqual(["TRADING_HALTED"]);
    expect(message(r, "TRADING_HALTED")).toContain("daily loss limit");
  });

  it("refuses an opening order when reduce-only", () => {
    expect(codes(check(order(), snapshot(), DEFAULT_RISK_LIMITS, REDUCING))).toEqual([
      "REDUCE_ONLY",
    ]);
  });

  it("lets a reducing order through in both", () => {
    expect(check(sellMsft("10"), snapshot(), DEFAULT_RISK_LIMITS, HALTED)).toEqual({ ok: true });
    expect(check(sellMsft("4"), snapshot(), DEFAULT_RISK_LIMITS, REDUCING)).toEqual({ ok: true });
    const cover = order({
      symbol: "TSLA",
      quantity: dec("5"),
      limitPrice: dec("200.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(cover, snapshot(), DEFAULT_RISK_LIMITS, HALTED)).toEqual({ ok: true });
  });

  it("treats selling more than the long as opening a short", () => {
    const flip = sellMsft("15");
    expect(codes(check(flip, snapshot(), DEFAULT_RISK_LIMITS, HALTED))).toEqual([
      "TRADING_HALTED",
      "MISSING_STOP",
    ]);
  });
});

describe("trade entries against a position on the other side: OPPOSITE_POSITION", () => {
  // The broker keeps one position per symbol: a short trade's entry against a long would close
  // the long instead of opening, and its exits would then trade a position that is not there.
  const shortMsft = (quantity: string) =>
    order({
      symbol: "MSFT",
      side: "sell",
      quantity: dec(quantity),
      limitPrice: dec("400.00"),
      stopLossPrice: dec("410.00"),
      takeProfitPrice: null,
      opensTrade: true,
    });

  it("refuses a short trade beside a long and a long trade beside a short, saying what to do", () => {
    const short = check(shortMsft("4"), snapshot(), DEFAULT_RISK_LIMITS, ACTIVE);
    expect(codes(short)).toEqual(["OPPOSITE_POSITION"]);
    expect(message(short, "OPPOSITE_POSITION")).toContain("/close MSFT");
    const long = order({
      symbol: "TSLA",
      quantity: dec("5"),
      limitPrice: dec("200.00"),
      stopLossPrice: dec("190.00"),
      takeProfitPrice: null,
      opensTrade: true,
    });
    expect(codes(check(long, snapshot(), DEFAULT_RISK_LIMITS, ACTIVE))).toContain(
      "OPPOSITE_POSITION",
    );
  });

  it("never lets such an entry through a halt or reduce-only as if it reduced the position", () => {
    expect(codes(check(shortMsft("10"), snapshot(), DEFAULT_RISK_LIMITS, HALTED))).toEqual([
      "TRADING_HALTED",
      "OPPOSITE_POSITION",
    ]);
    expect(codes(check(shortMsft("4"), snapshot(), DEFAULT_RISK_LIMITS, REDUCING))).toEqual([
      "REDUCE_ONLY",
      "OPPOSITE_POSITION",
    ]);
  });

  it("lets a trade entry on the same side as the position through", () => {
    const addMsft = order({
      symbol: "MSFT",
      quantity: dec("1"),
      limitPrice: dec("400.00"),
      stopLossPrice: dec("390.00"),
      takeProfitPrice: null,
      opensTrade: true,
    });
    expect(codes(check(addMsft, snapshot(), DEFAULT_RISK_LIMITS, ACTIVE))).not.toContain(
      "OPPOSITE_POSITION",
    );
  });
});

describe("reducing orders", () => {
  it("skip exposure, position count and buying power", () => {
    const s = snapshot({ buyingPower: dec("0"), equity: dec("1000") });
    const limits = limitsWith({ maxOpenPositions: 0 });
    const exit = order({
      symbol: "XOM",
      side: "sell",
      quantity: dec("20"),
      limitPrice: dec("100.00"),
      stopLossPrice: null,
      takeProfitPrice: null,
    });
    expect(check(exit, s, limits)).toEqual({ ok: true });
  });

  it("are recognised from the position's sign", () => {
    const long = { quantity: dec("10") };
    const short = { quantity: dec("-10") };
    expect(reducesPosition({ side: "sell", quantity: dec("10") }, long)).toBe(true);
    expect(reducesPosition({ side: "sell", quantity: dec("11") }, long)).toBe(false);
    expect(reducesPosition({ side: "buy", quantity: dec("1") }, long)).toBe(false);
    expect(reducesPosition({ side: "buy", quantity: dec("10") }, short)).toBe(true);
    expect(reducesPosition({ side: "sell", quantity: dec("1") }, short)).toBe(false);
    expect(reducesPosition({ side: "sell", quantity: dec("1") }, undefined)).toBe(false);
  });
});

describe("zero equity and many broken rules", () => {
  it("refuses any new exposure on a zero-equity account", () => {
    const r = check(nvda(1), snapshot({ equity: dec("0"), positions: [] }));
    expect(codes(r)).toEqual([
      "RISK_PER_TRADE",
      "MAX_POSITION_SIZE",
      "MAX_TOTAL_EXPOSURE",
      "MAX_SECTOR_EXPOSURE",
    ]);
    expect(message(r, "MAX_POSITION_SIZE")).toContain("$0.00, 5% of $0.00 equity");
  });

  it("lists every violated rule at once", () => {
    const s = snapshot({
      market: { open: false },
      buyingPower: dec("100"),
      recentOrders: Array.from({ length: 30 }, () => ({
        symbol: "AAPL",
        side: "buy" as const,
        quantity: dec("200"),
        limitPrice: dec("200.001"),
        stopPrice: null,
        submittedAt: NOW - 1000,
      })),
    });
    const wild = order({
      quantity: dec("200"),
      limitPrice: dec("200.001"),
      stopLossPrice: dec("201.00"),
      takeProfitPrice: dec("150.00"),
    });
    const r = check(wild, s, limitsWith({ maxOpenPositions: 4 }), REDUCING);
    expect(codes(r).sort()).toEqual(
      [
        "REDUCE_ONLY",
        "MARKET_CLOSED",
        "DUPLICATE_ORDER",
        "ORDER_RATE",
        "OFF_TICK",
        "PRICE_COLLAR",
        "STOP_WRONG_SIDE",
        "TARGET_WRONG_SIDE",
        "MAX_POSITION_SIZE",
        "MAX_SECTOR_EXPOSURE",
        "BUYING_POWER",
        "MAX_OPEN_POSITIONS",
      ].sort(),
    );
    if (!r.ok) for (const v of r.violations) expect(v.message.length).toBeGreaterThan(10);
  });
});

describe("prepared snapshot aggregates", () => {
  it("sums gross exposure, per sector and per symbol, working entries included", () => {
    const working: WorkingOrderView = {
      symbol: "NVDA",
      side: "buy",
      role: "ENTRY",
      remainingQuantity: dec("10"),
      limitPrice: null,
      stopPrice: null,
    };
    const p = prepareSnapshot(snapshot({ workingOrders: [working] }));
    const show = (d: Decimal | undefined) => d?.toString();
    // The market entry counts at the $100.01 ask.
    expect(show(p.totalExposure)).toBe("11000.1");
    expect(show(p.exposureBySector.get("Technology"))).toBe("5000.1");
    expect(show(p.exposureBySector.get("UNKNOWN"))).toBe("3000");
    expect(show(p.exposureBySymbol.get("NVDA"))).toBe("1000.1");
    expect([...p.heldSymbols].sort()).toEqual(["ABCD", "MSFT", "NVDA", "TSLA", "XOM"]);
  });
});
