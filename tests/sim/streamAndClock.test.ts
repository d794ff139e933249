import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { alpacaFor } from "./alpacaClient";
import { recordTradeUpdates } from "./streamRecorder";

let t: TestSimulator;
const alpaca = () => alpacaFor(t.url);
const buy = (qty: string, clientOrderId: string) =>
  alpaca().trading.orders.market({
    symbol: "AAPL",
    side: "buy",
    qty,
    timeInForce: "day",
    clientOrderId,
  });

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

describe("trade_updates stream", () => {
  it("refuses a wrong key pair when keys are configured", async () => {
    const locked = await startTestSimulator({ keyId: "right", secretKey: "secret" });
    try {
      const stream = alpacaFor(locked.url).trading.stream({
        url: locked.streamUrl,
        reconnect: false,
      });
      stream.connect();
      const result = await stream.waitForAuthenticationResult(3000);
      expect(result.authenticated).toBe(false);
      stream.disconnect();
    } finally {
      await locked.close();
    }
  });

  it("reconnects after a dropped stream; events sent while it was down are not replayed", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl, {
      initialReconnectMs: 50,
      backoff: false,
    });
    try {
      let reconnected = false;
      rec.stream.onReconnected(() => {
        reconnected = true;
      });
      await buy("1", "before-drop");
      await rec.waitFor((u) =>
        u.some((x) => x.clientOrderId === "before-drop" && x.event === "fill"),
      );
      await t.control("/sim/faults", { dropStream: true });
      await buy("1", "while-down");
      const deadline = Date.now() + 3000;
      while (!reconnected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(reconnected).toBe(true);
      await rec.waitFor(() => true);
      // The SDK re-sends listen on reconnect; wait until the server has it before the next order.
      await new Promise((r) => setTimeout(r, 100));
      await buy("1", "after-reconnect");
      await rec.waitFor((u) =>
        u.some((x) => x.clientOrderId === "after-reconnect" && x.event === "fill"),
      );
      expect(rec.updates.some((u) => u.clientOrderId === "while-down")).toBe(false);
      // The order placed while the stream was down is still visible over REST (the resync path).
      const missed = await alpaca().trading.orders.getOrderByClientOrderId({
        clientOrderId: "while-down",
      });
      expect(missed.status).toBe("filled");
    } finally {
      rec.close();
    }
  });

  it("duplicates and delays events on request", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await t.control("/sim/faults", { duplicateEvents: 2 });
      await buy("2", "dup-events");
      await rec.waitFor((u) => u.length === 4);
      expect(rec.updates.map((u) => u.event)).toEqual(["new", "new", "fill", "fill"]);
      expect(rec.updates[2]?.executionId).toBe(rec.updates[3]?.executionId);
      await t.control("/sim/faults", { streamDelayMs: 200 });
      const sent = Date.now();
      await buy("1", "delayed-events");
      await new Promise((r) => setTimeout(r, 100));
      expect(rec.updates.some((u) => u.clientOrderId === "delayed-events")).toBe(false);
      await rec.waitFor((u) =>
        u.some((x) => x.clientOrderId === "delayed-events" && x.event === "fill"),
      );
      expect(Date.now() - sent).toBeGreaterThanOrEqual(190);
    } finally {
      rec.close();
      await t.control("/sim/faults", { clear: true });
    }
  });
});

describe("optional events", () => {
  it("sends pending_new before new, and done_for_day before a partly filled day order expires", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await t.control("/sim/faults", { pendingNew: true, doneForDay: true });
      await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "3" });
      await buy("5", "optional-events");
      await t.control("/sim/clock", { time: "2026-03-02T21:00:00Z" });
      await rec.waitFor((u) => u.some((x) => x.event === "expired"));
      expect(rec.updates.map((u) => u.event)).toEqual([
        "pending_new",
        "new",
        "partial_fill",
        "done_for_day",
        "expired",
      ]);
    } finally {
      rec.close();
    }
  });
});

describe("cancel and replace requests", () => {
  const limitBuy = (qty: string, clientOrderId: string, limitPrice = "180") =>
    alpaca().trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty,
      limitPrice,
      timeInForce: "day",
      clientOrderId,
    });

  it("answers a cancel with pending_cancel, then canceled", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      const o = await limitBuy("5", "cancel-me");
      await alpaca().trading.orders.deleteOrderByOrderID({ orderId: o.id ?? "" });
      await rec.waitFor((u) => u.some((x) => x.event === "canceled"));
      expect(rec.updates.map((u) => [u.event, u.status])).toEqual([
        ["new", "new"],
        ["pending_cancel", "pending_cancel"],
        ["canceled", "canceled"],
      ]);
    } finally {
      rec.close();
    }
  });

  it("answers a replace with pending_replace and replaced for the old order, new for the new one", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      const o = await limitBuy("5", "replace-events");
      const fresh = await alpaca().trading.orders.patchOrderByOrderId({
        orderId: o.id ?? "",
        patchOrderRequest: { limitPrice: "181" },
      });
      await rec.waitFor((u) => u.filter((x) => x.event === "new").length === 2);
      expect(rec.updates.map((u) => [u.event, u.orderId])).toEqual([
        ["new", o.id],
        ["pending_replace", o.id],
        ["replaced", o.id],
        ["new", fresh.id],
      ]);
    } finally {
      rec.close();
    }
  });

  it("keeps a held cancel pending: the order still fills, refuses a second cancel, then is canceled", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await t.control("/sim/faults", { holdCancels: true });
      await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "2" });
      const o = await limitBuy("5", "held-cancel", "189");
      await alpaca().trading.orders.deleteOrderByOrderID({ orderId: o.id ?? "" });
      await expect(
        alpaca().trading.orders.deleteOrderByOrderID({ orderId: o.id ?? "" }),
      ).rejects.toMatchObject({ status: 422 });
      await t.control("/sim/quotes", { symbol: "AAPL", bid: "188.98", ask: "189.00" });
      const pending = await alpaca().trading.orders.getOrderByOrderID({ orderId: o.id ?? "" });
      expect([pending.status, pending.filledQty]).toEqual(["pending_cancel", "2"]);
      await t.control("/sim/faults", { releaseCancels: true });
      await rec.waitFor((u) => u.some((x) => x.event === "canceled"));
      expect(rec.updates.map((u) => [u.event, u.status])).toEqual([
        ["new", "new"],
        ["pending_cancel", "pending_cancel"],
        ["partial_fill", "pending_cancel"],
        ["canceled", "canceled"],
      ]);
      const positions = await alpaca().trading.positions.getAllOpenPositions();
      expect(positions[0]?.qty).toBe("2");
    } finally {
      rec.close();
      await t.control("/sim/faults", { clear: true });
    }
  });

  it("a held cancel of a stop that holds the shares keeps them held until it is confirmed", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "3",
      timeInForce: "day",
    });
    const stop = await alpaca().trading.orders.stop({
      symbol: "AAPL",
      side: "sell",
      qty: "3",
      stopPrice: "180",
      timeInForce: "gtc",
    });
    await t.control("/sim/faults", { holdCancels: true });
    try {
      await alpaca().trading.orders.deleteOrderByOrderID({ orderId: stop.id ?? "" });
      // Still working: the market falls through it and it fills.
      await t.control("/sim/quotes", {
        symbol: "AAPL",
        bid: "179.00",
        ask: "179.02",
        last: "179.01",
      });
      const after = await alpaca().trading.orders.getOrderByOrderID({ orderId: stop.id ?? "" });
      expect([after.status, after.filledQty]).toEqual(["filled", "3"]);
      expect(await alpaca().trading.positions.getAllOpenPositions()).toEqual([]);
    } finally {
      await t.control("/sim/faults", { clear: true });
    }
  });
});

describe("simulated clock", () => {
  it("walks the calendar: close, weekend, next open", async () => {
    await t.control("/sim/clock", { time: "2026-03-06T20:59:00Z" }); // Friday 15:59 EST
    let clock = await alpaca().trading.clock.legacyClock();
    expect(clock.isOpen).toBe(true);
    await t.control("/sim/clock", { advanceSeconds: 120 });
    clock = await alpaca().trading.clock.legacyClock();
    expect(clock.isOpen).toBe(false);
    // DST starts on Sunday March 8, 2026: Monday opens at 13:30 UTC.
    expect(clock.nextOpen?.toISOString()).toBe("2026-03-09T13:30:00.000Z");
    expect(clock.nextClose?.toISOString()).toBe("2026-03-09T20:00:00.000Z");
  });

  it("closes early on the day after Thanksgiving", async () => {
    await t.control("/sim/clock", { time: "2026-11-27T15:00:00Z" });
    const clock = await alpaca().trading.clock.legacyClock();
    expect(clock.isOpen).toBe(true);
    expect(clock.nextClose?.toISOString()).toBe("2026-11-27T18:00:00.000Z");
  });

  it("can force the market open or closed", async () => {
    await t.control("/sim/market", { open: false });
    const o = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "1",
      timeInForce: "day",
    });
    expect(o.status).toBe("accepted");
    expect((await alpaca().trading.clock.legacyClock()).isOpen).toBe(false);
    await t.control("/sim/market", { open: null });
    expect((await alpaca().trading.orders.getOrderByOrderID({ orderId: o.id ?? "" })).status).toBe(
      "filled",
    );
  });
});

describe("prices", () => {
  it("plays a price path in order, so a stop inside it fills at the print that crossed it", async () => {
    const stop = await alpaca().trading.orders.stop({
      symbol: "AAPL",
      side: "buy",
      qty: "1",
      stopPrice: "191",
      timeInForce: "day",
    });
    await t.control("/sim/quotes", { symbol: "AAPL", path: ["190.50", "191.30", "189.00"] });
    const o = await alpaca().trading.orders.getOrderByOrderID({ orderId: stop.id ?? "" });
    expect(o.status).toBe("filled");
    expect(o.filledAvgPrice).toBe("191.3");
    const latest = await alpaca().marketData.stocks.stockLatestTradeSingle({ symbol: "AAPL" });
    expect(latest.trade?.p).toBe(189);
  });

  it("replays bars as the clock passes them and serves them as bars", async () => {
    const csv = [
      "symbol,t,o,h,l,c,v",
      "AAPL,2026-03-02T14:36:00Z,190.00,190.50,189.00,190.20,4000",
      "AAPL,2026-03-02T14:37:00Z,190.20,190.30,187.00,187.50,8000",
    ].join("\n");
    await t.control("/sim/replay", { csv });
    const stop = await alpaca().trading.orders.stop({
      symbol: "AAPL",
      side: "buy",
      qty: "1",
      stopPrice: "190.40",
      timeInForce: "day",
    });
    await t.control("/sim/clock", { advanceSeconds: 75 }); // 14:36:15: the bar's open and low
    expect(
      (await alpaca().trading.orders.getOrderByOrderID({ orderId: stop.id ?? "" })).status,
    ).toBe("new");
    await t.control("/sim/clock", { advanceSeconds: 15 }); // 14:36:30: its high
    const filled = await alpaca().trading.orders.getOrderByOrderID({ orderId: stop.id ?? "" });
    expect(filled.status).toBe("filled");
    expect(filled.filledAvgPrice).toBe("190.5"); // the bar's high, reached inside it
    await t.control("/sim/clock", { advanceSeconds: 120 });
    const bars = await alpaca().marketData.stocks.stockBarSingle({
      symbol: "AAPL",
      timeframe: "1Min",
      start: new Date("2026-03-02T14:36:00Z"),
    });
    expect(bars.bars?.map((b) => [b.o, b.h, b.l, b.c])).toEqual([
      [190, 190.5, 189, 190.2],
      [190.2, 190.3, 187, 187.5],
    ]);
  });

  it("walks prices from a seed, the same path for the same seed", async () => {
    const paths: string[][] = [];
    for (const seed of [7, 7, 8]) {
      const sim = await startTestSimulator({ seed });
      try {
        const seen: string[] = [];
        for (let i = 0; i < 20; i++) {
          await sim.control("/sim/walk", { steps: 1 });
          const state = (await sim.control("/sim/state")) as {
            quotes: Record<string, { last: string }>;
          };
          seen.push(state.quotes.AAPL?.last ?? "");
        }
        paths.push(seen);
      } finally {
        await sim.close();
      }
    }
    expect(paths[1]).toEqual(paths[0]);
    expect(paths[2]).not.toEqual(paths[0]);
    expect(new Set(paths[0]).size).toBeGreaterThan(3);
    for (const p of paths[0] ?? []) expect(p).toMatch(/^\d+(\.\d{1,2})?$/);
  });
});
