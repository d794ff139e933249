/**
 * Reconciliation of an order filled in part whose cancel the broker refused: pending_cancel in
 * the books, partially_filled at the broker, the fill missed. Run in this process against real
 * PostgreSQL and the simulator.
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
  t = await openLifecycle("reconcile-refused-partial");
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

async function toldRefusals(symbol: string) {
  const told = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
  return told
    .map((r) => r.payload)
    .filter((p) => p.symbol === symbol && p.incident === "ORDER_STATUS_SYNCED");
}

describe("a cancel the broker refused after a partial fill", () => {
  it("shows the order working, partly filled, and tells the refusal", async () => {
    const symbol = TEST_SYMBOLS[33] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "100.05",
      idPrefix: "refused-partial",
    });
    const requested = new Date(t.deps.now().getTime() - 10_000).toISOString();
    for (const event of ["new", "pending_cancel"] as const) {
      const applied = await applyOrderUpdate(
        t.db.db,
        { orderId: recorded.entry.id },
        { event, at: requested, brokerOrderId: brokerOrder.brokerOrderId },
        { source: "stream", recordedAt: t.deps.now() },
      );
      expect(applied.ok && applied.value.record.order.status).toBe(event);
    }
    // Four shares fill at the broker; the books miss it.
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
    const atBroker = await t.broker.getOrder(brokerOrder.brokerOrderId);
    expect(atBroker.ok && atBroker.value.status).toBe("partially_filled");

    expect(await reconcileNow()).toContain("ORDER_STATUS_SYNCED");

    const entry = await findOrderByClientOrderId(t.db.db, recorded.entry.order.clientOrderId);
    expect(entry?.order.status).toBe("partially_filled");
    expect(entry?.order.filledQuantity.toFixed()).toBe("4");
    expect(await toldRefusals(symbol)).toEqual([
      expect.objectContaining({
        detail: expect.stringContaining(
          "is still partially filled at the broker: its cancel was not carried out",
        ),
      }),
    ]);
    expect(await reconcileNow()).not.toContain("ORDER_STATUS_SYNCED");
    expect(await toldRefusals(symbol)).toHaveLength(1);
  });
});
