/**
 * The trade updates stream keeps reconnecting for as long as the broker is away (the SDK stops
 * after 10 tries unless told otherwise) and asks for a resync each time it is back.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { subscribeTradeUpdates } from "../../../broker/alpaca/stream";
import type { ResyncNeeded, TradeUpdate, TradeUpdateSubscription } from "../../../domain/broker";
import { type RunningSimulator, startSimulator } from "../../../sim/server";
import { eventually, expectOk } from "../connectorSuite";

const KEYS = { keyId: "stream-key", secretKey: "stream-secret" };

describe("trade updates stream reconnects", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("keeps trying well past ten attempts and signals resync when the broker is back", async () => {
    let sim: RunningSimulator = await startSimulator({ ...KEYS, time: "2026-03-02T14:35:00Z" });
    const port = sim.port;
    cleanups.push(async () => sim.close());

    const resyncs: ResyncNeeded[] = [];
    const errors: string[] = [];
    const subscription: TradeUpdateSubscription = expectOk(
      await subscribeTradeUpdates(
        {
          url: sim.streamUrl,
          ...KEYS,
          initialReconnectMs: 10,
          maxReconnectMs: 20,
          connectTimeoutMs: 5_000,
        },
        {
          onTradeUpdate: () => {},
          onResyncNeeded: (signal) => resyncs.push(signal),
          onStreamError: (message) => errors.push(message),
        },
      ),
    );
    cleanups.push(() => subscription.close());
    expect(resyncs).toEqual([{ reason: "connected", reconnects: 0 }]);

    // The broker goes away long enough for dozens of reconnect attempts (10-20 ms apart).
    await sim.close();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(errors.some((message) => message.includes("disconnected"))).toBe(true);
    // Each failed attempt reports a connection error: far more than the SDK's default 10 tries.
    expect(errors.length).toBeGreaterThan(25);

    sim = await startSimulator({ ...KEYS, port, time: "2026-03-02T14:35:00Z" });
    const signal = await eventually("the resync after the broker came back", () =>
      resyncs.find((s) => s.reason === "reconnected"),
    );
    expect(signal).toEqual({ reason: "reconnected", reconnects: 1 });
  });

  it("answers UNAUTHORIZED for refused credentials and NETWORK when nobody answers", async () => {
    const sim = await startSimulator({ ...KEYS, time: "2026-03-02T14:35:00Z" });
    cleanups.push(async () => sim.close());
    const listener = { onTradeUpdate: () => {}, onResyncNeeded: () => {} };
    const refused = await subscribeTradeUpdates(
      { url: sim.streamUrl, keyId: KEYS.keyId, secretKey: "wrong" },
      listener,
    );
    expect(refused).toMatchObject({ ok: false, code: "UNAUTHORIZED", retryable: false });

    const nowhere = await subscribeTradeUpdates(
      { url: "ws://127.0.0.1:9/stream", ...KEYS, connectTimeoutMs: 300, initialReconnectMs: 20 },
      listener,
    );
    expect(nowhere).toMatchObject({ ok: false, code: "NETWORK", retryable: true });
  });

  it("says so when the credentials are refused on reconnecting, and stops trying", async () => {
    // A stand-in for Alpaca's stream: the first login is taken; the key is then revoked and the
    // connection dropped, so the reconnect's login is refused.
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    let logins = 0;
    server.on("connection", (socket) => {
      const send = (message: unknown) => socket.send(Buffer.from(JSON.stringify(message)));
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as { action?: string };
        if (message.action === "authenticate") {
          logins += 1;
          if (logins === 1) {
            send({
              stream: "authorization",
              data: { action: "authenticate", status: "authorized" },
            });
          } else {
            send({
              stream: "authorization",
              data: { action: "authenticate", status: "unauthorized" },
            });
          }
        } else if (message.action === "listen") {
          send({ stream: "listening", data: { streams: ["trade_updates"] } });
          setTimeout(() => socket.terminate(), 20);
        }
      });
    });
    const port = (server.address() as AddressInfo).port;
    const errors: string[] = [];
    const subscription = expectOk(
      await subscribeTradeUpdates(
        { url: `ws://127.0.0.1:${port}/stream`, ...KEYS, initialReconnectMs: 10 },
        {
          onTradeUpdate: () => {},
          onResyncNeeded: () => {},
          onStreamError: (message) => errors.push(message),
        },
      ),
    );
    cleanups.push(() => subscription.close());
    await eventually("the refused login", () => (logins >= 2 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Refused credentials stay refused: no login after the refusal.
    expect(logins).toBe(2);
    const refusal = errors.findIndex((message) => /refused the credentials/.test(message));
    expect(refusal).toBeGreaterThanOrEqual(0);
    // Nothing after it claims the stream is on its way back.
    expect(errors.slice(refusal).some((message) => /reconnecting/.test(message))).toBe(false);
    expect(errors.join("\n")).not.toContain(KEYS.secretKey);
  });

  it("asks for a resync after an update it cannot read, and keeps delivering", async () => {
    // A stand-in for Alpaca's stream that sends one garbled update, then a good one.
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const order = (status: string) => ({
      id: "b1",
      client_order_id: "c1",
      symbol: "AAPL",
      side: "buy",
      type: "market",
      order_class: "",
      time_in_force: "day",
      status,
      qty: "1",
      filled_qty: "1",
      notional: null,
    });
    server.on("connection", (socket) => {
      const send = (message: unknown) => socket.send(Buffer.from(JSON.stringify(message)));
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as { action?: string };
        if (message.action === "authenticate") {
          send({ stream: "authorization", data: { action: "authenticate", status: "authorized" } });
        } else if (message.action === "listen") {
          send({ stream: "listening", data: { streams: ["trade_updates"] } });
          const at = "2026-03-02T14:35:01Z";
          send({
            stream: "trade_updates",
            data: { event: "fill", timestamp: at, order: order("sideways") },
          });
          send({
            stream: "trade_updates",
            data: {
              event: "fill",
              timestamp: at,
              execution_id: "e1",
              price: "190.01",
              qty: "1",
              position_qty: "1",
              order: order("filled"),
            },
          });
        }
      });
    });
    const port = (server.address() as AddressInfo).port;
    const updates: TradeUpdate[] = [];
    const resyncs: ResyncNeeded[] = [];
    const errors: string[] = [];
    const subscription = expectOk(
      await subscribeTradeUpdates(
        { url: `ws://127.0.0.1:${port}/stream`, ...KEYS },
        {
          onTradeUpdate: (update) => updates.push(update),
          onResyncNeeded: (signal) => resyncs.push(signal),
          onStreamError: (message) => errors.push(message),
        },
      ),
    );
    cleanups.push(() => subscription.close());
    const good = await eventually("the readable update", () => updates[0]);
    expect(good.executionId).toBe("e1");
    expect(good.price?.toString()).toBe("190.01");
    expect(updates).toHaveLength(1);
    expect(resyncs.map((signal) => signal.reason)).toEqual(["connected", "unreadable_update"]);
    expect(errors.some((message) => message.includes("sideways"))).toBe(true);
  });

  it("passes over options orders' updates without asking for a resync", async () => {
    // A stand-in for Alpaca's stream: an options spread placed outside the desk fills, then a
    // stock order does.
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const at = "2026-03-02T14:35:01Z";
    const stock = {
      id: "b1",
      client_order_id: "c1",
      asset_class: "us_equity",
      symbol: "AAPL",
      side: "buy",
      type: "market",
      order_class: "",
      time_in_force: "day",
      status: "filled",
      qty: "1",
      filled_qty: "1",
    };
    const spread = {
      ...stock,
      id: "b2",
      client_order_id: "spread",
      asset_class: "",
      symbol: "",
      side: "",
      type: "limit",
      order_class: "mleg",
      legs: [{ ...stock, id: "b3", asset_class: "us_option", symbol: "AAPL260320C00200000" }],
    };
    server.on("connection", (socket) => {
      const send = (message: unknown) => socket.send(Buffer.from(JSON.stringify(message)));
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as { action?: string };
        if (message.action === "authenticate") {
          send({ stream: "authorization", data: { action: "authenticate", status: "authorized" } });
        } else if (message.action === "listen") {
          send({ stream: "listening", data: { streams: ["trade_updates"] } });
          for (const [order, id] of [
            [spread, "e-spread"],
            [stock, "e-stock"],
          ] as const) {
            send({
              stream: "trade_updates",
              data: { event: "fill", timestamp: at, execution_id: id, price: "1", qty: "1", order },
            });
          }
        }
      });
    });
    const port = (server.address() as AddressInfo).port;
    const updates: TradeUpdate[] = [];
    const resyncs: ResyncNeeded[] = [];
    const errors: string[] = [];
    const subscription = expectOk(
      await subscribeTradeUpdates(
        { url: `ws://127.0.0.1:${port}/stream`, ...KEYS },
        {
          onTradeUpdate: (update) => updates.push(update),
          onResyncNeeded: (signal) => resyncs.push(signal),
          onStreamError: (message) => errors.push(message),
        },
      ),
    );
    cleanups.push(() => subscription.close());
    const seen = await eventually("the stock order's update", () => updates[0]);
    expect(seen.executionId).toBe("e-stock");
    expect(updates).toHaveLength(1);
    expect(resyncs.map((signal) => signal.reason)).toEqual(["connected"]);
    expect(errors).toEqual([]);
  });
});
