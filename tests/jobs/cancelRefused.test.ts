/**
 * A trader's cancel the broker refuses for good (403: the account restricted, the key lacking
 * the right) while the entry still works there: the trader must hear that the entry can still
 * fill, never that it was cancelled. Run in this process (the execute processor called directly)
 * against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-refused");
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

/** Every cancel of `brokerOrderId` answered 403 until the faults are cleared. */
async function refuseCancels(brokerOrderId: string): Promise<void> {
  await t.sim.control("/sim/faults", {
    method: "DELETE",
    path: `/v2/orders/${brokerOrderId}`,
    status: 403,
    times: true,
  });
}

describe("a trader's cancel the broker refuses", () => {
  it("tells that the entry still works when the broker refuses to cancel an entry that arrived after the cancel", async () => {
    const symbol = TEST_SYMBOLS[36] as string;
    const handler = createOrderReportHandler(t.deps);
    const cancelling = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    // The trader's cancel ends the entry in the books while its send is on the way; the broker
    // takes it, and refuses every cancel of it from then on.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
        await cancelling(cancelJob(tradeId));
        const submitted = await t.broker.submitOrder(request, options);
        if (submitted.ok) await refuseCancels(submitted.value.brokerOrderId);
        return submitted;
      },
    };
    const execute = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    try {
      expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).toMatchObject({
        outcome: "executed",
        decisionId: decision.id,
      });

      expect((await brokerEntry(decision.id))?.status).toBe("new");
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
      const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
      const notices = await noticesAbout(symbol);
      expect(notices.map((n) => n.kind)).toEqual(["ENTRY_SUBMITTED", "ORDER_REJECTED"]);
      expect(notices[1]).toMatchObject({
        decisionId: decision.id,
        tradeId,
        code: "CANCEL_REFUSED",
      });
      expect(notices[1]?.reason).toBe(
        "the broker refused the cancel (forbidden): the entry is still working at the broker and can fill",
      );
      // The books show the entry working with the broker's id, the trade ordered, as the broker
      // has them: /orders lists it and a halt's sweep cancels it.
      const [entry] = await listOrdersForTrade(t.db.db, tradeId);
      expect(entry?.order).toMatchObject({
        status: "new",
        brokerOrderId: (await brokerEntry(decision.id))?.brokerOrderId,
      });
      expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    const swept = await createKillSwitch(t.deps, handler).cancelWorkingEntries(t.accountId);
    expect(swept.cancelled).toContain(entryClientOrderId(decision.id));
    expect((await brokerEntry(decision.id))?.status).toBe("canceled");
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const [entry] = await listOrdersForTrade(t.db.db, tradeId);
    expect(entry?.order.status).toBe("canceled");
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("CANCELLED");
  });

  it("tells that the entry still works when the broker refuses to cancel a working entry", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }));
    await waitFor(async () => (await brokerEntry(decision.id))?.status === "new");
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const brokerOrderId = (await brokerEntry(decision.id))?.brokerOrderId ?? "";
    await refuseCancels(brokerOrderId);
    try {
      const press = { ...cancelJob(tradeId), id: "press-1" } as Job;
      expect(await execute(press)).toMatchObject({ outcome: "cancel_refused", tradeId });

      expect((await brokerEntry(decision.id))?.status).toBe("new");
      const [entry] = await listOrdersForTrade(t.db.db, tradeId);
      expect(entry?.order.status).toBe("new");
      const notices = await noticesAbout(symbol);
      expect(notices.map((n) => n.kind)).toEqual(["ENTRY_SUBMITTED", "ORDER_REJECTED"]);
      expect(notices[1]).toMatchObject({
        decisionId: decision.id,
        tradeId,
        code: "CANCEL_REFUSED",
        reason:
          "the broker refused the cancel (forbidden): the entry is still working at the broker and can fill",
      });
      // The same press run again tells nothing more.
      await execute(press);
      expect(await noticesAbout(symbol)).toHaveLength(2);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    // Once the broker takes the cancel, the next press cancels it and tells so.
    expect(await execute(cancelJob(tradeId))).toMatchObject({ outcome: "cancelled", tradeId });
    expect((await noticesAbout(symbol)).map((n) => n.kind)).toEqual([
      "ENTRY_SUBMITTED",
      "ORDER_REJECTED",
      "ORDER_CANCELED",
    ]);
  });

  it("fails an amendment whose cancel of the old entry the broker refuses, telling the trader", async () => {
    const symbol = TEST_SYMBOLS[33] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: old.id }));
    await waitFor(async () => (await brokerEntry(old.id))?.status === "new");
    const oldTradeId = (await findTradeByDecision(t.db.db, old.id))?.id ?? 0;
    await refuseCancels((await brokerEntry(old.id))?.brokerOrderId ?? "");
    try {
      const amended = await t.decide({ symbol, entry: "99.50", quantity: "10" });
      const amend = jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTradeId });
      expect(await execute(amend)).toMatchObject({
        outcome: "refused",
        decisionId: amended.id,
        codes: ["CANCEL_REFUSED"],
      });

      // The old entry works on; the amended one was never sent.
      expect((await brokerEntry(old.id))?.status).toBe("new");
      expect(await brokerEntry(amended.id)).toBeNull();
      const decision = await findDecision(t.db.db, amended.id);
      expect(decision?.status).toBe("failed");
      expect(decision?.statusReason).toContain("CANCEL_REFUSED");
      const notices = await noticesAbout(symbol);
      expect(notices.map((n) => n.kind)).toEqual(["ENTRY_SUBMITTED", "ORDER_REJECTED"]);
      expect(notices[1]).toMatchObject({
        decisionId: amended.id,
        tradeId: oldTradeId,
        code: "CANCEL_REFUSED",
        reason:
          "the broker refused the cancel (forbidden): the entry is still working at the broker and can fill; the amendment was not made",
      });
      // Run again, it tells nothing more and sends nothing.
      await execute(amend);
      expect(await noticesAbout(symbol)).toHaveLength(2);
      expect(await brokerEntry(amended.id)).toBeNull();
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
      const left = await brokerEntry(old.id);
      if (left) await t.broker.cancelOrder(left.brokerOrderId);
    }
  });
});
