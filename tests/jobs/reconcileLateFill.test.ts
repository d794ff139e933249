/**
 * A fill of the desk's own entry that the books ended as cancelled, found by reconciliation only
 * after its look-back window (the desk down over a weekend, the stream's events lost): the fill
 * belongs to the entry's trade, by its client order id, whatever its age. Against the simulator
 * with real PostgreSQL and Redis; the protect job runs on what reconciliation queued.
 */

import type { Job } from "bullmq";
import { and, eq, like } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findPosition } from "../../db/positions";
import { orders, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

const DAY_MS = 24 * 3600 * 1000;

let t: Lifecycle;
let deps: JobDeps;
/** Added to the bench's clock: the desk comes back after the look-back window. */
let offsetMs = 0;

beforeAll(async () => {
  t = await openLifecycle("reconcile-late-fill");
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

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/** Runs the protect job on every queued request, as a worker would. */
async function runQueuedProtection(): Promise<void> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  for (let round = 0; round < 5; round++) {
    const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    if (jobs.length === 0) return;
    for (const job of jobs) {
      await protect(job as Job);
      await job.remove();
    }
  }
}

async function workingBrokerOrders(symbol: string): Promise<BrokerOrder[]> {
  const open = await t.broker.listOrders({
    status: "open",
    nested: false,
    symbols: [symbol],
    limit: 500,
  });
  if (!open.ok) throw new Error(open.message);
  return [...open.value];
}

async function symbolTrades(symbol: string) {
  return t.db.db
    .select()
    .from(trades)
    .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, symbol)));
}

describe("a late fill of a cancelled entry found after the look-back window", () => {
  it("lands on the entry's trade, adopting nothing, however old", async () => {
    const symbol = TEST_SYMBOLS[11] as string;
    offsetMs = 0;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    // The trader's cancel ended the entry in the books while its send was in flight; the broker
    // took it and filled it, and the desk heard nothing of it.
    const { recorded } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: null,
      idPrefix: "late",
      at: deps.now(),
    });
    await waitFor(
      async () => {
        const p = await t.broker.getPosition(symbol);
        return p.ok && p.value.qty.eq(dec("10"));
      },
      5_000,
      "entry filled at the broker",
    );
    const cancelledAt = deps.now();
    const ended = await applyOrderUpdate(
      t.db.db,
      { orderId: recorded.entry.id },
      { event: "canceled", at: cancelledAt.toISOString() },
      { source: "local", recordedAt: cancelledAt },
    );
    expect(ended.ok).toBe(true);
    const tradeId = recorded.trade.id;
    expect((await findTrade(t.db.db, tradeId))?.trade.status).toBe("CANCELLED");

    // The desk is back three days later: the entry and its broker order are past the window.
    offsetMs = 3 * DAY_MS;
    const actions = await reconcileNow();
    await runQueuedProtection();
    await reconcileNow();
    await runQueuedProtection();

    expect(actions).not.toContain("POSITION_ADOPTED");
    expect(actions).toContain("MISSED_FILL_INFERRED");
    // The desk's own trade holds the shares, and no other trade was opened for them.
    expect((await symbolTrades(symbol)).map((r) => r.id)).toEqual([tradeId]);
    const trade = await findTrade(t.db.db, tradeId);
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.entryQuantity.toFixed()).toBe("10");
    expect(trade?.trade.averageEntryPrice?.toFixed(2)).toBe("100.01");
    const adopted = await t.db.db
      .select()
      .from(orders)
      .where(and(eq(orders.accountId, t.accountId), like(orders.clientOrderId, "adopt-%")));
    expect(adopted.filter((o) => o.symbol === symbol)).toEqual([]);
    const position = await findPosition(t.db.db, t.accountId, symbol);
    expect(position?.tradeId).toBe(tradeId);
    expect(position?.position.quantity.toFixed()).toBe("10");
    // One stop at the broker for the 10 shares, not two sets of protection.
    const stops = (await workingBrokerOrders(symbol)).filter(
      (o) => o.side === "sell" && o.type === "stop",
    );
    expect(stops.map((o) => o.qty?.toFixed())).toEqual(["10"]);
  });

  it("records a close by hand found after the window at the broker's fill price, not the entry's", async () => {
    const symbol = TEST_SYMBOLS[12] as string;
    offsetMs = 0;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const { recorded } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: null,
      idPrefix: "byhand",
      at: deps.now(),
    });
    await waitFor(
      async () => {
        const p = await t.broker.getPosition(symbol);
        return p.ok && p.value.qty.eq(dec("10"));
      },
      5_000,
      "entry filled at the broker",
    );
    expect(await reconcileNow()).toContain("MISSED_FILL_INFERRED");
    // No exits working, so the shares can be sold by hand at the broker.
    await t.queues.protect.drain(true);
    await t.sim.control("/sim/quotes", { symbol, bid: "90.00", ask: "90.02" });
    const sold = await t.broker.submitOrder({
      clientOrderId: `by-hand-${symbol}`,
      symbol,
      side: "sell",
      qty: dec("10"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!sold.ok) throw new Error(sold.message);
    await waitFor(async () => !(await t.broker.getPosition(symbol)).ok, 5_000, "sold by hand");
    await t.sim.control("/sim/quotes", { symbol, bid: "101.00", ask: "101.02" });

    // The desk is back three days later: the sale is past the window.
    offsetMs = 3 * DAY_MS;
    expect(await reconcileNow()).toContain("MANUAL_CLOSE_FOUND");

    const trade = await findTrade(t.db.db, recorded.trade.id);
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitReason).toBe("MANUAL_EXIT");
    expect(trade?.trade.averageExitPrice?.toFixed(2)).toBe("90.00");
    // The loss counts (daily loss limits read it): (90.00 - 100.01) x 10.
    expect(trade?.trade.realizedPnl.toFixed(2)).toBe("-100.10");
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
  });
});
