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

function bracket(qty: string, clientOrderId?: string) {
  return alpaca().trading.orders.bracket({
    symbol: "AAPL",
    side: "buy",
    qty,
    limitPrice: "189",
    timeInForce: "gtc",
    takeProfit: { limitPrice: "200" },
    stopLoss: { stopPrice: "185" },
    ...(clientOrderId ? { clientOrderId } : {}),
  });
}

async function legsOf(id: string | undefined) {
  const parent = await orderById(id);
  const legs = parent.legs ?? [];
  const tp = legs.find((l) => l.type === "limit");
  const sl = legs.find((l) => l.type === "stop");
  if (!tp || !sl) throw new Error(`bracket ${id} lacks legs`);
  return { parent, tp: await orderById(tp.id), sl: await orderById(sl.id) };
}

describe("bracket leg lifecycle", () => {
  it("holds legs until the entry is completely filled, then works the take-profit", async () => {
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "6" });
    const entry = await bracket("10");
    expect(entry.legs).toHaveLength(2);
    let g = await legsOf(entry.id);
    expect([g.parent.status, g.tp.status, g.sl.status]).toEqual(["new", "held", "held"]);
    await quote("188.90", "188.95");
    g = await legsOf(entry.id);
    expect([g.parent.status, g.parent.filledQty, g.tp.status, g.sl.status]).toEqual([
      "partially_filled",
      "6",
      "held",
      "held",
    ]);
    await quote("188.90", "188.96");
    g = await legsOf(entry.id);
    expect([g.parent.status, g.tp.status, g.sl.status]).toEqual(["filled", "new", "held"]);
    expect(g.tp.qty).toBe("10");
    expect(g.tp.side).toBe("sell");
  });

  it("a partial take-profit shrinks the stop; the rest of the take-profit cancels the stop", async () => {
    const entry = await bracket("10");
    await quote("188.90", "188.95");
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "4" });
    await quote("200.00", "200.02");
    let g = await legsOf(entry.id);
    expect([g.tp.status, g.tp.filledQty]).toEqual(["partially_filled", "4"]);
    expect(g.sl.qty).toBe("6");
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: null });
    await quote("200.01", "200.03");
    g = await legsOf(entry.id);
    expect(g.tp.status).toBe("filled");
    expect(g.sl.status).toBe("canceled");
    expect(await alpaca().trading.positions.getAllOpenPositions()).toHaveLength(0);
  });

  it("the stop fills on a drop and cancels the take-profit, streaming both", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      const entry = await bracket("10", "bracket-stop-1");
      await quote("188.90", "188.95");
      await quote("184.00", "184.02");
      const g = await legsOf(entry.id);
      expect(g.sl.status).toBe("filled");
      expect(g.sl.filledAvgPrice).toBe("184");
      expect(g.tp.status).toBe("canceled");
      await rec.waitFor(
        (u) =>
          u.filter((x) => x.event === "fill").length === 2 && u.some((x) => x.event === "canceled"),
      );
      const slFill = rec.updates.find((u) => u.event === "fill" && u.orderId === g.sl.id);
      expect(slFill?.positionQty).toBe("0");
      const canceled = rec.updates.find((u) => u.event === "canceled");
      expect(canceled?.orderId).toBe(g.tp.id);
    } finally {
      rec.close();
    }
  });

  it("cancelling one leg cancels the group, without liquidating", async () => {
    const entry = await bracket("10");
    await quote("188.90", "188.95");
    let g = await legsOf(entry.id);
    await alpaca().trading.orders.deleteOrderByOrderID({ orderId: g.tp.id ?? "" });
    g = await legsOf(entry.id);
    expect([g.tp.status, g.sl.status]).toEqual(["canceled", "canceled"]);
    const positions = await alpaca().trading.positions.getAllOpenPositions();
    expect(positions[0]?.qty).toBe("10");
  });

  it("cancelling an unfilled entry cancels its held legs", async () => {
    const entry = await bracket("10");
    await alpaca().trading.orders.deleteOrderByOrderID({ orderId: entry.id ?? "" });
    const g = await legsOf(entry.id);
    expect([g.parent.status, g.tp.status, g.sl.status]).toEqual([
      "canceled",
      "canceled",
      "canceled",
    ]);
  });

  it("refuses a bracket that would close a position instead of opening one", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "10",
      timeInForce: "day",
    });
    await expect(
      alpaca().trading.orders.bracket({
        symbol: "AAPL",
        side: "sell",
        qty: "10",
        timeInForce: "day",
        takeProfit: { limitPrice: "180" },
        stopLoss: { stopPrice: "195" },
      }),
    ).rejects.toMatchObject({ status: 422, code: 42210000 });
  });

  it("cancelling a partly filled entry cancels its held legs and keeps the filled shares", async () => {
    await t.control("/sim/liquidity", { symbol: "AAPL", sharesPerFill: "4" });
    const entry = await bracket("10");
    await quote("188.90", "188.95");
    await alpaca().trading.orders.deleteOrderByOrderID({ orderId: entry.id ?? "" });
    const g = await legsOf(entry.id);
    expect([g.parent.status, g.parent.filledQty, g.tp.status, g.sl.status]).toEqual([
      "canceled",
      "4",
      "canceled",
      "canceled",
    ]);
    const positions = await alpaca().trading.positions.getAllOpenPositions();
    expect(positions[0]?.qty).toBe("4");
  });

  it("replacing the entry's quantity resizes its held legs", async () => {
    const entry = await bracket("10");
    const fresh = await alpaca().trading.orders.patchOrderByOrderId({
      orderId: entry.id ?? "",
      patchOrderRequest: { qty: "7" },
    });
    const g = await legsOf(fresh.id);
    expect([g.parent.qty, g.tp.qty, g.sl.qty]).toEqual(["7", "7", "7"]);
    expect([g.tp.status, g.sl.status]).toEqual(["held", "held"]);
  });

  it("legs reserve the position: a separate sell for it is refused", async () => {
    await bracket("10");
    await quote("188.90", "188.95");
    await expect(
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "sell",
        qty: "1",
        timeInForce: "day",
      }),
    ).rejects.toMatchObject({ name: "PermissionError", status: 403, code: 40310000 });
  });
});

describe("oco and oto", () => {
  it("oco exits a position: take-profit works, stop held; one fill cancels the other", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "10",
      timeInForce: "day",
    });
    const oco = await alpaca().trading.orders.oco({
      symbol: "AAPL",
      side: "sell",
      qty: "10",
      timeInForce: "gtc",
      takeProfit: { limitPrice: "195" },
      stopLoss: { stopPrice: "185", limitPrice: "184.50" },
    });
    const parent = await orderById(oco.id);
    expect(parent.orderClass).toBe("oco");
    expect(parent.type).toBe("limit");
    expect(parent.limitPrice).toBe("195");
    const stopLeg = parent.legs?.[0];
    expect(stopLeg?.type).toBe("stop_limit");
    expect(stopLeg?.status).toBe("held");
    await price("195.10");
    expect((await orderById(oco.id)).status).toBe("filled");
    expect((await orderById(stopLeg?.id)).status).toBe("canceled");
  });

  it("oco without a position to exit is refused", async () => {
    await expect(
      alpaca().trading.orders.oco({
        symbol: "AAPL",
        side: "sell",
        qty: "10",
        timeInForce: "gtc",
        takeProfit: { limitPrice: "195" },
        stopLoss: { stopPrice: "185" },
      }),
    ).rejects.toMatchObject({ status: 403, code: 40310000 });
  });

  it("oto places its one exit once the entry fills", async () => {
    const oto = await alpaca().trading.orders.oto({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      timeInForce: "day",
      stopLoss: { stopPrice: "180" },
    });
    const parent = await orderById(oto.id);
    expect(parent.status).toBe("filled");
    const leg = await orderById(parent.legs?.[0]?.id);
    expect([leg.type, leg.side, leg.status, leg.stopPrice]).toEqual(["stop", "sell", "new", "180"]);
  });
});

describe("replace", () => {
  it("gives the order a new id and marks the old one replaced", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      const o = await alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "5",
        limitPrice: "180",
        timeInForce: "day",
        clientOrderId: "replace-me",
      });
      const fresh = await alpaca().trading.orders.patchOrderByOrderId({
        orderId: o.id ?? "",
        patchOrderRequest: { limitPrice: "181.50", qty: "6" },
      });
      expect(fresh.id).not.toBe(o.id);
      expect(fresh.replaces).toBe(o.id);
      expect(fresh.limitPrice).toBe("181.5");
      expect(fresh.qty).toBe("6");
      const old = await orderById(o.id);
      expect(old.status).toBe("replaced");
      expect(old.replacedBy).toBe(fresh.id);
      await rec.waitFor((u) => u.some((x) => x.event === "replaced"));
      expect(rec.updates.find((u) => u.event === "replaced")?.orderId).toBe(o.id);
      await expect(
        alpaca().trading.orders.patchOrderByOrderId({
          orderId: o.id ?? "",
          patchOrderRequest: { limitPrice: "182" },
        }),
      ).rejects.toMatchObject({ status: 422 });
    } finally {
      rec.close();
    }
  });

  it("moving a bracket's stop keeps it in the group", async () => {
    const entry = await bracket("10");
    await quote("188.90", "188.95");
    const g = await legsOf(entry.id);
    const moved = await alpaca().trading.orders.patchOrderByOrderId({
      orderId: g.sl.id ?? "",
      patchOrderRequest: { stopPrice: "187" },
    });
    expect(moved.stopPrice).toBe("187");
    const parent = await orderById(entry.id);
    expect(parent.legs?.map((l) => l.id)).toContain(moved.id);
    await quote("186.50", "186.52");
    expect((await orderById(moved.id)).status).toBe("filled");
    expect((await orderById(g.tp.id)).status).toBe("canceled");
  });
});
