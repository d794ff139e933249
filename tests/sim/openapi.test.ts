import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { componentErrors, responseErrors, type SpecName } from "./openapi";

let t: TestSimulator;
const headers = {
  "APCA-API-KEY-ID": "openapi-key",
  "APCA-API-SECRET-KEY": "openapi-secret",
  "Content-Type": "application/json",
};

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Calls the simulator and checks the answer against the spec's schema for that operation. */
async function expectValid(
  spec: SpecName,
  method: string,
  specPath: string,
  path: string,
  status: number,
  body?: unknown,
): Promise<unknown> {
  const res = await call(method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(responseErrors(spec, method, specPath, status, res.body)).toEqual([]);
  return res.body;
}

async function expectError(method: string, path: string, status: number, body?: unknown) {
  const res = await call(method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(componentErrors("trading", "Error", res.body)).toEqual([]);
  return res.body as { code: number; message: string };
}

beforeAll(async () => {
  t = await startTestSimulator();
  await t.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
});
afterAll(async () => {
  await t.close();
});

describe("simulator responses validate against Alpaca's OpenAPI specs", () => {
  it("account, clock, calendar and assets", async () => {
    await expectValid("trading", "GET", "/v2/account", "/v2/account", 200);
    await expectValid("trading", "GET", "/v2/clock", "/v2/clock", 200);
    await expectValid(
      "trading",
      "GET",
      "/v2/calendar",
      "/v2/calendar?start=2026-03-01&end=2026-04-30",
      200,
    );
    await expectValid("trading", "GET", "/v2/assets", "/v2/assets", 200);
    await expectValid("trading", "GET", "/v2/assets/{symbol_or_asset_id}", "/v2/assets/AAPL", 200);
  });

  it("cash activities: deposits, withdrawals and journals, by type, time and page", async () => {
    await t.control("/sim/cash", { amount: "2500" });
    await t.control("/sim/clock", { advanceSeconds: 60 });
    await t.control("/sim/cash", { amount: "-1000.50" });
    await t.control("/sim/cash", { amount: "-200", type: "JNLC" });
    const all = (await expectValid(
      "trading",
      "GET",
      "/v2/account/activities",
      "/v2/account/activities?activity_types=CSD,CSW,JNLC&direction=asc",
      200,
    )) as { id: string; activity_type: string; net_amount: string }[];
    expect(all.map((a) => [a.activity_type, a.net_amount])).toEqual([
      ["CSD", "2500"],
      ["CSW", "-1000.5"],
      ["JNLC", "-200"],
    ]);
    // Cash and equity moved by the transfers: 100,000 + 2,500 - 1,000.50 - 200.
    const account = (await call("GET", "/v2/account")).body as { cash: string };
    expect(account.cash).toBe("101299.50");
    const byType = (await expectValid(
      "trading",
      "GET",
      "/v2/account/activities/{activity_type}",
      "/v2/account/activities/CSW",
      200,
    )) as { activity_type: string }[];
    expect(byType.map((a) => a.activity_type)).toEqual(["CSW"]);
    const after = (await call(
      "GET",
      `/v2/account/activities?activity_types=TRANS&after=${MARKET_OPEN_TIME}`,
    )) as { body: { activity_type: string }[] };
    expect(after.body.map((a) => a.activity_type)).toEqual(["CSW"]);
    const first = all[0]?.id ?? "";
    const page = (await call(
      "GET",
      `/v2/account/activities?direction=asc&page_size=1&page_token=${encodeURIComponent(first)}`,
    )) as { body: { activity_type: string }[] };
    expect(page.body.map((a) => a.activity_type)).toEqual(["CSW"]);
    await expectError("GET", "/v2/account/activities?page_size=500", 422);
  });

  it("orders of every type and class, replace, lookups and cancels", async () => {
    const submit = (body: unknown) =>
      expectValid("trading", "POST", "/v2/orders", "/v2/orders", 200, body);
    const market = (await submit({
      symbol: "AAPL",
      side: "buy",
      type: "market",
      qty: "20",
      time_in_force: "day",
      client_order_id: "openapi-market",
    })) as { id: string };
    await submit({
      symbol: "AAPL",
      side: "buy",
      type: "limit",
      qty: "1",
      limit_price: "150",
      time_in_force: "gtc",
    });
    await submit({
      symbol: "AAPL",
      side: "buy",
      type: "stop",
      qty: "1",
      stop_price: "250",
      time_in_force: "day",
    });
    await submit({
      symbol: "AAPL",
      side: "buy",
      type: "stop_limit",
      qty: "1",
      stop_price: "250",
      limit_price: "251",
      time_in_force: "day",
    });
    await submit({
      symbol: "AAPL",
      side: "sell",
      type: "trailing_stop",
      qty: "5",
      trail_percent: "2",
      time_in_force: "gtc",
    });
    await submit({
      symbol: "MSFT",
      side: "buy",
      type: "limit",
      qty: "3",
      limit_price: "400",
      time_in_force: "gtc",
      order_class: "bracket",
      take_profit: { limit_price: "450" },
      stop_loss: { stop_price: "380", limit_price: "379" },
    });
    await submit({
      symbol: "AAPL",
      side: "sell",
      type: "limit",
      qty: "5",
      time_in_force: "gtc",
      order_class: "oco",
      take_profit: { limit_price: "210" },
      stop_loss: { stop_price: "170" },
    });
    await submit({
      symbol: "NVDA",
      side: "buy",
      type: "market",
      qty: "2",
      time_in_force: "day",
      order_class: "oto",
      stop_loss: { stop_price: "100" },
    });
    const resting = (await submit({
      symbol: "AAPL",
      side: "buy",
      type: "limit",
      qty: "2",
      limit_price: "140",
      time_in_force: "day",
    })) as { id: string };
    await expectValid(
      "trading",
      "PATCH",
      "/v2/orders/{order_id}",
      `/v2/orders/${resting.id}`,
      200,
      {
        limit_price: "141",
      },
    );
    await expectValid("trading", "GET", "/v2/orders", "/v2/orders?status=all&limit=500", 200);
    await expectValid("trading", "GET", "/v2/orders", "/v2/orders?status=all&nested=true", 200);
    await expectValid("trading", "GET", "/v2/orders/{order_id}", `/v2/orders/${market.id}`, 200);
    await expectValid(
      "trading",
      "GET",
      "/v2/orders:by_client_order_id",
      "/v2/orders:by_client_order_id?client_order_id=openapi-market",
      200,
    );
    const canceled = await call("DELETE", `/v2/orders/${resting.id}`);
    expect(canceled.status).toBe(422); // already replaced
    await expectValid("trading", "DELETE", "/v2/orders", "/v2/orders", 207);
  });

  it("positions, and closing them", async () => {
    await call("POST", "/v2/orders", {
      symbol: "TSLA",
      side: "sell",
      type: "market",
      qty: "4",
      time_in_force: "day",
    });
    await expectValid("trading", "GET", "/v2/positions", "/v2/positions", 200);
    await expectValid(
      "trading",
      "GET",
      "/v2/positions/{symbol_or_asset_id}",
      "/v2/positions/AAPL",
      200,
    );
    await expectValid(
      "trading",
      "GET",
      "/v2/positions/{symbol_or_asset_id}",
      "/v2/positions/TSLA",
      200,
    );
    await expectValid(
      "trading",
      "DELETE",
      "/v2/positions/{symbol_or_asset_id}",
      "/v2/positions/AAPL?qty=5",
      200,
    );
    await expectValid(
      "trading",
      "DELETE",
      "/v2/positions",
      "/v2/positions?cancel_orders=true",
      207,
    );
  });

  it("error bodies carry Alpaca's code and message", async () => {
    expect(
      (await expectError("GET", "/v2/orders/00000000-0000-4000-8000-000000000000", 404)).code,
    ).toBe(40410000);
    expect((await expectError("GET", "/v2/positions/IWM", 404)).code).toBe(40410000);
    expect((await expectError("GET", "/v2/assets/NOPE", 404)).code).toBe(40410000);
    const bp = await expectError("POST", "/v2/orders", 403, {
      symbol: "SPY",
      side: "buy",
      type: "market",
      qty: "100000",
      time_in_force: "day",
    });
    expect(bp.code).toBe(40310000);
    const sub = await expectError("POST", "/v2/orders", 422, {
      symbol: "SPY",
      side: "buy",
      type: "limit",
      qty: "1",
      limit_price: "10.123",
      time_in_force: "day",
    });
    expect(sub.code).toBe(42210000);
    await t.control("/sim/rate-limit", { perMinute: 1 });
    await call("GET", "/v2/clock");
    const limited = await expectError("GET", "/v2/clock", 429);
    expect(limited.code).toBe(42910000);
    await t.control("/sim/rate-limit", { perMinute: 200 });
  });

  it("market data: latest quotes and trades, bars", async () => {
    await t.control("/sim/quotes", { symbol: "AAPL", bid: "190.10", ask: "190.12" });
    await t.control("/sim/clock", { advanceSeconds: 120 });
    await t.control("/sim/quotes", { symbol: "AAPL", price: "190.50" });
    const v = (specPath: string, path: string) => expectValid("data", "GET", specPath, path, 200);
    await v("/v2/stocks/{symbol}/quotes/latest", "/v2/stocks/AAPL/quotes/latest");
    await v("/v2/stocks/quotes/latest", "/v2/stocks/quotes/latest?symbols=AAPL,MSFT");
    await v("/v2/stocks/{symbol}/trades/latest", "/v2/stocks/AAPL/trades/latest");
    await v("/v2/stocks/trades/latest", "/v2/stocks/trades/latest?symbols=AAPL,MSFT");
    const bars = (await v("/v2/stocks/{symbol}/bars", "/v2/stocks/AAPL/bars?timeframe=1Min")) as {
      bars: unknown[];
    };
    expect(bars.bars.length).toBeGreaterThan(1);
    await v("/v2/stocks/bars", "/v2/stocks/bars?symbols=AAPL,MSFT&timeframe=1Day");
    await v("/v2/stocks/bars/latest", "/v2/stocks/bars/latest?symbols=AAPL");
  });
});

describe("trade_updates stream messages", () => {
  it("carry spec-valid orders, in binary frames, after Alpaca's handshake", async () => {
    await t.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
    const ws = new WebSocket(t.streamUrl);
    const messages: { stream: string; data: Record<string, unknown> }[] = [];
    let binary = true;
    ws.on("message", (data, isBinary) => {
      binary &&= isBinary;
      messages.push(JSON.parse(String(data)));
    });
    await new Promise((resolve) => ws.once("open", resolve));
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 3000;
      while (messages.length < n && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
    };
    ws.send(JSON.stringify({ action: "authenticate", data: { key_id: "k", secret_key: "s" } }));
    await waitFor(1);
    ws.send(JSON.stringify({ action: "listen", data: { streams: ["trade_updates"] } }));
    await waitFor(2);
    expect(messages.slice(0, 2)).toEqual([
      { stream: "authorization", data: { action: "authenticate", status: "authorized" } },
      { stream: "listening", data: { streams: ["trade_updates"] } },
    ]);
    await call("POST", "/v2/orders", {
      symbol: "AAPL",
      side: "buy",
      type: "market",
      qty: "5",
      time_in_force: "gtc",
      order_class: "bracket",
      take_profit: { limit_price: "200" },
      stop_loss: { stop_price: "180" },
    });
    await t.control("/sim/quotes", { symbol: "AAPL", price: "201" });
    await waitFor(7); // new, fill, tp new, tp fill, sl canceled
    ws.close();
    const updates = messages.filter((m) => m.stream === "trade_updates");
    expect(updates.map((u) => u.data.event)).toEqual(["new", "fill", "new", "fill", "canceled"]);
    for (const u of updates) {
      expect(componentErrors("trading", "Order", u.data.order)).toEqual([]);
      expect(typeof u.data.timestamp).toBe("string");
    }
    const fill = updates[1]?.data;
    expect(fill).toMatchObject({ qty: "5", price: "190.01", position_qty: "5" });
    expect(binary).toBe(true);
  });
});

describe("the schema check itself", () => {
  it("rejects bodies that break the spec", () => {
    expect(componentErrors("trading", "Error", { message: "no code" })).not.toEqual([]);
    const order = { type: "market", time_in_force: "day", notional: null, status: "bogus" };
    expect(componentErrors("trading", "Order", order)).not.toEqual([]);
    expect(
      responseErrors("trading", "GET", "/v2/clock", 200, { timestamp: "x", is_open: "yes" }),
    ).not.toEqual([]);
    expect(componentErrors("trading", "Position", { symbol: "AAPL", qty: 1 })).not.toEqual([]);
  });
});
