/**
 * Reconciliation of an order whose cancel the broker refused: pending_cancel in the books,
 * working at the broker. Run in this process against real PostgreSQL and the simulator.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findOrderByClientOrderId } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import type { JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-cancel-refused");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

describe("a cancel the broker refused", () => {
  it("restores the broker's working status in the books", async () => {
    const symbol = TEST_SYMBOLS[32] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "97.00",
      idPrefix: "refused-cancel",
    });
    const at = t.deps.now().toISOString();
    for (const event of ["new", "pending_cancel"] as const) {
      const applied = await applyOrderUpdate(
        t.db.db,
        { orderId: recorded.entry.id },
        { event, at, brokerOrderId: brokerOrder.brokerOrderId },
        { source: "stream", recordedAt: t.deps.now() },
      );
      expect(applied.ok && applied.value.record.order.status).toBe(event);
    }
    const atBroker = await t.broker.getOrder(brokerOrder.brokerOrderId);
    expect(atBroker.ok && atBroker.value.status).toBe("new");

    expect(await reconcileNow()).toContain("ORDER_STATUS_SYNCED");

    const entry = await findOrderByClientOrderId(t.db.db, recorded.entry.order.clientOrderId);
    expect(entry?.order.status).toBe("new");
    // The trader is told the cancel was not carried out.
    const told = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
    expect(
      told
        .map((r) => r.payload)
        .filter((p) => p.symbol === symbol && p.incident === "ORDER_STATUS_SYNCED"),
    ).toHaveLength(1);
    expect(await reconcileNow()).not.toContain("ORDER_STATUS_SYNCED");
  });
});
