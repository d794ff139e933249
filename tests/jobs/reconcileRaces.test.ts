/**
 * Reconciliation racing the desk's own work, against the simulator with real PostgreSQL and
 * Redis: books read a moment before the broker's, with an order of the desk's sent and filled in
 * between, must not be corrected as if someone else had traded.
 */

import type { Job } from "bullmq";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../db/executionLog";
import { findOrderByClientOrderId, insertOrder } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import type { Broker, BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;
/** Runs once, inside the next reconciliation's first broker read (after it read the books). */
let beforeBrokerRead: (() => Promise<void>) | null = null;

beforeAll(async () => {
  t = await openLifecycle("reconcile-races");
  const broker: Broker = {
    ...t.broker,
    async listPositions() {
      const hook = beforeBrokerRead;
      beforeBrokerRead = null;
      if (hook) await hook();
      return t.broker.listPositions();
    },
  };
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => broker,
    now: () => t.deps.now(),
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
async function runQueuedProtection(): Promise<number> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  let ran = 0;
  for (let round = 0; round < 5; round++) {
    const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    if (jobs.length === 0) break;
    for (const job of jobs) {
      await protect(job as Job);
      await job.remove();
      ran++;
    }
  }
  return ran;
}

async function symbolIncidents(symbol: string): Promise<Record<string, unknown>[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
  return rows.map((r) => r.payload).filter((p) => p.symbol === symbol);
}

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
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

/** The desk's market entry, recorded and sent; its fill is not stored (its stream event in flight). */
async function entrySentUnheard(symbol: string, quantity: string) {
  const { recorded } = await sendEntryUnheard(t, {
    symbol,
    quantity,
    limit: null,
    idPrefix: "race",
  });
  await waitFor(
    async () => {
      const p = await t.broker.getPosition(symbol);
      return p.ok && p.value.qty.eq(dec(quantity));
    },
    5_000,
    "entry filled at the broker",
  );
  return recorded;
}

describe("reconciliation racing the desk", () => {
  it("does not adopt a position that the desk's own entry, sent after the books were read, opened", async () => {
    const symbol = TEST_SYMBOLS[5] ?? "T05";
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    await quote(symbol, "99.99", "100.01");
    let entryTradeId: number | null = null;
    // The execute job records and sends its entry while the reconciliation talks to the broker.
    beforeBrokerRead = async () => {
      entryTradeId = (await entrySentUnheard(symbol, "10")).trade.id;
    };
    await reconcileNow();
    await runQueuedProtection();
    // Later runs (and the stream) bring the entry's fill in; the desk settles.
    await reconcileNow();
    await runQueuedProtection();
    await reconcileNow();
    await runQueuedProtection();

    if (entryTradeId === null) throw new Error("entry not sent");
    const position = await findPosition(t.db.db, t.accountId, symbol);
    expect(position?.position.quantity.toFixed()).toBe("10");
    const symbolTrades = await t.db.db
      .select()
      .from(trades)
      .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, symbol)));
    // The desk's own trade, and no other: nothing adopted, nothing closed by hand.
    expect(symbolTrades.map((r) => r.id)).toEqual([entryTradeId]);
    const trade = await findTrade(t.db.db, entryTradeId);
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.entryQuantity.toFixed()).toBe("10");
    expect(trade?.trade.exitQuantity.toFixed()).toBe("0");
    // One set of exits at the broker, for the 10 shares.
    const sells = (await workingBrokerOrders(symbol)).filter((o) => o.side === "sell");
    const stops = sells.filter((o) => o.type === "stop" || o.legs.some((l) => l.type === "stop"));
    expect(stops.length).toBeGreaterThan(0);
    const stopQuantity = stops.reduce((sum, o) => sum.plus(o.qty ?? dec(0)), dec(0));
    expect(stopQuantity.toFixed()).toBe("10");
  });
  it("does not take the desk's own close, sent after the books were read, for a close outside the desk", async () => {
    const symbol = TEST_SYMBOLS[6] ?? "T06";
    await t.sim.control("/sim/clock", { time: deps.now().toISOString() });
    await quote(symbol, "99.99", "100.01");
    const entry = await entrySentUnheard(symbol, "10");
    await reconcileNow();
    // No exits working: the close may sell the shares.
    await t.queues.protect.drain(true);
    const tradeId = entry.trade.id;
    expect((await findPosition(t.db.db, t.accountId, symbol))?.position.quantity.toFixed()).toBe(
      "10",
    );

    const setupIncidents = await symbolIncidents(symbol);
    const clientOrderId = `flatten-race-${tradeId}`;
    beforeBrokerRead = async () => {
      // /flatten records its close and sends it; the broker's acknowledgement is stored, its
      // fill (a moment later) not yet.
      await insertOrder(
        t.db.db,
        {
          accountId: t.accountId,
          tradeId,
          exitReason: "FLATTENED",
          order: createOrder(
            {
              clientOrderId,
              symbol,
              side: "sell",
              type: "limit",
              timeInForce: "day",
              orderClass: "simple",
              role: "EXIT",
              quantity: dec("10"),
              limitPrice: dec("100.50"),
              stopPrice: null,
            },
            deps.now().toISOString(),
          ),
        },
        "test",
        deps.now(),
      );
      const sent = await t.broker.submitOrder({
        clientOrderId,
        symbol,
        side: "sell",
        qty: dec("10"),
        timeInForce: "day",
        orderClass: "simple",
        entry: { type: "limit", limitPrice: dec("100.50") },
      });
      if (!sent.ok) throw new Error(sent.message);
      await createOrderReportHandler(deps).handle(
        t.accountId,
        "submit",
        brokerOrderToReport(sent.value, deps.now()),
      );
      await quote(symbol, "100.60", "100.62");
      await waitFor(
        async () => !(await t.broker.getPosition(symbol)).ok,
        5_000,
        "position closed at the broker",
      );
    };
    await reconcileNow();
    await runQueuedProtection();
    await reconcileNow();

    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
    const trade = await findTrade(t.db.db, tradeId);
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitReason).toBe("FLATTENED");
    expect(trade?.trade.exitQuantity.toFixed()).toBe("10");
    // The close's own record carries its fill; nothing is reported as closed outside the desk.
    const close = await findOrderByClientOrderId(t.db.db, clientOrderId);
    expect(close?.order.status).toBe("filled");
    expect((await symbolIncidents(symbol)).map((n) => n.incident)).toEqual(
      setupIncidents.map((n) => n.incident),
    );
    const log = await readLog(t.db.db, { tradeId });
    expect(log.filter((e) => e.event === "MANUAL_CLOSE_FOUND")).toEqual([]);
  });
});
