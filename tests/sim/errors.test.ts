import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { alpacaFor } from "./alpacaClient";
import { recordTradeUpdates } from "./streamRecorder";

let t: TestSimulator;
const alpaca = () => alpacaFor(t.url);

beforeAll(async () => {
  t = await startTestSimulator();
});
afterAll(async () => {
  await t.close();
});
beforeEach(async () => {
  await t.control("/sim/reset", { cash: "10000", time: MARKET_OPEN_TIME });
  await t.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
});

describe("Alpaca's refusals, through the SDK's typed errors", () => {
  it("403 40310000 for insufficient buying power", async () => {
    await expect(
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "100",
        timeInForce: "day",
      }),
    ).rejects.toMatchObject({ name: "PermissionError", status: 403, code: 40310000 });
    // Open orders hold buying power too.
    await alpaca().trading.orders.limit({
      symbol: "AAPL",
      side: "buy",
      qty: "50",
      limitPrice: "180",
      timeInForce: "day",
    });
    const account = await alpaca().trading.account.getAccount();
    expect(account.buyingPower).toBe("1000.00");
    await expect(
      alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "6",
        limitPrice: "180",
        timeInForce: "day",
      }),
    ).rejects.toMatchObject({ status: 403, code: 40310000 });
  });

  it("403 40310000 for selling more than the position holds", async () => {
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "5",
      timeInForce: "day",
    });
    const err = await alpaca()
      .trading.orders.market({ symbol: "AAPL", side: "sell", qty: "8", timeInForce: "day" })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "PermissionError", status: 403, code: 40310000 });
    expect(String((err as Error).message)).toContain("insufficient qty available");
  });

  it("403 40310000 for a closing intent beyond the position, where a plain sell opens a short", async () => {
    const closeWhatIsHeld = () =>
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "sell",
        qty: "2",
        timeInForce: "day",
        positionIntent: "sell_to_close",
      });
    await expect(closeWhatIsHeld()).rejects.toMatchObject({ status: 403, code: 40310000 });
    await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "buy",
      qty: "2",
      timeInForce: "day",
    });
    const closed = await closeWhatIsHeld();
    expect(closed.positionIntent).toBe("sell_to_close");
    await expect(closeWhatIsHeld()).rejects.toMatchObject({ status: 403, code: 40310000 });
    // Without the intent, the same sell opens a short.
    const opened = await alpaca().trading.orders.market({
      symbol: "AAPL",
      side: "sell",
      qty: "2",
      timeInForce: "day",
    });
    expect(opened.positionIntent).toBe("sell_to_open");
    // An intent on the other side is not an intent of this order.
    await expect(
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        timeInForce: "day",
        positionIntent: "sell_to_close",
      }),
    ).rejects.toMatchObject({ status: 422 });
  });

  it("422 for sub-penny prices", async () => {
    await expect(
      alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "150.005",
        timeInForce: "day",
      }),
    ).rejects.toMatchObject({ name: "ValidationError", status: 422, code: 42210000 });
    // Below $1 four decimals are fine, five are not.
    await t.control("/sim/quotes", { symbol: "PENNY", price: "0.5" });
    await alpaca().trading.orders.limit({
      symbol: "PENNY",
      side: "buy",
      qty: "1",
      limitPrice: "0.4999",
      timeInForce: "day",
    });
    await expect(
      alpaca().trading.orders.limit({
        symbol: "PENNY",
        side: "buy",
        qty: "1",
        limitPrice: "0.49991",
        timeInForce: "day",
      }),
    ).rejects.toMatchObject({ status: 422 });
  });

  it("422 for a duplicate client order id", async () => {
    const submit = () =>
      alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "150",
        timeInForce: "day",
        clientOrderId: "dup-1",
      });
    await submit();
    await expect(submit()).rejects.toMatchObject({ status: 422, code: 40010001 });
    expect(await alpaca().trading.orders.getAllOrders({ status: "all" })).toHaveLength(1);
  });

  it("422 for bracket rule violations", async () => {
    const bracket = (over: Record<string, unknown>) =>
      alpaca().trading.orders.bracket({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "189",
        timeInForce: "day",
        takeProfit: { limitPrice: "200" },
        stopLoss: { stopPrice: "185" },
        ...over,
      });
    // take-profit below the stop
    await expect(
      bracket({ takeProfit: { limitPrice: "180" }, stopLoss: { stopPrice: "185" } }),
    ).rejects.toMatchObject({
      status: 422,
    });
    // stop above the entry's base price
    await expect(bracket({ stopLoss: { stopPrice: "189.50" } })).rejects.toMatchObject({
      status: 422,
    });
    // take-profit not above the base price
    await expect(bracket({ takeProfit: { limitPrice: "189" } })).rejects.toMatchObject({
      status: 422,
    });
    // ioc is not allowed for brackets
    await expect(bracket({ timeInForce: "ioc" })).rejects.toMatchObject({ status: 422 });
    await bracket({});
  });

  it("422 for extended hours on anything but a day/gtc limit order", async () => {
    await expect(
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        timeInForce: "day",
        extendedHours: true,
      }),
    ).rejects.toMatchObject({ status: 422, code: 42210000 });
    await expect(
      alpaca().trading.orders.limit({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        limitPrice: "150",
        timeInForce: "ioc",
        extendedHours: true,
      }),
    ).rejects.toMatchObject({ status: 422 });
  });

  it("404 for unknown orders, client order ids and positions", async () => {
    await expect(
      alpaca().trading.orders.getOrderByOrderID({
        orderId: "00000000-0000-4000-8000-000000000000",
      }),
    ).rejects.toMatchObject({ name: "NotFoundError", status: 404, code: 40410000 });
    await expect(
      alpaca().trading.orders.getOrderByClientOrderId({ clientOrderId: "never-sent" }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      alpaca().trading.positions.getOpenPosition({ symbolOrAssetId: "MSFT" }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it("429 with X-RateLimit headers past 200 requests a minute", async () => {
    const key = { "APCA-API-KEY-ID": "burst-key", "APCA-API-SECRET-KEY": "s" };
    const statuses: number[] = [];
    let last: Response | null = null;
    for (let i = 0; i < 201; i++) {
      last = await fetch(`${t.url}/v2/clock`, { headers: key });
      statuses.push(last.status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(200);
    expect(last?.status).toBe(429);
    expect(last?.headers.get("x-ratelimit-limit")).toBe("200");
    expect(last?.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(last?.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
    // The SDK sees a RateLimitError; other keys are unaffected.
    await expect(
      alpacaFor(t.url, { keyId: "burst-key", secret: "s" }).trading.clock.legacyClock(),
    ).rejects.toMatchObject({ name: "RateLimitError", status: 429 });
    expect((await alpaca().trading.clock.legacyClock()).isOpen).toBe(true);
  });

  it("401 when keys are configured and wrong", async () => {
    const locked = await startTestSimulator({ keyId: "right", secretKey: "secret" });
    try {
      await expect(alpacaFor(locked.url).trading.account.getAccount()).rejects.toMatchObject({
        name: "AuthError",
        status: 401,
      });
      const ok = await alpacaFor(locked.url, {
        keyId: "right",
        secret: "secret",
      }).trading.account.getAccount();
      expect(ok.status).toBe("ACTIVE");
    } finally {
      await locked.close();
    }
  });
});

describe("injected faults", () => {
  it("answers 500 the given number of times, then recovers", async () => {
    await t.control("/sim/faults", { method: "GET", path: "/v2/account", status: 500, times: 2 });
    const a = alpaca();
    await expect(a.trading.account.getAccount()).rejects.toMatchObject({ status: 500 });
    await expect(a.trading.account.getAccount()).rejects.toMatchObject({ status: 500 });
    expect((await a.trading.account.getAccount()).cash).toBe("10000.00");
  });

  it("an ambiguous 500 after the order was taken: the order exists under its client order id", async () => {
    await t.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      afterHandling: true,
    });
    await expect(
      alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        timeInForce: "day",
        clientOrderId: "ambiguous-1",
      }),
    ).rejects.toMatchObject({ status: 500 });
    const found = await alpaca().trading.orders.getOrderByClientOrderId({
      clientOrderId: "ambiguous-1",
    });
    expect(found.status).toBe("filled");
  });

  it("injects 429s and slow responses", async () => {
    await t.control("/sim/faults", { path: "/v2/clock", status: 429 });
    await expect(alpaca().trading.clock.legacyClock()).rejects.toMatchObject({
      name: "RateLimitError",
    });
    // With the broker's pause named in Retry-After, which the SDK reads before the window's reset.
    await t.control("/sim/faults", { path: "/v2/clock", status: 429, retryAfterSeconds: 2 });
    await expect(alpaca().trading.clock.legacyClock()).rejects.toMatchObject({
      name: "RateLimitError",
      retryAfterMs: 2000,
    });
    await t.control("/sim/faults", { delayMs: 150 });
    const started = Date.now();
    await alpaca().trading.clock.legacyClock();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await t.control("/sim/faults", { clear: true });
  });

  it("rejects the next orders after accepting them, streaming rejected", async () => {
    const rec = await recordTradeUpdates(alpaca(), t.streamUrl);
    try {
      await t.control("/sim/faults", { rejectOrders: 1 });
      const o = await alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        timeInForce: "day",
        clientOrderId: "rejected-1",
      });
      expect(o.status).toBe("accepted");
      await rec.waitFor((u) => u.some((x) => x.event === "rejected"));
      const stored = await alpaca().trading.orders.getOrderByOrderID({ orderId: o.id ?? "" });
      expect(stored.status).toBe("rejected");
      expect(stored.failedAt).toBeInstanceOf(Date);
      const next = await alpaca().trading.orders.market({
        symbol: "AAPL",
        side: "buy",
        qty: "1",
        timeInForce: "day",
      });
      expect(
        (await alpaca().trading.orders.getOrderByOrderID({ orderId: next.id ?? "" })).status,
      ).toBe("filled");
    } finally {
      rec.close();
    }
  });
});
