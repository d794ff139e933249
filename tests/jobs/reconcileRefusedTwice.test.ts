/**
 * Two cancels of one order, each refused by the broker (pending_cancel in the books, working at
 * the broker): each refusal is told, once. Run in this process against real PostgreSQL and the
 * simulator.
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
  t = await openLifecycle("reconcile-refused-twice");
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

describe("a second cancel of one order the broker refused", () => {
  it("is told too, and neither refusal twice", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "97.00",
      idPrefix: "refused-twice",
    });
    const clientOrderId = recorded.entry.order.clientOrderId;
    const apply = async (event: "new" | "pending_cancel", agoMs: number) => {
      const at = new Date(t.deps.now().getTime() - agoMs).toISOString();
      const applied = await applyOrderUpdate(
        t.db.db,
        { orderId: recorded.entry.id },
        { event, at, brokerOrderId: brokerOrder.brokerOrderId },
        { source: "stream", recordedAt: t.deps.now() },
      );
      expect(applied.ok && applied.value.record.order.status).toBe(event);
    };
    await apply("new", 30_000);
    await apply("pending_cancel", 20_000);
    expect(await reconcileNow()).toContain("ORDER_STATUS_SYNCED");
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
    expect(await toldRefusals(symbol)).toHaveLength(1);

    // The trader cancels again; the broker refuses again.
    await apply("pending_cancel", 10_000);
    expect(await reconcileNow()).toContain("ORDER_STATUS_SYNCED");
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
    expect(await toldRefusals(symbol)).toHaveLength(2);

    expect(await reconcileNow()).not.toContain("ORDER_STATUS_SYNCED");
    expect(await toldRefusals(symbol)).toHaveLength(2);
  });
});
