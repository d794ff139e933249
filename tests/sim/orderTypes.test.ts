import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { alpacaFor } from "./alpacaClient";
import { recordTradeUpdates } from "./streamRecorder";

let t: TestSimulator;
const alpaca = () => alpacaFor(t.url);
const orderById = (id: string | undefined) =>
  alpaca().trading.orders.getOrderByOrderID({ orderId: id ?? "" });
const quote = (bid: string, ask: string, symbol = "AAPL") =>
  t.control("/sim/quotes", { symbol, bid, ask });
const price = (p: string, symbol = "AAPL") => t.control("/sim/quotes", { symbol, price: p });

beforeAll(async () => {
  t = await startTestSimulator();
});
afterAll(async () => {
  await t.close();
});
beforeEach(async () => {
  await t.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
  await quote("189.99", "190.01");
});

describe("order types", () => {
  it("stop buy triggers on the last trade and fills at the ask", async () => {
    const o = await alpaca().trading.orders.stop({
      symbol: "AAPL",
      side: "buy",
      qty: "3",
      stopPrice: "191",
      timeInForce: "day",
    });
    await quote("190.50", "190.60");
    expect((await orderById(o.id)).status).toBe("new");
    await quote("191.00", "191.04");
    const filled = await orderById(o.id);
    expect(filled.status).toBe("filled");
    expect(filled.filledAvgPrice).toBe("191.04");
  });

  it("stop sell that the price gaps through fills at the gap price, not the stop", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "10",
      timeInForce: "day",
    });
    const stop = await alpaca().trading.orders.stop({
      symbol: "AAPL",
      side: "sell",
      qty: "10",
      stopPrice: "185",
      timeInForce: "gtc",
    });
    await quote("179.50", "179.60");
    const filled = await orderById(stop.id);
    expect(filled.status).toBe("filled");
    expect(filled.filledAvgPrice).toBe("179.5");
  });

  it("stop_limit triggers, then rests as a limit when the price runs past it", async () => {
    const o = await alpaca().trading.orders.stopLimit({
      symbol: "AAPL",
      side: "buy",
      qty: "2",
      stopPrice: "191",
      limitPrice: "191.20",
      timeInForce: "day",
    });
    await quote("191.50", "191.60"); // triggers; ask above the limit
    expect((await orderById(o.id)).status).toBe("new");
    await quote("191.10", "191.15");
    const filled = await orderById(o.id);
    expect(filled.status).toBe("filled");
    expect(filled.filledAvgPrice).toBe("191.15");
  });

  it("trailing stop follows the high-water mark and fills when the price falls back", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      timeInForce: "day",
    });
    const trail = await alpaca().trading.orders.trailingStop({
      symbol: "AAPL",
      side: "sell",
      qty: "5",
      trailPrice: "2",
      timeInForce: "gtc",
    });
    await price("195");
    let o = await orderById(trail.id);
    expect(o.hwm).toBe("195");
    expect(o.stopPrice).toBe("193");
    await price("193.50");
    expect((await orderById(trail.id)).status).toBe("new");
    await price("192.90");
    o = await orderById(trail.id);
    expect(o.status).toBe("filled");
    expect(o.filledAvgPrice).toBe("192.9");
  });

  it("fills large orders in parts under a liquidity cap, streaming partial fills", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "40" });
      const o = await alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "100",
        timeInForce: "day",
      });
      expect((await orderById(o.id)).status).toBe("partially_filled");
      await quote("190.00", "190.02");
      await quote("190.01", "190.03");
      const done = await orderById(o.id);
      expect(done.status).toBe("filled");
      expect(done.filledQty).toBe("100");
      // (40 * 190.01 + 40 * 190.02 + 20 * 190.03) / 100
      expect(done.filledAvgPrice).toBe("190.018");
      await rec.waitFor((u) => u.some((x) => x.event === "fill"));
      const fills = rec.updates.filter((u) => u.event.endsWith("fill"));
      expect(fills.map((f) => [f.event, f.qty, f.price, f.positionQty])).toEqual([
        ["partial_fill", "40", "190.01", "40"],
        ["partial_fill", "40", "190.02", "80"],
        ["fill", "20", "190.03", "100"],
      ]);
      expect(new Set(fills.map((f) => f.executionId)).size).toBe(3);
    } finally {
      rec.close();
    }
  });
});

describe("time in force", () => {
  it("ioc fills what it can at once and cancels the rest", async () => {
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "30" });
    const o = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "50",
      timeInForce: "ioc",
    });
    const done = await orderById(o.id);
    expect(done.status).toBe("canceled");
    expect(done.filledQty).toBe("30");
    const missed = await alpaca().trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      limitPrice: "180",
      timeInForce: "ioc",
    });
    expect((await orderById(missed.id)).status).toBe("canceled");
  });

  it("fok fills completely or not at all", async () => {
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "30" });
    const refused = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "50",
      timeInForce: "fok",
    });
    const r = await orderById(refused.id);
    expect(r.status).toBe("canceled");
    expect(r.filledQty).toBe("0");
    const ok = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "30",
      timeInForce: "fok",
    });
    expect((await orderById(ok.id)).status).toBe("filled");
  });

  it("opg waits for the opening auction; cls for the closing one", async () => {
    await t.control("/sim/reset", { cash: "100000", time: "2026-03-02T12:00:00Z" }); // 07:00 New York
    const opg = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "4",
      timeInForce: "opg",
    });
    expect(opg.status).toBe("accepted");
    await price("191.00");
    await t.control("/sim/clock", { time: "2026-03-02T14:30:00Z" });
    const opened = await orderById(opg.id);
    expect(opened.status).toBe("filled");
    expect(opened.filledAvgPrice).toBe("191");
    const cls = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "sell",
      qty: "4",
      timeInForce: "cls",
    });
    await price("192.00");
    expect((await orderById(cls.id)).status).toBe("new");
    await t.control("/sim/clock", { time: "2026-03-02T21:00:00Z" });
    const closed = await orderById(cls.id);
    expect(closed.status).toBe("filled");
    expect(closed.filledAvgPrice).toBe("192");
  });

  it("day orders expire at the close, gtc orders stay, and last equity rolls", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "10",
        timeInForce: "day",
      });
      const day = await alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "150",
        timeInForce: "day",
      });
      const gtc = await alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "150",
        timeInForce: "gtc",
      });
      await price("200");
      const before = await alpaca().trading.account.getAccount();
      expect(before.lastEquity).toBe("100000.00");
      expect(before.equity).toBe("100099.90"); // 10 bought at 190.01, now 200
      await t.control("/sim/clock", { advanceSeconds: 7 * 3600 }); // 09:35 -> 16:35
      expect((await orderById(day.id)).status).toBe("expired");
      expect((await orderById(gtc.id)).status).toBe("new");
      await rec.waitFor((u) => u.some((x) => x.event === "expired"));
      const after = await alpaca().trading.account.getAccount();
      expect(after.lastEquity).toBe("100099.90");
      const clock = await alpaca().trading.clock.legacyClock();
      expect(clock.isOpen).toBe(false);
      expect(clock.nextOpen?.toISOString()).toBe("2026-03-03T14:30:00.000Z");
    } finally {
      rec.close();
    }
  });

  it("queues orders placed while closed and routes them at the open", async () => {
    await t.control("/sim/reset", { cash: "100000", time: "2026-03-07T15:00:00Z" }); // Saturday
    const o = await alpaca().trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "1",
      limitPrice: "195",
      timeInForce: "day",
    });
    expect(o.status).toBe("accepted");
    await t.control("/sim/clock", { time: "2026-03-09T13:00:00Z" }); // Monday 09:00 (EDT from March 8)
    expect((await orderById(o.id)).status).toBe("accepted");
    await t.control("/sim/clock", { time: "2026-03-09T13:30:00Z" }); // 09:30 EDT
    expect((await orderById(o.id)).status).toBe("filled");
  });

  it("extended-hours limit orders trade before the open", async () => {
    await t.control("/sim/reset", { cash: "100000", time: "2026-03-02T12:00:00Z" }); // 07:00 New York
    const o = await alpaca().trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "1",
      limitPrice: "195",
      timeInForce: "day",
      extendedHours: true,
    });
    expect((await orderById(o.id)).status).toBe("filled");
  });
});
