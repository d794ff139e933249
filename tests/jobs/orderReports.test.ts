/**
 * The order-report handler fed reports directly (as the stream, a poll or a submit's answer hand
 * them over), against real PostgreSQL and the simulator: what it applies and what protection it
 * asks for.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import { type BrokerOrderData, brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("order-reports");
});
afterAll(async () => {
  await t?.close();
});

/** Executes an approved decision in this process (no worker runtime): the entry is recorded and sent. */
async function execute(decisionId: number): Promise<void> {
  const executed = await executeDecision(t.deps, decisionId);
  expect(executed).toMatchObject({ outcome: "executed" });
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

describe("order reports", () => {
  it("asks for protection of a late fill on a cancelled bracket entry, whose legs are gone", async () => {
    const symbol = TEST_SYMBOLS[24] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(decision.id);
    await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
    const partly = await waitFor(async () => {
      const entry = await brokerEntry(decision.id);
      return entry.filledQty.eq(4) ? entry : null;
    });
    expect(partly.orderClass).toBe("bracket");
    await handler.handle(t.accountId, "poll", brokerOrderToReport(partly, t.deps.now()));

    // Cancelled with 4 filled: its legs go with it, and the 4 get exits of their own.
    expect((await t.broker.cancelOrder(partly.brokerOrderId)).ok).toBe(true);
    const cancelled = await brokerEntry(decision.id);
    expect(cancelled.status).toBe("canceled");
    const ended = await handler.handle(
      t.accountId,
      "poll",
      brokerOrderToReport(cancelled, t.deps.now()),
    );
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(ended.protections).toContainEqual(
      expect.objectContaining({ tradeId: trade?.id, reason: "entry_ended" }),
    );

    // Then the venue reports 2 more shares executed before the cancel took hold.
    const report = brokerOrderToReport(cancelled, t.deps.now());
    const late: BrokerOrderData = {
      ...report.order,
      filledQty: "6",
      filledAvgPrice: "100",
      legs: report.order.legs.map((leg) => ({ ...leg, status: "canceled" })),
    };
    const handled = await handler.handle(t.accountId, "stream", {
      event: "fill",
      executionId: `late-${decision.id}`,
      price: "100",
      qty: "2",
      at: t.deps.now().toISOString(),
      order: late,
    });
    const after = await findTradeByDecision(t.db.db, decision.id);
    expect([after?.trade.status, after?.trade.quantity.toFixed()]).toEqual(["POSITION", "6"]);
    const legs = (await listOrdersForTrade(t.db.db, trade?.id ?? 0)).filter(
      (o) => o.parentOrderId !== null && o.order.orderClass === "bracket",
    );
    expect(legs.map((l) => l.order.status)).toEqual(["canceled", "canceled"]);
    // No leg will ever work for those 2 shares: the protect job must cover them.
    expect(handled.protections).toContainEqual(
      expect.objectContaining({ tradeId: trade?.id, reason: "entry_fill" }),
    );
  });

  it("journals an exit fill that is handled before its entry's fill", async () => {
    const symbol = TEST_SYMBOLS[26] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(decision.id);
    // The entry fills, then the market reaches the target: the broker is flat again.
    await t.sim.control("/sim/quotes", { symbol, bid: "110.05", ask: "110.07" });
    const entry = await waitFor(async () => {
      const found = await brokerEntry(decision.id);
      return found.legs.some((l) => l.status === "filled") ? found : null;
    });
    const target = entry.legs.find((l) => l.type === "limit");
    if (!target || target.filledAvgPrice === null) throw new Error("no filled target");
    const at = t.deps.now().toISOString();

    // The target's fill is handled first (the entry's handling held up before its turn).
    const report = (order: typeof entry) => brokerOrderToReport(order, t.deps.now()).order;
    const early = await handler
      .handle(t.accountId, "stream", {
        event: "fill",
        executionId: `tp-${decision.id}`,
        price: target.filledAvgPrice.toFixed(),
        qty: "10",
        at,
        order: report({ ...target, legs: [] }),
      })
      .then(
        () => "handled",
        () => "failed",
      );
    await handler.handle(t.accountId, "stream", {
      event: "fill",
      executionId: `entry-${decision.id}`,
      price: entry.filledAvgPrice?.toFixed() ?? "100.01",
      qty: "10",
      at,
      order: report(entry),
    });
    // A handling that failed is handed over again (the queue retries what the stream holder
    // could not finish); one that did not fail is told the same once more, changing nothing.
    await handler.handle(t.accountId, "stream", {
      event: "fill",
      executionId: `tp-${decision.id}`,
      price: target.filledAvgPrice.toFixed(),
      qty: "10",
      at,
      order: report({ ...target, legs: [] }),
    });
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect([trade?.trade.status, trade?.trade.exitReason]).toEqual(["CLOSED", "PROFIT_TAKEN"]);
    expect(trade?.trade.exitQuantity.toFixed()).toBe("10");
    // The early handling stored nothing: the fill waited for its entry's.
    expect(early).toBe("failed");
  });
});
