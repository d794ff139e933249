import { describe, expect, it } from "vitest";
import { Dec } from "../../../sim/engine/decimal";
import { cancelOrder, closePosition, submitOrder } from "../../../sim/engine/orderEntry";
import type { TradeUpdate } from "../../../sim/engine/types";
import { openTestExchange } from "./exchangeFixture";

function setup(time = "2026-03-02T15:00:00Z", cash = "100000") {
  const { ex, clock, quote, submit } = openTestExchange(time, cash);
  const updates: TradeUpdate[] = [];
  ex.onTradeUpdate((u) => updates.push(u));
  return { ex, clock, updates, quote, submit };
}

describe("exchange accounting", () => {
  it("buys, sells part, and keeps cash, cost basis and equity exact", () => {
    const { ex, quote, submit } = setup();
    quote("AAPL", "100.00", "100.10");
    submit({ symbol: "AAPL", side: "buy", qty: "30" });
    quote("AAPL", "101.00", "101.02");
    submit({ symbol: "AAPL", side: "sell", qty: "10" });
    const pos = ex.positionsJson()[0];
    expect(pos).toMatchObject({ qty: "20", avg_entry_price: "100.1", cost_basis: "2002.00" });
    // 100000 - 30 * 100.10 + 10 * 101.00
    expect(ex.account.cash.toFixed()).toBe("98007");
    // mark = last = mid 101.01
    expect(ex.accountJson()).toMatchObject({
      cash: "98007.00",
      equity: "100027.20",
      long_market_value: "2020.20",
    });
  });

  it("shorts, covers, and reports the short as negative quantity", () => {
    const { ex, quote, submit } = setup();
    quote("TSLA", "250.00", "250.02");
    submit({ symbol: "TSLA", side: "sell", qty: "4" });
    expect(ex.positionsJson()[0]).toMatchObject({
      qty: "-4",
      side: "short",
      market_value: "-1000.04",
    });
    quote("TSLA", "240.00", "240.02");
    submit({ symbol: "TSLA", side: "buy", qty: "4" });
    expect(ex.positionsJson()).toEqual([]);
    expect(ex.account.cash.toFixed()).toBe("100039.92"); // 4 * (250.00 - 240.02)
  });

  it("refuses an order that would flip a long into a short", () => {
    const { ex, quote, submit } = setup();
    quote("AAPL", "100.00", "100.10");
    submit({ symbol: "AAPL", side: "buy", qty: "5" });
    const r = submitOrder(ex, {
      symbol: "AAPL",
      side: "sell",
      qty: "6",
      type: "market",
      time_in_force: "day",
    });
    expect(r).toMatchObject({ ok: false, status: 403, body: { code: 40310000 } });
  });

  it("closes part of a position by percentage", () => {
    const { ex, quote, submit } = setup();
    quote("AAPL", "100.00", "100.10");
    submit({ symbol: "AAPL", side: "buy", qty: "10" });
    expect(closePosition(ex, "AAPL", { percentage: "50" }).ok).toBe(true);
    expect(ex.positionsJson()[0]).toMatchObject({ qty: "5" });
    expect(closePosition(ex, "MSFT", {})).toMatchObject({ ok: false, status: 404 });
  });

  it("rolls last equity and last-day prices at the close, and expires day orders", () => {
    const { ex, clock, quote, submit, updates } = setup();
    quote("AAPL", "100.00", "100.10");
    submit({ symbol: "AAPL", side: "buy", qty: "10" });
    const day = submit({ symbol: "AAPL", side: "buy", qty: "1", type: "limit", limit_price: "90" });
    quote("AAPL", "110.00", "110.00");
    clock.set(new Date("2026-03-02T21:00:00Z"));
    ex.sync();
    expect(ex.accountJson()).toMatchObject({ last_equity: "100099.00", equity: "100099.00" });
    expect(updates.find((u) => u.event === "expired")?.order.id).toBe(day.id);
    quote("AAPL", "111.00", "111.00");
    expect(ex.positionsJson()[0]).toMatchObject({
      lastday_price: "110",
      unrealized_intraday_pl: "10.00",
    });
  });

  it("streams each execution with its own id, price, quantity and position", () => {
    const { ex, quote, submit, updates } = setup();
    ex.liquidity.set("AAPL", new Dec("3"));
    quote("AAPL", "100.00", "100.10");
    const o = submit({ symbol: "AAPL", side: "buy", qty: "5" });
    quote("AAPL", "100.00", "100.20");
    const fills = updates.filter((u) => u.order.id === o.id && u.execution_id);
    expect(fills.map((f) => [f.event, f.qty, f.price, f.position_qty])).toEqual([
      ["partial_fill", "3", "100.1", "3"],
      ["fill", "2", "100.2", "5"],
    ]);
    expect(fills[0]?.execution_id).not.toBe(fills[1]?.execution_id);
  });

  it("cancels a filled order with 422 and an unknown one with 404", () => {
    const { ex, quote, submit } = setup();
    quote("AAPL", "100.00", "100.10");
    const o = submit({ symbol: "AAPL", side: "buy", qty: "1" });
    expect(cancelOrder(ex, o.id)).toMatchObject({ ok: false, status: 422 });
    expect(cancelOrder(ex, "nope")).toMatchObject({ ok: false, status: 404 });
  });
});
