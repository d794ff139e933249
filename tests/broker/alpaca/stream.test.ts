/**
 * The trade updates stream keeps reconnecting for as long as the broker is away (the SDK stops
 * after 10 tries unless told otherwise) and asks for a resync each time it is back.
 */
import { afterEach, describe, expect, it } from "vitest";
import { subscribeTradeUpdates } from "../../../broker/alpaca/stream";
import type { ResyncNeeded, TradeUpdateSubscription } from "../../../domain/broker";
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
});
