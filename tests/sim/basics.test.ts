import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { alpacaFor } from "./alpacaClient";
import { recordTradeUpdates } from "./streamRecorder";

let t: TestSimulator;

beforeAll(async () => {
  t = await startTestSimulator();
});
afterAll(async () => {
  await t.close();
});
beforeEach(async () => {
  await t.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
  await t.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
});

describe("simulator basics through the Alpaca SDK", () => {
  it("reports the account, clock, calendar and asset", async () => {
    const alpaca = alpacaFor(t.url);
    const account = await alpaca.trading.account.getAccount();
    expect(account.cash).toBe("100000.00");
    expect(account.equity).toBe("100000.00");
    expect(account.lastEquity).toBe("100000.00");
    expect(account.buyingPower).toBe("100000.00");
    const clock = await alpaca.trading.clock.legacyClock();
    expect(clock.isOpen).toBe(true);
    expect(clock.nextClose?.toISOString()).toBe("2026-03-02T21:00:00.000Z");
    const days = await alpaca.trading.calendar.legacyCalendar({
      start: new Date("2026-04-01T00:00:00Z"),
      end: new Date("2026-04-07T00:00:00Z"),
    });
    // Good Friday (April 3, 2026) is a holiday.
    expect(days.map((d) => d.date.toISOString().slice(0, 10))).toEqual([
      "2026-04-01",
      "2026-04-02",
      "2026-04-06",
      "2026-04-07",
    ]);
    const asset = await alpaca.trading.assets.getV2AssetsSymbolOrAssetId({
      symbolOrAssetId: "AAPL",
    });
    expect(asset.symbol).toBe("AAPL");
    expect(asset.tradable).toBe(true);
  });

  it("fills a market buy at the ask and streams new then fill", async () => {
    const alpaca = alpacaFor(t.url);
    const rec = await recordTradeUpdates(alpaca, t.streamUrl);
    try {
      const order = await alpaca.trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "10",
        timeInForce: "day",
        clientOrderId: "basics-market-1",
      });
      expect(order.clientOrderId).toBe("basics-market-1");
      await rec.waitFor((u) => u.some((x) => x.event === "fill"));
      expect(rec.updates.map((u) => u.event)).toEqual(["new", "fill"]);
      const fill = rec.updates[1];
      expect(fill?.price).toBe("190.01");
      expect(fill?.qty).toBe("10");
      expect(fill?.positionQty).toBe("10");
      expect(fill?.executionId).toMatch(/^[0-9a-f-]{36}$/);
      const byClient = await alpaca.trading.orders.getOrderByClientOrderId({
        clientOrderId: "basics-market-1",
      });
      expect(byClient.status).toBe("filled");
      expect(byClient.filledAvgPrice).toBe("190.01");
      const positions = await alpaca.trading.positions.getAllOpenPositions();
      expect(positions).toHaveLength(1);
      expect(positions[0]?.qty).toBe("10");
      expect(positions[0]?.avgEntryPrice).toBe("190.01");
      const account = await alpaca.trading.account.getAccount();
      expect(account.cash).toBe("98099.90");
    } finally {
      rec.close();
    }
  });

  it("rests a limit buy until the ask reaches it, then fills at the ask", async () => {
    const alpaca = alpacaFor(t.url);
    const order = await alpaca.trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      limitPrice: "189.50",
      timeInForce: "gtc",
    });
    let fetched = await alpaca.trading.orders.getOrderByOrderID({ orderId: order.id ?? "" });
    expect(fetched.status).toBe("new");
    await t.control("/sim/quotes", { symbol: "AAPL", bid: "189.40", ask: "189.45" });
    fetched = await alpaca.trading.orders.getOrderByOrderID({ orderId: order.id ?? "" });
    expect(fetched.status).toBe("filled");
    expect(fetched.filledAvgPrice).toBe("189.45");
  });

  it("cancels an open order and lists it as closed", async () => {
    const alpaca = alpacaFor(t.url);
    const order = await alpaca.trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      limitPrice: "180",
      timeInForce: "day",
    });
    await alpaca.trading.orders.deleteOrderByOrderID({ orderId: order.id ?? "" });
    const open = await alpaca.trading.orders.getAllOrders({ status: "open" });
    expect(open).toHaveLength(0);
    const closed = await alpaca.trading.orders.getAllOrders({ status: "closed" });
    expect(closed.map((o) => o.status)).toEqual(["canceled"]);
  });

  it("serves the latest quote as market data", async () => {
    const alpaca = alpacaFor(t.url);
    const latest = await alpaca.marketData.stocks.stockLatestQuoteSingle({ symbol: "AAPL" });
    expect(latest.quote?.ap).toBe(190.01);
    expect(latest.quote?.bp).toBe(189.99);
  });

  it("keeps the symbols and cash it was started with across resets", async () => {
    const custom = await startTestSimulator({
      cash: "25000",
      symbols: { ZZZT: { price: "12.34" } },
    });
    try {
      await custom.control("/sim/reset", { time: MARKET_OPEN_TIME });
      const alpaca = alpacaFor(custom.url);
      expect((await alpaca.trading.account.getAccount()).cash).toBe("25000.00");
      const trade = await alpaca.marketData.stocks.stockLatestTradeSingle({ symbol: "ZZZT" });
      expect(trade.trade?.p).toBe(12.34);
      await custom.control("/sim/reset", { cash: "5000" });
      expect((await alpaca.trading.account.getAccount()).cash).toBe("5000.00");
    } finally {
      await custom.close();
    }
  });
});
