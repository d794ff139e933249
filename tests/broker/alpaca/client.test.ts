import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { alpacaUrls, createAlpacaBroker } from "../../../broker/alpaca/client";
import { createLocalRateLimiter } from "../../../broker/rateLimiter";
import { dec } from "../../../domain/money";

describe("alpacaUrls", () => {
  it("picks paper or live hosts, market data on one host", () => {
    expect(alpacaUrls(true)).toEqual({
      tradingUrl: "https://paper-api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
    expect(alpacaUrls(false)).toEqual({
      tradingUrl: "https://api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://api.alpaca.markets/stream",
    });
  });

  it("takes overrides, such as the simulator's address, and ignores empty ones", () => {
    expect(
      alpacaUrls(true, {
        tradingUrl: "http://127.0.0.1:5800",
        dataUrl: "http://127.0.0.1:5800",
        streamUrl: "",
      }),
    ).toEqual({
      tradingUrl: "http://127.0.0.1:5800",
      dataUrl: "http://127.0.0.1:5800",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
  });
});

/** An order of the account as Alpaca lists it. */
function wireOrder(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: "b-stock",
    client_order_id: "d1-entry",
    created_at: "2026-03-02T14:35:00Z",
    updated_at: "2026-03-02T14:35:01Z",
    submitted_at: "2026-03-02T14:35:00Z",
    asset_class: "us_equity",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    order_type: "limit",
    order_class: "",
    time_in_force: "day",
    status: "filled",
    qty: "10",
    filled_qty: "10",
    filled_avg_price: "190.01",
    limit_price: "190.05",
    extended_hours: false,
    legs: null,
    ...fields,
  };
}

describe("listOrders", () => {
  it("lists the account's stock orders beside options orders placed outside the desk", async () => {
    // A stand-in for Alpaca's trading host: the account also holds a multi-leg options order
    // (no symbol or side of its own) and a single-leg one.
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(req.url ?? "");
      res.setHeader("Content-Type", "application/json");
      res.end(
        JSON.stringify([
          wireOrder({}),
          wireOrder({
            id: "b-spread",
            client_order_id: "spread-1",
            asset_class: "",
            symbol: "",
            side: "",
            order_class: "mleg",
            status: "new",
            qty: "1",
            filled_qty: "0",
            filled_avg_price: null,
            limit_price: "1.25",
            legs: [
              wireOrder({
                id: "b-leg",
                client_order_id: "spread-1-leg",
                asset_class: "us_option",
                symbol: "AAPL260320C00200000",
                order_class: "mleg",
                status: "new",
                qty: "1",
                filled_qty: "0",
                filled_avg_price: null,
                limit_price: null,
              }),
            ],
          }),
          wireOrder({
            id: "b-call",
            client_order_id: "call-1",
            asset_class: "us_option",
            symbol: "AAPL260320C00200000",
            status: "new",
            qty: "1",
            filled_qty: "0",
            filled_avg_price: null,
          }),
        ]),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const broker = createAlpacaBroker({
        keyId: "key",
        secretKey: "secret",
        tradingUrl: url,
        dataUrl: url,
        streamUrl: "ws://127.0.0.1:9/stream",
        rateLimiter: createLocalRateLimiter(),
        readRetries: 0,
      });
      const listed = await broker.listOrders({ status: "all" });
      expect(listed.ok && listed.value.map((o) => o.brokerOrderId)).toEqual(["b-stock"]);
      // Asked for stock orders only, too.
      expect(asked[0]).toContain("asset_class=us_equity");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

/** A position as Alpaca lists it. */
function wirePosition(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    asset_id: "a-stock",
    symbol: "AAPL",
    exchange: "NASDAQ",
    asset_class: "us_equity",
    asset_marginable: true,
    avg_entry_price: "190.01",
    qty: "10",
    qty_available: "10",
    side: "long",
    market_value: "1900.10",
    cost_basis: "1900.10",
    unrealized_pl: "0",
    unrealized_plpc: "0",
    unrealized_intraday_pl: "0",
    unrealized_intraday_plpc: "0",
    current_price: "190.01",
    lastday_price: "189.00",
    change_today: "0.005",
    ...fields,
  };
}

describe("listPositions", () => {
  it("lists the account's stock positions, not an options position held beside them", async () => {
    const server = createServer((_req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(
        JSON.stringify([
          wirePosition({}),
          wirePosition({
            asset_id: "a-call",
            symbol: "AAPL260320C00200000",
            exchange: "",
            asset_class: "us_option",
            avg_entry_price: "1.25",
            qty: "2",
            qty_available: "2",
            market_value: "250",
            cost_basis: "250",
          }),
        ]),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const broker = createAlpacaBroker({
        keyId: "key",
        secretKey: "secret",
        tradingUrl: url,
        dataUrl: url,
        streamUrl: "ws://127.0.0.1:9/stream",
        rateLimiter: createLocalRateLimiter(),
        readRetries: 0,
      });
      const listed = await broker.listPositions();
      // Reconciliation would take a contract for a stock position of its own and protect it.
      expect(listed.ok && listed.value.map((p) => p.symbol)).toEqual(["AAPL"]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("submitOrder", () => {
  it("finds the order by its client order id when the answer to its POST is cut off", async () => {
    // A stand-in for Alpaca's trading host that takes the order, then loses the connection
    // halfway through its answer; the order is there when looked up.
    const order = JSON.stringify(
      wireOrder({ client_order_id: "d7-entry", status: "new", filled_qty: "0" }),
    );
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url?.split("?")[0]}`);
      res.setHeader("Content-Type", "application/json");
      if (req.method === "POST") {
        res.setHeader("Content-Length", String(order.length));
        res.write(order.slice(0, 40));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end(order);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const broker = createAlpacaBroker({
        keyId: "key",
        secretKey: "secret",
        tradingUrl: url,
        dataUrl: url,
        streamUrl: "ws://127.0.0.1:9/stream",
        rateLimiter: createLocalRateLimiter(),
        retryDelayMs: 10,
      });
      const submitted = await broker.submitOrder({
        orderClass: "simple",
        clientOrderId: "d7-entry",
        symbol: "AAPL",
        side: "buy",
        qty: dec("10"),
        timeInForce: "day",
        entry: { type: "limit", limitPrice: dec("190.05") },
      });
      expect(submitted.ok && submitted.value.brokerOrderId).toBe("b-stock");
      // Posted once, then looked up: never posted again.
      expect(seen).toEqual(["POST /v2/orders", "GET /v2/orders:by_client_order_id"]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("a 429", () => {
  it("is retried after a pause even when its reset time is already past (clocks apart)", async () => {
    const asked: number[] = [];
    const server = createServer((_req, res) => {
      asked.push(performance.now());
      res.setHeader("Content-Type", "application/json");
      if (asked.length <= 2) {
        // Alpaca's clock behind ours: the reset it names has passed here already.
        res.statusCode = 429;
        res.setHeader("X-RateLimit-Limit", "200");
        res.setHeader("X-RateLimit-Remaining", "0");
        res.setHeader("X-RateLimit-Reset", String(Math.floor(Date.now() / 1000) - 5));
        res.end(JSON.stringify({ code: 42910000, message: "rate limit exceeded" }));
        return;
      }
      res.end(
        JSON.stringify({
          timestamp: "2026-03-02T10:00:00-05:00",
          is_open: true,
          next_open: "2026-03-03T09:30:00-05:00",
          next_close: "2026-03-02T16:00:00-05:00",
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const broker = createAlpacaBroker({
        keyId: "key",
        secretKey: "secret",
        tradingUrl: url,
        dataUrl: url,
        streamUrl: "ws://127.0.0.1:9/stream",
        rateLimiter: createLocalRateLimiter(),
        readRetries: 2,
        retryDelayMs: 10,
      });
      const clock = await broker.getClock();
      expect(clock.ok).toBe(true);
      expect(asked).toHaveLength(3);
      // Not fired again at once: each retry waited a second at least.
      for (let i = 1; i < asked.length; i++) {
        expect((asked[i] ?? 0) - (asked[i - 1] ?? 0)).toBeGreaterThanOrEqual(950);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
