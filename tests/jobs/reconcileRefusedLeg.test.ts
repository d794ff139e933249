/**
 * Reconciliation of a bracket's target leg filled in part whose cancel the broker refused:
 * pending_cancel in the books, partially_filled at the broker, the fill missed. Run in this
 * process against real PostgreSQL and the simulator.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listChildOrders } from "../../db/lifecycleQueries";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findOrderByClientOrderId } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import type { JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { fillBracketAtBroker } from "./bracketFilled";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-refused-leg");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

describe("a bracket's target filled in part, its cancel refused", () => {
  it("shows the target working, partly filled", async () => {
    const symbol = TEST_SYMBOLS[36] as string;
    const handler = createOrderReportHandler(t.deps);
    const { clientOrderId, filled } = await fillBracketAtBroker(t, handler, symbol);
    await handler.handle(t.accountId, "poll", brokerOrderToReport(filled, t.deps.now()));
    const entry = await findOrderByClientOrderId(t.db.db, clientOrderId);
    expect(entry?.order.status).toBe("filled");
    const target = async () =>
      (await listChildOrders(t.db.db, entry?.id ?? 0)).find((l) => l.order.role === "TAKE_PROFIT");
    const before = await target();
    expect(before?.order.status).toBe("new");

    // The trader's cancel of the target is pending; the broker fills 4 of it and keeps it.
    const cancelling = await applyOrderUpdate(
      t.db.db,
      { orderId: before?.id ?? 0 },
      {
        event: "pending_cancel",
        at: new Date(t.deps.now().getTime() - 10_000).toISOString(),
        brokerOrderId: before?.order.brokerOrderId ?? "",
      },
      { source: "stream", recordedAt: t.deps.now() },
    );
    expect(cancelling.ok && cancelling.value.record.order.status).toBe("pending_cancel");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    await t.sim.control("/sim/quotes", { symbol, path: ["110.00", "109.00"] });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
    const atBroker = await t.broker.getOrder(before?.order.brokerOrderId ?? "");
    expect(atBroker.ok && atBroker.value.status).toBe("partially_filled");

    const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).toContain("ORDER_STATUS_SYNCED");
    const after = await target();
    expect(after?.order.status).toBe("partially_filled");
    expect(after?.order.filledQuantity.toFixed()).toBe("4");
    const told = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
    expect(
      told
        .map((r) => r.payload)
        .filter((p) => p.symbol === symbol && p.incident === "ORDER_STATUS_SYNCED"),
    ).toHaveLength(1);
  });
});
