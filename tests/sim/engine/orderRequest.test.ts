import { describe, expect, it } from "vitest";
import { parseOrderRequest } from "../../../sim/engine/orderRequest";

const base = {
  symbol: "AAPL",
  side: "buy",
  qty: "1",
  type: "limit",
  limit_price: "100",
  time_in_force: "day",
};

function code(body: Record<string, unknown>) {
  const r = parseOrderRequest({ ...base, ...body });
  return r.ok ? "ok" : `${r.status} ${r.body.message}`;
}

describe("order request validation", () => {
  it("accepts a plain limit order and normalizes the symbol", () => {
    const r = parseOrderRequest({ ...base, symbol: " aapl " });
    expect(r.ok && r.value.symbol).toBe("AAPL");
  });

  it("enforces Alpaca's price increments", () => {
    expect(code({ limit_price: "100.001" })).toMatch(/^422 invalid limit_price 100.001. sub-penny/);
    expect(code({ limit_price: "0.1234" })).toBe("ok");
    expect(code({ limit_price: "0.12345" })).toMatch(/^422/);
    expect(code({ type: "stop", stop_price: "99.999", limit_price: undefined })).toMatch(
      /^422 invalid stop_price/,
    );
  });

  it("requires the prices each type needs", () => {
    expect(code({ limit_price: undefined })).toBe("422 limit_price is required");
    expect(code({ type: "stop_limit", stop_price: undefined })).toBe("422 stop_price is required");
    expect(code({ type: "market" })).toMatch(/^422 market orders must not/);
    expect(code({ type: "trailing_stop", limit_price: undefined })).toMatch(
      /exactly one of trail_price/,
    );
    expect(code({ type: "trailing_stop", limit_price: undefined, trail_percent: "1.5" })).toBe(
      "ok",
    );
  });

  it("allows extended hours only on day or gtc limit orders", () => {
    expect(code({ extended_hours: true })).toBe("ok");
    expect(code({ extended_hours: true, time_in_force: "gtc" })).toBe("ok");
    expect(code({ extended_hours: true, time_in_force: "ioc" })).toMatch(/^422 extended hours/);
    expect(code({ extended_hours: true, type: "market", limit_price: undefined })).toMatch(
      /^422 extended hours/,
    );
  });

  it("checks bracket, oco and oto shapes", () => {
    const tp = { limit_price: "110" };
    const sl = { stop_price: "95" };
    expect(code({ order_class: "bracket", take_profit: tp, stop_loss: sl })).toBe("ok");
    expect(code({ order_class: "bracket", take_profit: tp })).toMatch(/require both/);
    expect(
      code({ order_class: "bracket", take_profit: { limit_price: "90" }, stop_loss: sl }),
    ).toMatch(/take_profit.limit_price must be > stop_loss.stop_price/);
    expect(
      code({ order_class: "bracket", take_profit: tp, stop_loss: sl, time_in_force: "opg" }),
    ).toMatch(/DAY or GTC/);
    expect(code({ order_class: "oto", take_profit: tp, stop_loss: sl })).toMatch(/exactly one/);
    expect(
      code({
        order_class: "oco",
        side: "sell",
        limit_price: undefined,
        take_profit: tp,
        stop_loss: sl,
      }),
    ).toBe("ok");
    expect(
      code({
        order_class: "bracket",
        take_profit: tp,
        stop_loss: { stop_price: "95", limit_price: "96" },
      }),
    ).toMatch(/stop_loss.limit_price/);
  });

  it("validates quantities and client order ids", () => {
    expect(code({ qty: "0" })).toBe("422 qty must be > 0");
    expect(code({ qty: "1.5" })).toMatch(/fractional orders must be DAY market/);
    expect(code({ type: "market", limit_price: undefined, qty: "1.5" })).toBe("ok");
    expect(code({ client_order_id: "x".repeat(129) })).toMatch(/128 characters/);
    expect(code({ qty: undefined, notional: "500", type: "market", limit_price: undefined })).toBe(
      "ok",
    );
  });
});
