/**
 * A native bracket entry the trader's cancel ended in the books while its send was in flight,
 * which the broker took and filled at once (a market entry): the broker's bracket legs then work
 * for the position. Run in this process (the execute, protect and reconcile processors called
 * directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import type { ExecutePayload } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-race-bracket");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

describe("CANCEL while a native bracket market entry's send is in flight", () => {
  it("takes the broker's legs as the trade's stop and target: one stop, nothing external", async () => {
    const symbol = TEST_SYMBOLS[36] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const decision = await t.decide({ symbol, entry: null, stop: "95.00", target: "110.00" });
    // The cancel ends the entry (and its legs) in the books before the broker has it; the broker
    // then takes the bracket and fills its entry at once, and the send's answer is lost.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        expect(request.orderClass).toBe("bracket");
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
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1))).toMatchObject(
      { outcome: "executed" },
    );
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    const tradeId = trade?.id ?? 0;

    // The broker's bracket legs are the trade's stop and target in the books.
    const atBroker = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    if (!atBroker.ok) throw new Error(atBroker.message);
    const brokerStop = atBroker.value.legs.find((leg) => leg.type === "stop");
    const brokerTarget = atBroker.value.legs.find((leg) => leg.type === "limit");
    const legs = (await listOrdersForTrade(t.db.db, tradeId)).filter(
      (o) => o.parentOrderId !== null,
    );
    const stop = legs.find((o) => o.order.role === "STOP_LOSS");
    const target = legs.find((o) => o.order.role === "TAKE_PROFIT");
    expect(stop?.order.brokerOrderId).toBe(brokerStop?.brokerOrderId);
    expect(target?.order.brokerOrderId).toBe(brokerTarget?.brokerOrderId);
    expect(stop?.order.status).toBe(brokerStop?.status);
    expect(stop?.order.status).not.toBe("canceled");

    // The protect job the late fill asked for finds the position covered and places nothing.
    const protect = createProtectProcessor(t.deps, { handler });
    expect(
      await protect.protectTrade(
        { accountId: t.accountId, tradeId, reason: "entry_fill", fillId: null },
        false,
      ),
    ).toMatchObject({ outcome: "covered", sent: 0 });
    const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: true });
    if (!open.ok) throw new Error(open.message);
    const workingStops = open.value
      .flatMap((o) => [o, ...o.legs])
      .filter((o) => o.type === "stop" && o.status !== "canceled");
    expect(workingStops.map((o) => o.brokerOrderId)).toEqual([brokerStop?.brokerOrderId]);

    // Reconciliation matches both legs: nothing external, no stop missing.
    const reconcile = createReconcileProcessor(t.deps, { handler });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).not.toContain("EXTERNAL_ORDER_FOUND");
    expect(result.actions).not.toContain("STOP_MISSING");
  });
});
