/** One trade stream per account: the lease in Redis, and a second process taking the stream over. */
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAlpacaBroker } from "../../broker/alpaca/client";
import { createLocalRateLimiter } from "../../broker/rateLimiter";
import type { Broker, TradeUpdate } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createLease, leaseHolder } from "../../jobs/leases";
import {
  type StreamSupervisor,
  startStreamSupervisor,
  streamLeaseKey,
} from "../../jobs/streamLease";
import { startRedisRelay } from "../support/redisRelay";
import {
  KEY_ID,
  type Lifecycle,
  openLifecycle,
  SECRET_KEY,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("stream-lease");
});
afterAll(async () => {
  await t?.close();
});

/** A supervisor holding the account's stream and handing its events to `handleEvent`. */
async function holdStream(
  handleEvent: (accountId: number, update: TradeUpdate) => Promise<boolean>,
): Promise<StreamSupervisor> {
  const supervisor = startStreamSupervisor(t.deps, {
    connection: t.redis.redis,
    keyPrefix: t.redis.prefix,
    accountIds: [t.accountId],
    handleEvent,
  });
  await waitFor(async () => supervisor.held().length === 1, 10_000, "holder");
  return supervisor;
}

/** Places a resting buy limit at the broker (its stream says `new`); its broker order id. */
async function placeResting(clientOrderId: string, symbol: string, qty: string, limit: string) {
  await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
  const placed = await t.broker.submitOrder({
    clientOrderId,
    symbol,
    side: "buy",
    qty: dec(qty),
    timeInForce: "day",
    orderClass: "simple",
    entry: { type: "limit", limitPrice: dec(limit) },
  });
  if (!placed.ok) throw new Error(placed.message);
  return placed.value.brokerOrderId;
}

/** Cancels an order at the broker (its stream says `canceled`). */
async function cancel(brokerOrderId: string) {
  const cancelled = await t.broker.cancelOrder(brokerOrderId);
  if (!cancelled.ok) throw new Error(cancelled.message);
}

describe("stream lease", () => {
  it("has one holder at a time; a holder that stops renewing loses it to the next", async () => {
    const key = `${t.redis.prefix}lease-test`;
    const a = createLease(t.redis.redis, key, "holder-a", 300);
    const b = createLease(t.redis.redis, key, "holder-b", 300);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.renew()).toBe(true);
    expect(await b.renew()).toBe(false);
    // A dies: no renewal; the lease lapses and B takes it. A's late renewal fails.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await b.acquire()).toBe(true);
    expect(await a.renew()).toBe(false);
    // Releasing is compare-and-delete: A cannot release B's lease.
    await a.release();
    expect(await t.redis.redis.get(key)).toBe("holder-b");
    await b.release();
    expect(await t.redis.redis.get(key)).toBeNull();
  });

  it("extends the lease when its holder takes it again", async () => {
    const key = `${t.redis.prefix}lease-again`;
    const a = createLease(t.redis.redis, key, "holder-a", 400);
    const b = createLease(t.redis.redis, key, "holder-b", 400);
    expect(await a.acquire()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Taken again (the holder had let its stream go): it lasts a whole lease time from now.
    expect(await a.acquire()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await b.acquire()).toBe(false);
    expect(await t.redis.redis.get(key)).toBe("holder-a");
    await a.release();
  });

  it("lets a second process take the account's stream over when the first stops holding it", async () => {
    const deps = { ...t.deps, settings: { ...t.deps.settings, streamLeaseMs: 600 } };
    const options = {
      connection: t.redis.redis,
      keyPrefix: t.redis.prefix,
      accountIds: [t.accountId],
    };
    const first = startStreamSupervisor(deps, options);
    await waitFor(async () => first.held().length === 1, 10_000, "first holder");
    const second = startStreamSupervisor(deps, options);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(second.held()).toEqual([]);
    expect(await t.redis.redis.get(streamLeaseKey(t.redis.prefix, t.accountId))).not.toBeNull();
    await first.stop();
    await waitFor(async () => second.held().length === 1, 10_000, "second holder");
    // The new holder asked for a poll and a reconciliation when its stream started listening.
    const polls = await t.queues.orderEvents.getJobs(["waiting", "active", "completed"]);
    expect(polls.some((j) => j.data.kind === "poll" && j.data.reason === "stream-connected")).toBe(
      true,
    );
    await second.stop();
  });

  it("hands the holder's events to its handler, and to the queue what the handler does not finish", async () => {
    // The handler sees each event in the order the stream brought it: of the first order it
    // takes the acknowledgement and the cancel request's and fails the cancel's; the second
    // order it does not know.
    const seen: TradeUpdate[] = [];
    const handleEvent = async (_accountId: number, update: TradeUpdate): Promise<boolean> => {
      const ofOrder = seen.filter((u) => u.order.clientOrderId === update.order.clientOrderId);
      seen.push(update);
      if (update.order.clientOrderId !== "stream-inline-1") return false;
      if (ofOrder.length === 2) throw new Error("the database went away");
      return true;
    };
    const supervisor = await holdStream(handleEvent);
    try {
      const symbol = TEST_SYMBOLS[39] as string;
      await cancel(await placeResting("stream-inline-1", symbol, "3", "99.00"));
      const mine = () => seen.filter((u) => u.order.clientOrderId === "stream-inline-1");
      await waitFor(async () => mine().length >= 3, 10_000, "three events of the order");
      expect(mine().map((u) => u.event)).toEqual(["new", "pending_cancel", "canceled"]);
      const reports = async () =>
        (
          await t.queues.orderEvents.getJobs([
            "waiting",
            "active",
            "completed",
            "failed",
            "delayed",
          ])
        )
          .map((j) => j.data)
          .filter((d) => d.kind === "report" && d.report.order.clientOrderId === "stream-inline-1");
      // The first was handled here: no job. The failed one went to the queue, marked as
      // redelivered (it may have applied a fill and died before the fill's exits went out).
      const queued = await waitFor(async () => {
        const found = await reports();
        return found.length > 0 ? found : null;
      });
      expect(queued).toHaveLength(1);
      expect(queued[0]).toMatchObject({ kind: "report", source: "stream", redelivered: true });
      expect(queued[0]?.kind === "report" && queued[0].report.event).toBe("canceled");

      await placeResting("stream-inline-2", symbol, "1", "98.00");
      const unknown = await waitFor(async () => {
        const jobs = await t.queues.orderEvents.getJobs([
          "waiting",
          "active",
          "completed",
          "failed",
          "delayed",
        ]);
        return jobs.find(
          (j) =>
            j.data.kind === "report" && j.data.report.order.clientOrderId === "stream-inline-2",
        );
      });
      // Not ours as far as the handler knows: the queue's retries give a submit still recording
      // it time, as a plain report (nothing was applied).
      expect(unknown.data).toMatchObject({ kind: "report", source: "stream" });
      expect(unknown.data).not.toHaveProperty("redelivered");
    } finally {
      await supervisor.stop();
    }
  });

  it("lets a symbol's next event go ahead of one whose handling hangs", async () => {
    // The first event's handling hangs (its exits' send waiting out a broker's backoff, say).
    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: { event: string; at: number; firstDone: boolean }[] = [];
    let firstDone = false;
    const handleEvent = async (_accountId: number, update: TradeUpdate): Promise<boolean> => {
      if (update.order.clientOrderId !== "stream-turn-1") return true;
      if (update.event === "new") {
        await hanging;
        firstDone = true;
      }
      handled.push({ event: update.event, at: Date.now(), firstDone });
      return true;
    };
    const supervisor = await holdStream(handleEvent);
    try {
      const symbol = TEST_SYMBOLS[37] as string;
      await cancel(await placeResting("stream-turn-1", symbol, "2", "99.00"));
      // The cancel is handled while the first event still hangs, within about a second.
      const second = await waitFor(async () => handled.find((h) => h.event === "canceled"), 5_000);
      expect(second.firstDone).toBe(false);
      release();
      await waitFor(async () => handled.some((h) => h.event === "new"), 5_000);
    } finally {
      release();
      await supervisor.stop();
    }
  });

  it("stops handling its stream's events once cut off from Redis longer than its lease", async () => {
    // The first holder reaches Redis through a relay; its leases last 600 ms.
    const relay = await startRedisRelay();
    const cutOff = new Redis(relay.url, { maxRetriesPerRequest: null });
    const deps = { ...t.deps, settings: { ...t.deps.settings, streamLeaseMs: 600 } };
    const seenByFirst: TradeUpdate[] = [];
    const seenBySecond: TradeUpdate[] = [];
    const first = startStreamSupervisor(deps, {
      connection: cutOff,
      keyPrefix: t.redis.prefix,
      accountIds: [t.accountId],
      handleEvent: async (_accountId, update) => {
        seenByFirst.push(update);
        return true;
      },
    });
    let second: StreamSupervisor | null = null;
    try {
      await waitFor(async () => first.held().length === 1, 10_000, "first holder");
      // Its Redis stalls: its renewals hang unanswered, the lease lapses, the second takes over.
      relay.hold();
      await new Promise((resolve) => setTimeout(resolve, 900));
      second = startStreamSupervisor(deps, {
        connection: t.redis.redis,
        keyPrefix: t.redis.prefix,
        accountIds: [t.accountId],
        handleEvent: async (_accountId, update) => {
          seenBySecond.push(update);
          return true;
        },
      });
      const taker = second;
      await waitFor(async () => taker.held().length === 1, 10_000, "second holder");
      const symbol = TEST_SYMBOLS[35] as string;
      await cancel(await placeResting("stream-cut-off-1", symbol, "1", "97.00"));
      const ofOrder = (seen: TradeUpdate[]) =>
        seen.filter((u) => u.order.clientOrderId === "stream-cut-off-1").map((u) => u.event);
      await waitFor(async () => ofOrder(seenBySecond).includes("canceled"), 10_000, "events");
      // One holder handles the account's events: the one that lost its lease has let go.
      expect(ofOrder(seenByFirst)).toEqual([]);
      expect(first.held()).toEqual([]);
    } finally {
      relay.release();
      await first.stop();
      await second?.stop();
      cutOff.disconnect();
      await relay.close();
    }
  });

  it("waits longer and longer before opening a stream whose credentials the broker refuses", async () => {
    const refused = createAlpacaBroker({
      keyId: KEY_ID,
      secretKey: "not-the-secret",
      tradingUrl: t.sim.url,
      dataUrl: t.sim.url,
      streamUrl: t.sim.streamUrl,
      rateLimiter: createLocalRateLimiter(),
      stream: { connectTimeoutMs: 2_000 },
    });
    let attempts = 0;
    const counting: Broker = {
      ...refused,
      subscribeTradeUpdates(listener) {
        attempts += 1;
        return refused.subscribeTradeUpdates(listener);
      },
    };
    // Rounds every 100 ms: without a pause, some twenty refused logins in two seconds.
    const deps = {
      ...t.deps,
      brokerFor: () => counting,
      settings: { ...t.deps.settings, streamLeaseMs: 300 },
    };
    const supervisor = startStreamSupervisor(deps, {
      connection: t.redis.redis,
      keyPrefix: `${t.redis.prefix}refused:`,
      accountIds: [t.accountId],
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(supervisor.held()).toEqual([]);
      expect(attempts).toBeGreaterThanOrEqual(1);
      expect(attempts).toBeLessThanOrEqual(3);
    } finally {
      await supervisor.stop();
    }
  });

  it("asks for a poll when the stream cannot be opened, as when it drops", async () => {
    const unreachable = createAlpacaBroker({
      keyId: KEY_ID,
      secretKey: SECRET_KEY,
      tradingUrl: t.sim.url,
      dataUrl: t.sim.url,
      streamUrl: "ws://127.0.0.1:9/stream",
      rateLimiter: createLocalRateLimiter(),
      stream: { connectTimeoutMs: 200, initialReconnectMs: 20 },
    });
    const supervisor = startStreamSupervisor(
      {
        ...t.deps,
        brokerFor: () => unreachable,
        settings: { ...t.deps.settings, streamLeaseMs: 600 },
      },
      {
        connection: t.redis.redis,
        keyPrefix: `${t.redis.prefix}unreachable:`,
        accountIds: [t.accountId],
      },
    );
    try {
      // Nobody holds the stream: the events of the account come from polls alone.
      await waitFor(
        async () =>
          (await t.queues.orderEvents.getJobs(["waiting", "active", "completed", "delayed"])).some(
            (j) => j.data.kind === "poll" && j.data.reason === "stream-unavailable",
          ),
        5_000,
        "a poll",
      );
      expect(supervisor.held()).toEqual([]);
    } finally {
      await supervisor.stop();
    }
  });

  it("stops at once while a stream is being opened, and gives the lease up", async () => {
    // A stream host that takes the connection and never answers: the open waits its whole
    // connect time (Alpaca's host unreachable behind a firewall looks like this).
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const hanging = createAlpacaBroker({
      keyId: KEY_ID,
      secretKey: SECRET_KEY,
      tradingUrl: t.sim.url,
      dataUrl: t.sim.url,
      streamUrl: `ws://127.0.0.1:${port}/stream`,
      rateLimiter: createLocalRateLimiter(),
      stream: { connectTimeoutMs: 15_000 },
    });
    const keyPrefix = `${t.redis.prefix}opening:`;
    const supervisor = startStreamSupervisor(
      {
        ...t.deps,
        brokerFor: () => hanging,
        settings: { ...t.deps.settings, streamLeaseMs: 30_000 },
      },
      { connection: t.redis.redis, keyPrefix, accountIds: [t.accountId] },
    );
    const key = streamLeaseKey(keyPrefix, t.accountId);
    try {
      await waitFor(async () => (await leaseHolder(t.redis.redis, key)) !== null, 5_000, "lease");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      await supervisor.stop();
      // The shutdown budget is 20 s: a stop waiting out the 15 s open leaves little for the rest.
      expect(performance.now() - started).toBeLessThan(2_000);
      // Free for the next worker now, not when the 30 s lease lapses.
      expect(await leaseHolder(t.redis.redis, key)).toBeNull();
    } finally {
      await supervisor.stop();
      silent.close();
    }
  }, 40_000);
});
