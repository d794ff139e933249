/**
 * /close of a position the broker holds and the books do not (opened outside the desk), on the
 * simulator with real PostgreSQL and Redis and a worker runtime: the close adopts the position
 * first, through the adoption reconciliation uses, and is recorded for that trade. Sent while the
 * market is shut it rests; reconciliation meanwhile finds the position known (no second trade,
 * no stop placed beside the close, no false PROTECTION_FAILED), and at the open the close's fill
 * closes the trade as MANUAL_EXIT with its P&L. A close and a reconciliation racing each other,
 * the close filling between the reconciliation's reads and its adoption, leave one trade.
 */

import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTradingRequests } from "../../app/tradingRequests";
import { listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createJobDeps } from "../../jobs/context";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createKillSwitchClient } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";
import { type KillSwitchJobs, startKillSwitchJobs } from "./killSwitchJobs";

let t: Lifecycle;
let killJobs: KillSwitchJobs;
let killQueue: KillSwitchJobs["queue"];

beforeAll(async () => {
  t = await openLifecycle("closeunknown");
  await startStreamingRuntime(t);
  killJobs = startKillSwitchJobs(t);
  killQueue = killJobs.queue;
}, 60_000);
afterAll(async () => {
  await killJobs?.close();
  await t?.close();
});

/** Buys `quantity` of `symbol` at the broker as a trader would at the broker's own app. */
async function buyOutside(symbol: string, quantity: string, clientOrderId: string) {
  await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
  const bought = await t.broker.submitOrder({
    clientOrderId,
    symbol,
    side: "buy",
    qty: dec(quantity),
    timeInForce: "day",
    orderClass: "simple",
    entry: { type: "market" },
  });
  if (!bought.ok) throw new Error(bought.message);
  await waitFor(
    async () => {
      const p = await t.broker.getPosition(symbol);
      return p.ok && p.value.qty.eq(dec(quantity));
    },
    10_000,
    "the position at the broker",
  );
}

function reconcileNow() {
  return createReconcileProcessor(t.deps, { handler: createOrderReportHandler(t.deps) })({
    data: { accountId: t.accountId, reason: "test" },
  });
}

async function symbolTrades(symbol: string) {
  return t.db.db
    .select()
    .from(trades)
    .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, symbol)));
}

async function incidents(symbol: string): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
  return rows
    .map((r) => r.payload)
    .filter((p) => p.symbol === symbol)
    .map((p) => String(p.incident));
}

/** The simulator's orders of a symbol whose client order id starts with `prefix`. */
async function simOrders(symbol: string, prefix: string) {
  const all = await t.broker.listOrders({ status: "all", symbols: [symbol], limit: 500 });
  if (!all.ok) throw new Error(all.message);
  return all.value.filter((o) => o.clientOrderId.startsWith(prefix));
}

describe("closing a position the books do not hold", () => {
  it("adopts it for the close: no stop beside the close while the market is shut, the trade closed at the open", async () => {
    const symbol = TEST_SYMBOLS[18] ?? "T18";
    await buyOutside(symbol, "20", "bought-at-the-app");
    await t.sim.control("/sim/market", { open: false });
    try {
      const trading = createTradingRequests(t.jobs, createKillSwitchClient(killQueue));
      await trading.closePosition({
        accountId: t.accountId,
        symbol,
        percent: null,
        requestedBy: "user:1",
        requestId: "outside-shut",
      });
      await waitFor(
        async () => (await simOrders(symbol, "close-")).some((o) => o.status !== "filled"),
        15_000,
        "the close resting at the broker",
      );
      // Reconciliation while the close waits for the open: the position is the close's trade.
      const result = await reconcileNow();
      expect(result.actions).not.toContain("POSITION_ADOPTED");
      // Whatever protection was asked for has run (against the close's shares, it would fail).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await waitFor(
        async () => {
          const counts = await t.queues.protect.getJobCounts(
            "waiting",
            "active",
            "delayed",
            "prioritized",
          );
          return Object.values(counts).every((n) => n === 0);
        },
        10_000,
        "the protection asked for",
      );
      await t.sim.control("/sim/quotes", { symbol, bid: "104.99", ask: "105.01" });
    } finally {
      await t.sim.control("/sim/market", { open: null });
    }
    await t.sim.control("/sim/market", { open: true });
    try {
      await waitFor(
        async () => (await symbolTrades(symbol)).every((r) => r.status === "CLOSED"),
        15_000,
        "the trade closed",
      );
    } finally {
      await t.sim.control("/sim/market", { open: null });
    }

    const rows = await symbolTrades(symbol);
    expect(rows).toHaveLength(1);
    const trade = await findTrade(t.db.db, rows[0]?.id ?? 0);
    expect(trade?.decisionId).toBeNull();
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitReason).toBe("MANUAL_EXIT");
    expect(trade?.trade.exitQuantity.toFixed()).toBe("20");
    // 20 x (104.99 - 100.01), from the close's own fill.
    expect(trade?.trade.realizedPnl.toFixed()).toBe("99.6");
    const exits = (await listOrdersForTrade(t.db.db, rows[0]?.id ?? 0)).filter(
      (o) => o.order.role === "EXIT",
    );
    const closes = await simOrders(symbol, "close-");
    expect(closes.map((o) => o.status)).toEqual(["filled"]);
    expect(exits.map((o) => [o.order.status, o.order.brokerOrderId])).toEqual([
      ["filled", closes[0]?.brokerOrderId],
    ]);
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
    expect(await incidents(symbol)).toEqual(["POSITION_ADOPTED"]);
    expect((await reconcileNow()).actions).toEqual([]);
  }, 60_000);

  it("keeps one trade when the close fills between a reconciliation's reads and its adoption", async () => {
    const symbol = TEST_SYMBOLS[19] ?? "T19";
    await buyOutside(symbol, "15", "bought-by-phone");
    const killSwitch = createKillSwitch(t.deps, createOrderReportHandler(t.deps));
    let closed = false;
    // The reconciliation has read the books (no position) and then the broker's positions (15
    // held) when /close adopts, sends and fills.
    const racing: Broker = {
      ...t.broker,
      async listPositions() {
        const answer = await t.broker.listPositions();
        if (!closed) {
          closed = true;
          const result = await killSwitch.closePosition({
            accountId: t.accountId,
            symbol,
            percent: null,
            requestedBy: "user:1",
            requestId: "outside-race",
            exitReason: "MANUAL_EXIT",
          });
          expect(result).toMatchObject({ ok: true, qty: "15" });
          await waitFor(
            async () => (await findPosition(t.db.db, t.accountId, symbol)) === null,
            10_000,
            "the close's fill stored",
          );
        }
        return answer;
      },
    };
    await createReconcileProcessor(createJobDeps({ ...t.deps, brokerFor: () => racing }), {
      handler: createOrderReportHandler(t.deps),
    })({ data: { accountId: t.accountId, reason: "test" } });

    const rows = await symbolTrades(symbol);
    expect(rows.map((r) => [r.status, r.exitReason])).toEqual([["CLOSED", "MANUAL_EXIT"]]);
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
    expect((await simOrders(symbol, "close-")).map((o) => o.status)).toEqual(["filled"]);
    expect((await reconcileNow()).actions).toEqual([]);
  }, 60_000);
});
