/**
 * What the trader who cancelled an entry from /orders hears ("You will get a message when the
 * broker confirms it"): the cancel took hold once, whether the entry never reached the broker or
 * was cancelled there. Run in this process (the execute processor called directly) against real
 * PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { insertOrder, listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-notices");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

function cancelJob(tradeId: number): Job {
  return jobOf({
    action: "CANCEL",
    accountId: t.accountId,
    tradeId,
    reason: "Cancelled from /orders",
    requestedBy: "user:1",
  });
}

/** The notices written about a symbol, oldest first: kind with the payload. */
async function noticesAbout(symbol: string) {
  const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
  return rows
    .filter((row) => row.payload.symbol === symbol)
    .map((row) => ({ kind: row.kind, ...row.payload }) as Record<string, unknown>);
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  return found.ok ? found.value : null;
}

describe("the trader's cancel of an entry", () => {
  it("is told once when it ends an entry that never reached the broker", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    // Both sends of the first run fail: the entry is recorded, and the job will retry.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      times: 2,
    });
    await expect(execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).rejects.toThrow(
      /not sent yet/,
    );
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "cancelled" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));

    expect(await brokerEntry(decision.id)).toBeNull();
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
    const notices = await noticesAbout(symbol);
    expect(notices.map((n) => n.kind)).toEqual(["ORDER_CANCELED"]);
    expect(notices[0]).toMatchObject({
      tradeId,
      role: "ENTRY",
      clientOrderId: entryClientOrderId(decision.id),
      filledQuantity: "0",
    });
  });

  it("is told once when the entry its cancel ended unsent arrived at the broker and was cancelled there", async () => {
    const symbol = TEST_SYMBOLS[38] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(cancelJob(tradeId));
        return t.broker.submitOrder(request, options);
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).toMatchObject({
      outcome: "skipped",
    });

    expect((await brokerEntry(decision.id))?.status).toBe("canceled");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
    const notices = await noticesAbout(symbol);
    expect(notices.map((n) => n.kind)).toEqual(["ORDER_CANCELED"]);
    expect(notices[0]).toMatchObject({ role: "ENTRY", filledQuantity: "0" });
  });

  it("is told once when it cancels a working entry at the broker", async () => {
    const symbol = TEST_SYMBOLS[39] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).toMatchObject({
      outcome: "executed",
    });
    await waitFor(async () => (await brokerEntry(decision.id))?.status === "new");
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "cancelled" });

    expect((await brokerEntry(decision.id))?.status).toBe("canceled");
    const notices = await noticesAbout(symbol);
    expect(notices.map((n) => n.kind)).toEqual(["ENTRY_SUBMITTED", "ORDER_CANCELED"]);
  });

  it("is told it came too late for an entry the broker filled before the cancel job ran", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    const handler = createOrderReportHandler(t.deps);
    const execute = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }));
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    // The trader presses cancel; the price reaches the limit before the job gets to the broker.
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    await waitFor(async () => (await brokerEntry(decision.id))?.status === "filled");

    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "too_late", tradeId });
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("POSITION");
    const notices = await noticesAbout(symbol);
    expect(notices.map((n) => n.kind)).toEqual([
      "ENTRY_SUBMITTED",
      "ORDER_FILLED",
      "ORDER_REJECTED",
    ]);
    expect(notices[2]).toMatchObject({
      decisionId: decision.id,
      tradeId,
      code: "CANCEL_TOO_LATE",
      reason:
        "the cancel came too late: the entry had filled 10 of 10 shares at the broker before it took hold; the position is held",
    });

    // A second press (the books now know the fill) tells nothing more.
    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "too_late", tradeId });
    expect(await noticesAbout(symbol)).toHaveLength(3);
  });

  it("is told once when it ends a slice of the entry that never reached the broker", async () => {
    const symbol = TEST_SYMBOLS[35] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).toMatchObject({
      outcome: "executed",
    });
    await waitFor(async () => (await brokerEntry(decision.id))?.status === "new");
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    // A further slice of the trade's entry, recorded and not sent: no decision job settles it.
    const at = t.deps.now();
    const slice = await insertOrder(
      t.db.db,
      {
        accountId: t.accountId,
        tradeId,
        order: createOrder(
          {
            clientOrderId: `${entryClientOrderId(decision.id)}-slice-2`,
            symbol,
            side: "buy",
            type: "limit",
            timeInForce: "day",
            orderClass: "simple",
            role: "SLICE",
            quantity: dec("5"),
            limitPrice: dec("100.05"),
            stopPrice: null,
          },
          at.toISOString(),
        ),
      },
      "test",
      at,
    );

    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "cancelled", tradeId });
    const orders = await listOrdersForTrade(t.db.db, tradeId);
    expect(orders.find((o) => o.id === slice.record.id)?.order.status).toBe("canceled");
    const notices = await noticesAbout(symbol);
    expect(notices.map((n) => [n.kind, n.role ?? null])).toEqual([
      ["ENTRY_SUBMITTED", null],
      ["ORDER_CANCELED", "ENTRY"],
      ["ORDER_CANCELED", "SLICE"],
    ]);
    expect(notices[2]).toMatchObject({
      tradeId,
      clientOrderId: slice.record.order.clientOrderId,
      filledQuantity: "0",
      reason: "cancelled before it reached the broker",
    });

    // A second press tells nothing more.
    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "cancelled", tradeId });
    expect(await noticesAbout(symbol)).toHaveLength(3);
  });
});
