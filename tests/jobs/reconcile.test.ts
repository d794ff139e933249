/**
 * Reconciliation scenarios against the simulator, with real PostgreSQL and Redis: a fill the
 * desk never heard of (inferred once, however many runs and restarts), a missing stop re-placed,
 * a position closed by hand at the broker (MANUAL_EXIT at the broker's price), and a position
 * opened outside the desk (adopted and protected). The protect job runs on what reconciliation
 * queued, as a worker would.
 */

import type { Job } from "bullmq";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../db/executionLog";
import { listFillsForOrder } from "../../db/fills";
import { findOrderByClientOrderId, listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import { inferredExecutionId } from "../../domain/reconciliation";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { inferredExecutionId as reportInferredExecutionId } from "../../jobs/reportEvents";
import { sendEntryUnheard } from "./entrySent";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;
/** Added to the bench's clock, to step past the grace period. */
let offsetMs = 0;

beforeAll(async () => {
  t = await openLifecycle("reconcile");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: () => new Date(t.deps.now().getTime() + offsetMs),
    logger: t.deps.logger,
    jobs: t.jobs,
  });
});
afterAll(async () => {
  await t?.close();
});

/** A reconciliation processor as a fresh worker process would build it. */
function reconciler() {
  return createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
}

async function reconcileNow(): Promise<string[]> {
  const result = await reconciler()({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/** Runs the protect job on every queued request, as a worker would. */
async function runQueuedProtection(): Promise<number> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
  for (const job of jobs) {
    await protect(job as Job);
    await job.remove();
  }
  return jobs.length;
}

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

async function brokerOrders(symbol: string): Promise<BrokerOrder[]> {
  const open = await t.broker.listOrders({
    status: "all",
    nested: false,
    symbols: [symbol],
    limit: 500,
  });
  if (!open.ok) throw new Error(open.message);
  return [...open.value];
}

async function incidents(code: string): Promise<Record<string, unknown>[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
  return rows.map((r) => r.payload).filter((p) => p.incident === code);
}

/** A journalled trade whose limit entry is sent to the broker without the desk hearing back. */
function entrySentUnheard(symbol: string, quantity: string, limit: string) {
  return sendEntryUnheard(t, { symbol, quantity, limit, idPrefix: "rc", at: deps.now() });
}

describe("reconciliation on the simulator", () => {
  const symbol = TEST_SYMBOLS[30] ?? "T30";

  it("infers a missed fill under the order-events id, and counts it once however often it runs", async () => {
    await quote(symbol, "99.99", "100.01");
    const { recorded, brokerOrder } = await entrySentUnheard(symbol, "10", "100.05");
    await waitFor(
      async () => {
        const o = await t.broker.getOrder(brokerOrder.brokerOrderId);
        return o.ok && o.value.status === "filled";
      },
      5_000,
      "entry filled at the broker",
    );

    const first = await reconcileNow();
    expect(first).toContain("MISSED_FILL_INFERRED");
    const executionId = inferredExecutionId(brokerOrder.brokerOrderId, dec("10"));
    // Polling infers the same gap under the same id, so the two paths can never both count it.
    expect(reportInferredExecutionId(brokerOrder.brokerOrderId, dec("10"))).toBe(executionId);

    const fills = await listFillsForOrder(t.db.db, recorded.entry.id);
    expect(fills.map((f) => [f.executionId, f.quantity.toFixed(), f.price.toFixed()])).toEqual([
      [executionId, "10", "100.01"],
    ]);
    const position = await findPosition(t.db.db, t.accountId, symbol);
    expect(position?.position.quantity.toFixed()).toBe("10");
    expect((await findTrade(t.db.db, recorded.trade.id))?.trade.status).toBe("POSITION");

    // Again, and again from a freshly built processor (a restart): nothing more is applied.
    expect(await reconcileNow()).not.toContain("MISSED_FILL_INFERRED");
    expect(await reconcileNow()).not.toContain("MISSED_FILL_INFERRED");
    expect(await listFillsForOrder(t.db.db, recorded.entry.id)).toHaveLength(1);
    expect((await findPosition(t.db.db, t.accountId, symbol))?.position.quantity.toFixed()).toBe(
      "10",
    );
    expect((await findTrade(t.db.db, recorded.trade.id))?.trade.entryQuantity.toFixed()).toBe("10");
    expect(await incidents("MISSED_FILL_INFERRED")).toHaveLength(1);
    const log = await readLog(t.db.db, { orderId: recorded.entry.id });
    expect(log.filter((e) => e.event === "MISSED_FILL_INFERRED")).toHaveLength(1);
  });

  it("re-places a missing stop, and again after the stop is cancelled outside the desk", async () => {
    // The entry fill's protection never ran (its job is lost): the position has no stop.
    await t.queues.protect.drain(true);
    offsetMs += 120_000;
    const found = await reconcileNow();
    expect(found).toEqual(["STOP_MISSING"]);
    expect(await runQueuedProtection()).toBeGreaterThan(0);
    const stops = (await brokerOrders(symbol)).filter(
      (o) => o.type === "stop" || o.legs.some((l) => l.type === "stop"),
    );
    expect(stops.length).toBeGreaterThan(0);
    // Without a stream here, the broker's acknowledgement of the new exits arrives by reconciliation.
    expect(await reconcileNow()).not.toContain("STOP_MISSING");
    expect(await reconcileNow()).toEqual([]);

    // Someone cancels the stop at the broker: found, and protection placed again.
    const position = await findPosition(t.db.db, t.accountId, symbol);
    const trade = position?.tradeId ? await listOrdersForTrade(t.db.db, position.tradeId) : [];
    const live = trade.filter((o) => o.order.role === "STOP_LOSS" && o.order.status !== "canceled");
    const stop = live[0];
    if (!stop?.order.brokerOrderId) throw new Error("no live stop recorded");
    // Cancelling one leg of the OCO cancels the group.
    const parent = trade.find((o) => o.id === stop.parentOrderId) ?? stop;
    const cancelled = await t.broker.cancelOrder(
      parent.order.brokerOrderId ?? stop.order.brokerOrderId,
    );
    expect(cancelled.ok).toBe(true);
    offsetMs += 120_000;
    const again = await reconcileNow();
    expect(again).toContain("ORDER_STATUS_SYNCED");
    expect(again).toContain("STOP_MISSING");
    await runQueuedProtection();
    await reconcileNow();
    const working = (await brokerOrders(symbol)).filter(
      (o) =>
        o.side === "sell" &&
        !["canceled", "filled", "expired", "replaced", "rejected"].includes(o.status),
    );
    expect(working.length).toBeGreaterThan(0);
    offsetMs += 120_000;
    expect(await reconcileNow()).toEqual([]);
    expect((await incidents("STOP_MISSING")).length).toBe(2);
  });

  it("finds a position closed at the broker by hand: MANUAL_EXIT at the broker's fill price, P&L from it", async () => {
    const position = await findPosition(t.db.db, t.accountId, symbol);
    const tradeId = position?.tradeId;
    if (!tradeId) throw new Error("no trade");
    // The trader cancels the desk's exits and sells at the broker.
    const cancelAll = await t.broker.cancelAllOrders();
    expect(cancelAll.ok).toBe(true);
    await quote(symbol, "102.50", "102.52");
    const closed = await t.broker.closePosition(symbol);
    if (!closed.ok) throw new Error(closed.message);
    offsetMs += 120_000;

    const actions = await reconcileNow();
    expect(actions).toContain("MANUAL_CLOSE_FOUND");
    const trade = await findTrade(t.db.db, tradeId);
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitReason).toBe("MANUAL_EXIT");
    expect(trade?.trade.averageExitPrice?.toFixed()).toBe("102.5");
    // (102.50 - 100.01) x 10
    expect(trade?.trade.realizedPnl.toFixed()).toBe("24.9");
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
    const closedNotices = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.kind, "TRADE_CLOSED"));
    expect(closedNotices.map((n) => n.payload.tradeId)).toContain(tradeId);
    expect(await incidents("MANUAL_CLOSE_FOUND")).toHaveLength(1);

    // The broker's closing order is now paired with the desk's record: nothing more to do.
    offsetMs += 120_000;
    expect(await reconcileNow()).toEqual([]);
    expect((await findTrade(t.db.db, tradeId))?.trade.realizedPnl.toFixed()).toBe("24.9");
  });

  it("adopts a position opened outside the desk and protects it", async () => {
    const outside = TEST_SYMBOLS[31] ?? "T31";
    await quote(outside, "49.99", "50.01");
    const bought = await t.broker.submitOrder({
      clientOrderId: "placed-on-the-website",
      symbol: outside,
      side: "buy",
      qty: dec("20"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);

    const actions = await reconcileNow();
    expect(actions).toEqual(["POSITION_ADOPTED"]);
    const position = await findPosition(t.db.db, t.accountId, outside);
    expect(position?.position.quantity.toFixed()).toBe("20");
    expect(position?.averageCost.toFixed()).toBe("50.01");
    const tradeId = position?.tradeId;
    if (!tradeId) throw new Error("adopted position without a trade");
    const trade = await findTrade(t.db.db, tradeId);
    expect(trade?.decisionId).toBeNull();
    expect(trade?.trade.status).toBe("POSITION");
    // 5% below the lower of entry and market (49.99 + 50.01) / 2 = 50.00: 47.50.
    expect(trade?.trade.plannedStopPrice.toFixed()).toBe("47.5");
    expect(
      await findOrderByClientOrderId(t.db.db, `adopt-${t.accountId}-${outside}-1`),
    ).not.toBeNull();
    expect(await incidents("POSITION_ADOPTED")).toHaveLength(1);

    expect(await runQueuedProtection()).toBeGreaterThan(0);
    const stops = (await brokerOrders(outside)).filter(
      (o) => o.side === "sell" && o.type === "stop" && o.status !== "canceled",
    );
    expect(stops.map((s) => [s.qty?.toFixed(), s.stopPrice?.toFixed()])).toEqual([["20", "47.5"]]);

    // Once is enough: the next runs find the position known and protected (after the
    // acknowledgement of the new stop, which a stream would have brought).
    expect(await reconcileNow()).not.toContain("POSITION_ADOPTED");
    expect(await reconcileNow()).toEqual([]);
    offsetMs += 120_000;
    expect(await reconcileNow()).toEqual([]);
    const adopted = await t.db.db
      .select()
      .from(trades)
      .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, outside)));
    expect(adopted).toHaveLength(1);
  });

  it("lets two workers reconcile the same account at once: one adoption, one manual close", async () => {
    const outside = TEST_SYMBOLS[32] ?? "T32";
    // The broker's clock and ours agree (up to the grace period), as in production.
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    await quote(outside, "19.99", "20.01");
    const bought = await t.broker.submitOrder({
      clientOrderId: "placed-by-phone",
      symbol: outside,
      side: "buy",
      qty: dec("30"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(outside)).ok, 5_000, "broker position");

    const both = await Promise.all([reconcileNow(), reconcileNow()]);
    expect(both.flat().filter((c) => c === "POSITION_ADOPTED").length).toBeGreaterThan(0);
    const adopted = await t.db.db
      .select()
      .from(trades)
      .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, outside)));
    expect(adopted).toHaveLength(1);
    expect((await findPosition(t.db.db, t.accountId, outside))?.position.quantity.toFixed()).toBe(
      "30",
    );
    expect((await incidents("POSITION_ADOPTED")).filter((p) => p.symbol === outside)).toHaveLength(
      1,
    );

    // Sold by hand (nothing of the desk's is working for it yet), found by both at once.
    await t.queues.protect.drain(true);
    await quote(outside, "21.00", "21.02");
    const sold = await t.broker.closePosition(outside);
    if (!sold.ok) throw new Error(sold.message);
    await waitFor(async () => !(await t.broker.getPosition(outside)).ok, 5_000, "position closed");
    await Promise.all([reconcileNow(), reconcileNow()]);
    const tradeId = adopted[0]?.id;
    if (tradeId === undefined) throw new Error("no adopted trade");
    const trade = await findTrade(t.db.db, tradeId);
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitQuantity.toFixed()).toBe("30");
    // 30 x (21.00 - 20.01)
    expect(trade?.trade.realizedPnl.toFixed()).toBe("29.7");
    expect(
      (await incidents("MANUAL_CLOSE_FOUND")).filter((p) => p.symbol === outside),
    ).toHaveLength(1);
  });

  it("corrects a position partly sold at the broker: a manual exit of the difference, the rest protected", async () => {
    const outside = TEST_SYMBOLS[38] ?? "T38";
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    await quote(outside, "9.99", "10.01");
    const bought = await t.broker.submitOrder({
      clientOrderId: "partly-sold-later",
      symbol: outside,
      side: "buy",
      qty: dec("40"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(outside)).ok, 5_000, "broker position");
    expect(await reconcileNow()).toEqual(["POSITION_ADOPTED"]);
    await t.queues.protect.drain(true);

    await quote(outside, "11.00", "11.02");
    const sold = await t.broker.closePosition(outside, { qty: dec("10") });
    if (!sold.ok) throw new Error(sold.message);
    await waitFor(
      async () => {
        const p = await t.broker.getPosition(outside);
        return p.ok && p.value.qty.eq(30);
      },
      5_000,
      "broker position reduced",
    );
    const actions = await reconcileNow();
    expect(actions).toContain("QUANTITY_MISMATCH");
    const position = await findPosition(t.db.db, t.accountId, outside);
    expect(position?.position.quantity.toFixed()).toBe("30");
    const trade = position?.tradeId ? await findTrade(t.db.db, position.tradeId) : null;
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.exitQuantity.toFixed()).toBe("10");
    // 10 x (11.00 - 10.01), at the broker's own closing order
    expect(trade?.trade.realizedPnl.toFixed()).toBe("9.9");
    const requested = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    expect(requested.map((j) => j.data.tradeId)).toContain(position?.tradeId);
    expect(await reconcileNow()).not.toContain("QUANTITY_MISMATCH");
  });
  it("corrects a position that comes back to a size it had before: sold, bought back and sold again by hand", async () => {
    const outside = TEST_SYMBOLS[37] ?? "T37";
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    await quote(outside, "9.99", "10.01");
    let sequence = 0;
    const trade = async (side: "buy" | "sell", qty: string, bid: string, ask: string) => {
      await quote(outside, bid, ask);
      const before = await t.broker.getPosition(outside);
      const held = before.ok ? before.value.qty : dec(0);
      const sent = await t.broker.submitOrder({
        clientOrderId: `by-hand-${outside}-${++sequence}`,
        symbol: outside,
        side,
        qty: dec(qty),
        timeInForce: "day",
        orderClass: "simple",
        entry: { type: "market" },
      });
      if (!sent.ok) throw new Error(sent.message);
      const after = side === "buy" ? held.plus(dec(qty)) : held.minus(dec(qty));
      await waitFor(
        async () => {
          const p = await t.broker.getPosition(outside);
          return p.ok && p.value.qty.eq(after);
        },
        5_000,
        `broker position ${after.toFixed()}`,
      );
      const actions = await reconcileNow();
      await t.queues.protect.drain(true);
      return actions;
    };
    expect(await trade("buy", "40", "9.99", "10.01")).toEqual(["POSITION_ADOPTED"]);
    await t.queues.protect.drain(true);
    expect(await trade("sell", "10", "11.00", "11.02")).toContain("QUANTITY_MISMATCH");
    expect(await trade("buy", "10", "11.99", "12.01")).toContain("QUANTITY_MISMATCH");
    expect(await trade("sell", "10", "13.00", "13.02")).toContain("QUANTITY_MISMATCH");

    // The books follow the broker: 30 shares, two exits of 10 and one addition recorded.
    const position = await findPosition(t.db.db, t.accountId, outside);
    expect(position?.position.quantity.toFixed()).toBe("30");
    const recorded = position?.tradeId ? await findTrade(t.db.db, position.tradeId) : null;
    expect(recorded?.trade.entryQuantity.toFixed()).toBe("50");
    expect(recorded?.trade.exitQuantity.toFixed()).toBe("20");
    // 10 x (11.00 - 10.01) + 10 x (13.00 - 10.51, the average of 30 at 10.01 and 10 at 12.01)
    expect(recorded?.trade.realizedPnl.toFixed()).toBe("34.8");
    expect((await incidents("QUANTITY_MISMATCH")).filter((p) => p.symbol === outside)).toHaveLength(
      3,
    );
    expect(await reconcileNow()).not.toContain("QUANTITY_MISMATCH");
  });
  it("follows a position flipped at the broker by hand (sold, then sold short): closed, the short adopted and followed", async () => {
    const outside = TEST_SYMBOLS[36] ?? "T36";
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    let sequence = 0;
    const byHand = async (side: "buy" | "sell", qty: string, bid: string, ask: string) => {
      await quote(outside, bid, ask);
      const sent = await t.broker.submitOrder({
        clientOrderId: `flip-${outside}-${++sequence}`,
        symbol: outside,
        side,
        qty: dec(qty),
        timeInForce: "day",
        orderClass: "simple",
        entry: { type: "market" },
      });
      if (!sent.ok) throw new Error(sent.message);
      await waitFor(
        async () => {
          const o = await t.broker.getOrder(sent.value.brokerOrderId);
          return o.ok && o.value.status === "filled";
        },
        5_000,
        "filled by hand",
      );
    };
    await byHand("buy", "10", "29.99", "30.01");
    expect(await reconcileNow()).toEqual(["POSITION_ADOPTED"]);
    await t.queues.protect.drain(true);
    const long = await findPosition(t.db.db, t.accountId, outside);
    const longTradeId = long?.tradeId;
    if (!longTradeId) throw new Error("no adopted trade");

    // Sold, then sold short at a lower price: the broker holds -20.
    await byHand("sell", "10", "31.00", "31.02");
    await byHand("sell", "20", "28.00", "28.02");
    const flipped = await reconcileNow();
    expect(flipped).toContain("MANUAL_CLOSE_FOUND");
    expect(flipped).toContain("POSITION_ADOPTED");
    const closed = await findTrade(t.db.db, longTradeId);
    expect(closed?.trade.status).toBe("CLOSED");
    expect(closed?.trade.exitQuantity.toFixed()).toBe("10");
    // At the price of the order that closed it, not of the short sale after it.
    expect(closed?.trade.averageExitPrice?.toFixed()).toBe("31");
    const short = await findPosition(t.db.db, t.accountId, outside);
    expect(short?.position.quantity.toFixed()).toBe("-20");
    await t.queues.protect.drain(true);

    // Nothing is left to correct: the close is not taken for part of the short sale.
    expect(await reconcileNow()).not.toContain("MISSED_FILL_INFERRED");
    expect((await findTrade(t.db.db, longTradeId))?.trade.exitQuantity.toFixed()).toBe("10");

    // The short is followed like any position: covered by hand, it is closed in the books.
    await byHand("buy", "20", "27.00", "27.02");
    expect(await reconcileNow()).toContain("MANUAL_CLOSE_FOUND");
    expect(await findPosition(t.db.db, t.accountId, outside)).toBeNull();
  });
});
