/**
 * An entry the trader's cancel ended in the books while its send was in flight, which the broker
 * took, and whose execute job then stopped for good: reconciliation settles the decision, and
 * must not leave the entry working at the broker against the trader's cancel. Run in this
 * process (the execute and reconcile processors called directly) against real PostgreSQL and
 * the simulator.
 */
import type { Job } from "bullmq";
import { and, eq, or, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findOrderByClientOrderId } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import type { JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import type { ExecutePayload } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { depsAhead, executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-cancelled-entry");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/** The outbox payloads of one kind about a decision or its trade. */
async function outboxOf(
  ids: { decisionId: number; tradeId: number },
  kind: string,
): Promise<Record<string, unknown>[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.kind, kind),
        or(
          sql`${notificationOutbox.payload}->>'decisionId' = ${String(ids.decisionId)}`,
          sql`${notificationOutbox.payload}->>'tradeId' = ${String(ids.tradeId)}`,
        ),
      ),
    );
  return rows.map((r) => r.payload);
}

/**
 * A limit entry the trader cancels while its send is on the way: the cancel ends it in the
 * books, the broker takes it (resting) and the answer is lost; the execute job then stops.
 */
async function cancelRacedEntry(
  symbol: string,
  limit: string | null = "97.00",
  target: string | null = null,
) {
  const handler = createOrderReportHandler(t.deps);
  const cancelling = createExecuteProcessor(t.deps, { handler });
  await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
  const decision = await t.decide({ symbol, entry: limit, stop: "92.00", target });
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
  await expect(
    executeDecision({ ...t.deps, brokerFor: async () => racing }, decision.id, handler),
  ).rejects.toThrow();
  expect((await findDecision(t.db.db, decision.id))?.status).toBe("executing");
  const entry = await findOrderByClientOrderId(t.db.db, entryClientOrderId(decision.id));
  expect(entry?.order.status).toBe("canceled");
  const atBroker = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
  if (!atBroker.ok) throw new Error(atBroker.message);
  expect(atBroker.value.status).toBe(limit === null ? "filled" : "new");
  return { decision, brokerOrderId: atBroker.value.brokerOrderId };
}

describe("a cancelled entry the broker took, its execute job gone", () => {
  it("is cancelled at the broker, the decision failed and the trader told it was cancelled", async () => {
    const symbol = TEST_SYMBOLS[12] as string;
    const { decision, brokerOrderId } = await cancelRacedEntry(symbol);
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const ids = { decisionId: decision.id, tradeId };

    expect(await reconcileNow()).toEqual(["ENTRY_CANCELED"]);

    const atBroker = await t.broker.getOrder(brokerOrderId);
    if (!atBroker.ok) throw new Error(atBroker.message);
    expect(atBroker.value.status).toBe("canceled");
    // The price reaching the entry's limit fills nothing.
    await t.sim.control("/sim/quotes", { symbol, bid: "96.00", ask: "96.02" });
    expect((await t.broker.getPosition(symbol)).ok).toBe(false);
    const settled = await findDecision(t.db.db, decision.id);
    expect(settled?.status).toBe("failed");
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("CANCELLED");
    // Never told the entry is working at the broker; told it was cancelled.
    expect(await outboxOf(ids, "ENTRY_SUBMITTED")).toEqual([]);
    expect(await outboxOf(ids, "ORDER_CANCELED")).toHaveLength(1);
    // A second run changes nothing.
    expect(await reconcileNow()).toEqual([]);
    expect(await outboxOf(ids, "ORDER_CANCELED")).toHaveLength(1);
  });

  it("settles an entry the broker filled first as a late fill: held, protected, CANCEL_TOO_LATE told", async () => {
    const symbol = TEST_SYMBOLS[13] as string;
    const { decision } = await cancelRacedEntry(symbol, null);
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const ids = { decisionId: decision.id, tradeId };

    expect(await reconcileNow()).toContain("CANCEL_TOO_LATE");

    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect(trade?.trade.entryQuantity.toFixed()).toBe("10");
    const told = await outboxOf(ids, "ORDER_REJECTED");
    expect(told.map((n) => n.code)).toEqual(["CANCEL_TOO_LATE"]);
    const protect = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    expect(protect.map((j) => j.data.tradeId)).toContain(tradeId);
  });

  it("tells CANCEL_REFUSED and keeps the entry working in the books when the broker refuses the cancel", async () => {
    const symbol = TEST_SYMBOLS[14] as string;
    const { decision, brokerOrderId } = await cancelRacedEntry(symbol);
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const ids = { decisionId: decision.id, tradeId };
    await t.sim.control("/sim/faults", {
      method: "DELETE",
      path: `/v2/orders/${brokerOrderId}`,
      status: 403,
      times: true,
    });
    try {
      expect(await reconcileNow()).toContain("CANCEL_REFUSED");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }

    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
    // Working in the books with the broker's id: /orders lists it and a halt cancels it.
    const entry = await findOrderByClientOrderId(t.db.db, entryClientOrderId(decision.id));
    expect(entry?.order.status).toBe("new");
    expect(entry?.order.brokerOrderId).toBe(brokerOrderId);
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");
    const told = await outboxOf(ids, "ORDER_REJECTED");
    expect(told.map((n) => n.code)).toEqual(["CANCEL_REFUSED"]);
  });

  it("keeps one set of exits for a native bracket entry the broker filled first", async () => {
    const symbol = TEST_SYMBOLS[18] as string;
    const { decision } = await cancelRacedEntry(symbol, null, "110.00");

    expect(await reconcileNow()).toContain("CANCEL_TOO_LATE");
    const protect = createProtectProcessor(later, { handler: createOrderReportHandler(later) });
    for (let round = 0; round < 5; round++) {
      const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
      if (jobs.length === 0) break;
      for (const job of jobs) {
        await protect(job as Job);
        await job.remove();
      }
    }
    await reconcileNow();

    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("POSITION");
    const open = await t.broker.listOrders({ status: "open", nested: false, limit: 500 });
    if (!open.ok) throw new Error(open.message);
    const stops = open.value.filter((o) => o.symbol === symbol && o.type === "stop");
    expect(stops.map((o) => o.qty?.toFixed())).toEqual(["10"]);
  });

  it("cancels at the broker an entry cancelled in the books before it arrived, whatever settled its decision", async () => {
    const symbol = TEST_SYMBOLS[20] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    // The entry was ended unsent in the books, and the broker took it all the same: no job is
    // left to carry the cancel there (its decision settled, by an earlier run or an older desk).
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "97.00",
      idPrefix: "ended",
    });
    const ended = await applyOrderUpdate(
      t.db.db,
      { orderId: recorded.entry.id },
      { event: "canceled", at: t.deps.now().toISOString() },
      { source: "local", recordedAt: t.deps.now() },
    );
    expect(ended.ok && ended.value.record.order.brokerOrderId).toBeNull();

    expect(await reconcileNow()).toContain("CANCELLED_ENTRY_WORKING");

    const atBroker = await t.broker.getOrder(brokerOrder.brokerOrderId);
    if (!atBroker.ok) throw new Error(atBroker.message);
    expect(atBroker.value.status).toBe("canceled");
    await t.sim.control("/sim/quotes", { symbol, bid: "96.00", ask: "96.02" });
    expect((await t.broker.getPosition(symbol)).ok).toBe(false);
    expect((await findTradeByDecision(t.db.db, recorded.trade.decisionId ?? 0))?.trade.status).toBe(
      "CANCELLED",
    );
    expect(await reconcileNow()).not.toContain("CANCELLED_ENTRY_WORKING");
  });
});
