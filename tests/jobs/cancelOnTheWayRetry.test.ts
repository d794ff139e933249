/**
 * The retry of an execute job whose entry the trader's cancel ended in the books while its send
 * was on the way, after the broker took it, took the job's cancel and confirmed it only later,
 * the stream storing that confirmation (and the broker's id) meanwhile: the decision must end as
 * cancelled, and the trader never be told the entry was submitted. Run in this process (the
 * execute processor called directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-on-the-way-retry");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

describe("the retry after the broker confirmed the cancel of an entry that arrived after it", () => {
  it("fails the decision as cancelled and tells no submission", async () => {
    const symbol = TEST_SYMBOLS[25] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "Cancelled from /orders",
            requestedBy: "user:1",
          }),
        );
        const sent = await t.broker.submitOrder(request, options);
        // The broker takes the job's cancel but confirms it only later.
        await t.sim.control("/sim/faults", { holdCancels: true });
        return sent;
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    try {
      await expect(
        execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id })),
      ).rejects.toThrow(/not confirmed yet/);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    if (!found.ok) throw new Error(found.message);
    expect(found.value.status).toBe("canceled");
    // The stream's report of the cancel is stored before the job's retry.
    await handler.handle(t.accountId, "stream", brokerOrderToReport(found.value, t.deps.now()));
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const [entry] = await listOrdersForTrade(t.db.db, tradeId);
    expect(entry?.order).toMatchObject({
      status: "canceled",
      brokerOrderId: found.value.brokerOrderId,
    });

    const retried = await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));
    expect(retried).not.toMatchObject({ outcome: "executed" });
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
    const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
    const kinds = rows.filter((row) => row.payload.symbol === symbol).map((row) => row.kind);
    expect(kinds).toEqual(["ORDER_CANCELED"]);
  });

  it("tells the cancel came too late when the stream stored the fill of the entry before the retry", async () => {
    const symbol = TEST_SYMBOLS[26] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const decision = await t.decide({ symbol, entry: null, quantity: "10" });
    // The trader's cancel ends the market entry in the books on its way; the broker fills it at
    // once and the answer is lost.
    let raced = false;
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (raced) return t.broker.submitOrder(request, options);
        raced = true;
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "Cancelled from /orders",
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
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    if (!found.ok) throw new Error(found.message);
    expect(found.value.status).toBe("filled");
    // The stream's report of the fill is stored before the job's retry.
    await handler.handle(t.accountId, "stream", brokerOrderToReport(found.value, t.deps.now()));

    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1))).toMatchObject(
      { outcome: "executed", decisionId: decision.id },
    );
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
    const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
    const notices = rows
      .filter((row) => row.payload.symbol === symbol)
      .map((row) => ({ kind: row.kind, ...row.payload }) as Record<string, unknown>);
    expect(notices.map((n) => n.kind).sort()).toEqual([
      "ENTRY_SUBMITTED",
      "ORDER_FILLED",
      "ORDER_REJECTED",
    ]);
    expect(notices.find((n) => n.kind === "ORDER_REJECTED")).toMatchObject({
      decisionId: decision.id,
      code: "CANCEL_TOO_LATE",
    });
  });

  it("carries out the trader's cancel on the retry when the venue refused the job's first cancel", async () => {
    const symbol = TEST_SYMBOLS[27] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    // The trader's cancel ends the entry in the books on its way; the broker takes it, takes the
    // job's cancel (pending_cancel) and then its venue refuses it: the entry works on, and the
    // stream reports order_cancel_rejected.
    let raced = false;
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (raced) return t.broker.submitOrder(request, options);
        raced = true;
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(
          jobOf({
            action: "CANCEL",
            accountId: t.accountId,
            tradeId,
            reason: "Cancelled from /orders",
            requestedBy: "user:1",
          }),
        );
        return t.broker.submitOrder(request, options);
      },
      async cancelOrder(brokerOrderId) {
        return { ok: true, value: { brokerOrderId } };
      },
      async getOrder(brokerOrderId) {
        const found = await t.broker.getOrder(brokerOrderId);
        return found.ok ? { ok: true, value: { ...found.value, status: "pending_cancel" } } : found;
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    await expect(execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).rejects.toThrow(
      /not confirmed yet/,
    );
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    if (!found.ok) throw new Error(found.message);
    expect(found.value.status).toBe("new");
    await handler.handle(t.accountId, "stream", {
      ...brokerOrderToReport(found.value, t.deps.now()),
      event: "order_cancel_rejected",
    });
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const [revived] = await listOrdersForTrade(t.db.db, tradeId);
    expect(revived?.order.status).not.toBe("canceled");

    // The retry, the broker answering as it is, cancels it there: the trader's cancel holds.
    const retried = await createExecuteProcessor(t.deps, { handler })(
      jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1),
    );
    expect(retried).not.toMatchObject({ outcome: "executed" });
    const after = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    expect(after.ok && after.value.status).toBe("canceled");
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
    const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
    const kinds = rows.filter((row) => row.payload.symbol === symbol).map((row) => row.kind);
    expect(kinds).toEqual(["ORDER_CANCELED"]);
  });
});
