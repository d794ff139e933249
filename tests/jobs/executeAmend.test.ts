/**
 * AMEND and CANCEL against entries that are not simply working: an old entry that filled (in part
 * or whole) before the cancel the amendment asked for; an entry recorded and not at the broker
 * yet (its send being retried, or in flight). Run in this process (the execute processor called
 * directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision, listTrades } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("execute-amend");
});
afterAll(async () => {
  await t?.close();
});

/** The notices written about a symbol's trade, oldest first: kind, and code where it has one. */
async function noticesAbout(symbol: string) {
  const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
  return rows
    .filter((row) => row.payload.symbol === symbol)
    .map((row) => ({ kind: row.kind, ...row.payload }) as Record<string, unknown>);
}

/**
 * What the trader is told of an entry their cancel came too late for: the entry was sent and
 * filled, and the cancel did not stop it; nothing says it was cancelled.
 */
async function expectToldCancelTooLate(symbol: string, decisionId: number, filled: string) {
  const decision = await findDecision(t.db.db, decisionId);
  expect(decision?.status).toBe("executed");
  expect(decision?.statusReason).toBeNull();
  const notices = await noticesAbout(symbol);
  expect(notices.map((notice) => notice.kind).sort()).toEqual([
    "ENTRY_SUBMITTED",
    "ORDER_FILLED",
    "ORDER_REJECTED",
  ]);
  expect(notices.find((notice) => notice.kind === "ORDER_FILLED")).toMatchObject({
    filledQuantity: filled,
    complete: true,
  });
  const tooLate = notices.find((notice) => notice.kind === "ORDER_REJECTED");
  expect(tooLate).toMatchObject({ decisionId, code: "CANCEL_TOO_LATE" });
  expect(tooLate?.reason).toBe(
    `the cancel came too late: the entry had filled ${filled} of ${filled} shares at the broker before it took hold; the position is held`,
  );
}

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  return found.ok ? found.value : null;
}

describe("AMEND of a trade whose entry filled before its cancel", () => {
  it("sends no second entry on top of the filled part, and keeps the filled trade", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: old.id }))).toMatchObject({
      outcome: "executed",
    });
    // 4 of the 10 fill; the trader then amends the plan (a lower limit, the same 10 shares).
    await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
    await waitFor(async () => ((await brokerEntry(old.id))?.filledQty.eq(4) ? true : null));
    const oldTrade = await findTradeByDecision(t.db.db, old.id);
    const amended = await t.decide({ symbol, entry: "99.50", stop: "95.00", quantity: "10" });
    const result = await execute(
      jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTrade?.id ?? 0 }),
    );

    // The old entry is cancelled with its 4 shares kept (and journalled); the new one is not
    // sent, else the position would reach 14 where the trader planned 10.
    expect(result).toMatchObject({ outcome: "refused" });
    expect(await brokerEntry(amended.id)).toBeNull();
    expect((await brokerEntry(old.id))?.status).toBe("canceled");
    const after = await findTradeByDecision(t.db.db, old.id);
    expect(after?.trade.status).toBe("POSITION");
    expect(after?.trade.quantity.toString()).toBe("4");
    const decision = await findDecision(t.db.db, amended.id);
    expect(decision?.status).toBe("failed");
    expect(decision?.statusReason).toContain("REPLACED_TRADE_FILLED");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
  });

  it("sends no second entry when the old entry filled whole before the cancel", async () => {
    const symbol = TEST_SYMBOLS[31] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: old.id }));
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    await waitFor(async () => ((await brokerEntry(old.id))?.status === "filled" ? true : null));
    const oldTrade = await findTradeByDecision(t.db.db, old.id);
    const amended = await t.decide({ symbol, entry: "99.50", quantity: "10" });
    const result = await execute(
      jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTrade?.id ?? 0 }),
    );
    expect(result).toMatchObject({ outcome: "refused" });
    expect(await brokerEntry(amended.id)).toBeNull();
    expect((await findDecision(t.db.db, amended.id))?.statusReason).toContain(
      "REPLACED_TRADE_FILLED",
    );
  });
});

describe("CANCEL of a trade whose entry is recorded and not at the broker yet", () => {
  it("keeps the entry from being sent by the execute job's retry", async () => {
    const symbol = TEST_SYMBOLS[32] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    // The broker fails both sends of the first run before taking the order: the entry is
    // recorded and the job will retry.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      times: 2,
    });
    await expect(execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).rejects.toThrow(
      /not sent yet/,
    );
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("ORDERED");

    // The trader cancels the trade meanwhile (its entry shows in /orders), then the retry runs.
    const cancel = await execute(
      jobOf({
        action: "CANCEL",
        accountId: t.accountId,
        tradeId: trade?.id ?? 0,
        reason: "no longer wanted",
        requestedBy: "user:1",
      }),
    );
    expect(cancel).toMatchObject({ outcome: "cancelled" });
    const retried = await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));

    expect(retried).not.toMatchObject({ outcome: "executed" });
    expect(await brokerEntry(decision.id)).toBeNull();
    const after = await findTradeByDecision(t.db.db, decision.id);
    expect(after?.trade.status).toBe("CANCELLED");
    const orders = await listOrdersForTrade(t.db.db, after?.id ?? 0);
    expect(orders.every((o) => o.order.status === "canceled")).toBe(true);
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
  });
});

describe("CANCEL while the entry's send is in flight", () => {
  it("cancels at the broker an entry that arrives there after the books ended it unsent", async () => {
    const symbol = TEST_SYMBOLS[33] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    let tradeId = 0;
    // The trader's cancel runs between the entry's record and its arrival at the broker.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "no longer wanted",
            requestedBy: "user:1",
          }),
        );
        return t.broker.submitOrder(request, options);
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    const result = await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }));

    expect(result).not.toMatchObject({ outcome: "executed" });
    expect((await brokerEntry(decision.id))?.status).toBe("canceled");
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("CANCELLED");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
  });
});

describe("CANCEL while a market entry's send is in flight", () => {
  it("journals the fill the broker made before the cancel on the original trade, not as an adopted one", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const decision = await t.decide({ symbol, entry: null, quantity: "10" });
    // The trader's cancel finds the entry not at the broker yet and ends it in the books; the
    // broker then takes the market order and fills it at once, and its answer is lost: the
    // job's retry finds an entry the books ended and the broker filled.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "no longer wanted",
            requestedBy: "user:1",
          }),
        );
        const sent = await t.broker.submitOrder(request, options);
        if (!sent.ok) return sent;
        return { ok: false, code: "NETWORK", message: "socket hang up", retryable: true };
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    await expect(execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).rejects.toThrow(
      /not sent yet/,
    );
    expect((await brokerEntry(decision.id))?.status).toBe("filled");
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1))).toMatchObject(
      { outcome: "executed", decisionId: decision.id },
    );

    // The fill is the original trade's: its position, its entry order (the broker's id stored).
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.quantity.toString()).toBe("10");
    const entry = (await listOrdersForTrade(t.db.db, trade?.id ?? 0)).find(
      (o) => o.order.role === "ENTRY",
    );
    expect(entry?.order.status).toBe("filled");
    expect(entry?.order.brokerOrderId).not.toBeNull();

    // The decision was executed, and the trader hears the entry filled and the cancel came too
    // late, not that it was cancelled.
    await expectToldCancelTooLate(symbol, decision.id, "10");

    // Reconciliation finds the broker's position already journalled: nothing is adopted.
    const reconcile = createReconcileProcessor(t.deps, { handler });
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    const trades = await listTrades(t.db.db, t.accountId);
    expect(trades.filter((r) => r.trade.symbol === symbol).map((r) => r.id)).toEqual([trade?.id]);
  });
});

describe("CANCEL while a limit entry's send is in flight, the entry filling before the broker's cancel", () => {
  it("ends the decision executed and tells the trader the cancel came too late", async () => {
    const symbol = TEST_SYMBOLS[35] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    // The trader's cancel ends the entry in the books while it is on its way; the broker takes
    // it working, and the price reaches its limit before the job's cancel gets there.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "no longer wanted",
            requestedBy: "user:1",
          }),
        );
        return t.broker.submitOrder(request, options);
      },
      async cancelOrder(brokerOrderId) {
        await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
        await waitFor(async () =>
          (await brokerEntry(decision.id))?.status === "filled" ? true : null,
        );
        return t.broker.cancelOrder(brokerOrderId);
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).toMatchObject({
      outcome: "executed",
      decisionId: decision.id,
    });

    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.quantity.toString()).toBe("10");
    await expectToldCancelTooLate(symbol, decision.id, "10");
  });
});
