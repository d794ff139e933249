/**
 * The protect job's fallback when the market is already through the stop it should place: the
 * position is closed at market, only the part no working stop holds (the broker refuses a close
 * of shares a stop holds), and a market close the broker refuses too is told to the trader and
 * ended, so a later run places a new one. Run in this process (the protect job called as its queue
 * would) against real PostgreSQL and the simulator.
 */
import { UnrecoverableError } from "bullmq";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertOrder, listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision, type TradeRecord } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
/** Entries sent as simple orders, their fills applied without inline protection. */
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("protect-fallback");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: t.deps.now,
    logger: t.deps.logger,
    jobs: t.jobs,
    settings: { nativeBrackets: false },
  });
  handler = createOrderReportHandler(deps);
});
afterAll(async () => {
  await t?.close();
});

/** A long of 10 at about $100 with its stop at $95, held without any exit. */
async function bareLong(symbol: string): Promise<TradeRecord> {
  await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
  const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
  await executeDecision(deps, decision.id, handler);
  await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
  const entry = await waitFor(async () => {
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    return found.ok && found.value.status === "filled" ? found.value : null;
  });
  await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
  const trade = await findTradeByDecision(t.db.db, decision.id);
  if (trade?.trade.status !== "POSITION") throw new Error("no position");
  return trade;
}

function payloadOf(trade: TradeRecord) {
  return { accountId: t.accountId, tradeId: trade.id, reason: "repair", fillId: null } as const;
}

/** The broker refuses the next `times` orders for good (403). */
async function refuseOrders(times: number): Promise<void> {
  await t.sim.control("/sim/faults", { method: "POST", path: "/v2/orders", status: 403, times });
}

async function protectionFailures(tradeId: number): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT")));
  return rows
    .filter(
      (r) =>
        r.payload.incident === "PROTECTION_FAILED" &&
        String(r.payload.detail).startsWith(`trade ${tradeId}:`),
    )
    .map((r) => String(r.payload.detail));
}

async function heldAtBroker(symbol: string): Promise<string | null> {
  const held = await t.broker.getPosition(symbol);
  return held.ok ? held.value.qty.toFixed() : null;
}

describe("the market close behind a stop the market is already through", () => {
  it("closes only what no working stop holds", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    const trade = await bareLong(symbol);
    // A working stop of the trade holds 4 of the 10 shares, further down.
    const clientOrderId = `held-stop-${trade.id}`;
    const placed = await t.broker.submitOrder(
      {
        clientOrderId,
        symbol,
        side: "sell",
        qty: dec("4"),
        timeInForce: "gtc",
        positionIntent: "sell_to_close",
        orderClass: "simple",
        entry: { type: "stop", stopPrice: dec("90.00") },
      },
      { lookUpFirst: false },
    );
    if (!placed.ok) throw new Error(placed.message);
    const now = deps.now();
    await insertOrder(
      t.db.db,
      {
        accountId: t.accountId,
        tradeId: trade.id,
        order: createOrder(
          {
            clientOrderId,
            symbol,
            side: "sell",
            type: "stop",
            timeInForce: "gtc",
            orderClass: "simple",
            role: "STOP_LOSS",
            quantity: dec("4"),
            limitPrice: null,
            stopPrice: dec("90.00"),
          },
          now.toISOString(),
        ),
      },
      "test",
      now,
    );
    await handler.handle(t.accountId, "poll", brokerOrderToReport(placed.value, now));

    await t.sim.control("/sim/quotes", { symbol, bid: "94.00", ask: "94.02" });
    await refuseOrders(1);
    const protect = createProtectProcessor(deps, { handler });
    expect(await protect.protectTrade(payloadOf(trade), false)).toEqual({
      outcome: "flattened",
      quantity: "6",
    });
    await waitFor(async () => (await heldAtBroker(symbol)) === "4", 10_000, "6 sold");
    const still = await t.broker.getOrder(placed.value.brokerOrderId);
    expect(still.ok && still.value.status).toBe("new");
  });

  it("tells the trader when the broker refuses the market close too, and places a new one later", async () => {
    const symbol = TEST_SYMBOLS[31] as string;
    const trade = await bareLong(symbol);
    await t.sim.control("/sim/quotes", { symbol, bid: "94.00", ask: "94.02" });
    const protect = createProtectProcessor(deps, { handler });

    // The stop and then the market close are refused: no retry would do better.
    await refuseOrders(2);
    const failed = protect.protectTrade(payloadOf(trade), false);
    await expect(failed).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(failed).rejects.toThrow(/market close not placed/);
    const failures = await protectionFailures(trade.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/through its stop/);
    const exits = (await listOrdersForTrade(t.db.db, trade.id)).filter(
      (o) => o.order.role === "EXIT",
    );
    expect(exits.map((o) => o.order.status)).toEqual(["rejected"]);
    expect(await heldAtBroker(symbol)).toBe("10");

    // The next run (reconciliation's repair) places a market close of its own.
    await refuseOrders(1);
    expect(await protect.protectTrade(payloadOf(trade), false)).toEqual({
      outcome: "flattened",
      quantity: "10",
    });
    await waitFor(async () => (await heldAtBroker(symbol)) === null, 10_000, "position closed");
  });

  it("does not tell a market close sent on a retry as a stop placed", async () => {
    const symbol = TEST_SYMBOLS[33] as string;
    const trade = await bareLong(symbol);
    await t.sim.control("/sim/quotes", { symbol, bid: "94.00", ask: "94.02" });
    // The market close's first submit times out before it reaches the broker.
    let timedOut = false;
    const broker: Broker = {
      ...t.broker,
      submitOrder(request, options) {
        if (!timedOut && request.clientOrderId.startsWith(`t${trade.id}-xstop-`)) {
          timedOut = true;
          return Promise.resolve({
            ok: false,
            code: "TIMEOUT",
            message: "timed out",
            retryable: true,
          });
        }
        return t.broker.submitOrder(request, options);
      },
    };
    const flaky = createJobDeps({
      db: t.db.db,
      brokerFor: () => broker,
      now: t.deps.now,
      logger: t.deps.logger,
      jobs: t.jobs,
      settings: { nativeBrackets: false },
    });
    const protect = createProtectProcessor(flaky, { handler });
    await refuseOrders(1);
    await expect(protect.protectTrade(payloadOf(trade), false)).rejects.toThrow(
      /market close not placed yet/,
    );
    await protect.protectTrade(payloadOf(trade), true);
    await waitFor(async () => (await heldAtBroker(symbol)) === null, 10_000, "position closed");
    const placedNotices = (
      await t.db.db
        .select()
        .from(notificationOutbox)
        .where(eq(notificationOutbox.kind, "PROTECTION_PLACED"))
    ).filter((r) => r.payload.tradeId === trade.id);
    expect(placedNotices.map((r) => r.payload.stopPrice)).toEqual([]);
  });
});
