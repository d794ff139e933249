/**
 * Reconciliation of a bracket whose legs the books hold while the broker has armed them (its
 * entry filled, the arming missed): the books take the broker's status. Run in this process
 * against real PostgreSQL and the simulator.
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
  t = await openLifecycle("reconcile-armed-legs");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

describe("a bracket's legs held in the books, armed at the broker", () => {
  it("take the broker's status", async () => {
    const symbol = TEST_SYMBOLS[35] as string;
    const handler = createOrderReportHandler(t.deps);
    const { decision, clientOrderId, filled } = await fillBracketAtBroker(t, handler, symbol);
    // The broker arms the target; the stop it holds until triggered.
    const atBroker = filled.legs.map((l) => l.status).sort();
    expect(atBroker).toEqual(["held", "new"]);
    // The fill as the stream told it, the legs still held then; their arming is missed.
    const report = brokerOrderToReport(filled, t.deps.now());
    await handler.handle(t.accountId, "stream", {
      ...report,
      event: "fill",
      executionId: `fill-${decision.id}`,
      price: "100",
      qty: "10",
      order: { ...report.order, legs: report.order.legs.map((l) => ({ ...l, status: "held" })) },
    });
    const entry = await findOrderByClientOrderId(t.db.db, clientOrderId);
    expect(entry?.order.status).toBe("filled");
    const legs = async () =>
      (await listChildOrders(t.db.db, entry?.id ?? 0)).map((l) => l.order.status).sort();
    expect(await legs()).toEqual(["held", "held"]);

    const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).toContain("ORDER_STATUS_SYNCED");
    expect(await legs()).toEqual(atBroker);

    // A cancel of the held stop the broker refused: the books show it held again, and say so.
    const stop = (await listChildOrders(t.db.db, entry?.id ?? 0)).find(
      (l) => l.order.role === "STOP_LOSS",
    );
    const cancelling = await applyOrderUpdate(
      t.db.db,
      { orderId: stop?.id ?? 0 },
      {
        event: "pending_cancel",
        at: new Date(t.deps.now().getTime() - 10_000).toISOString(),
        brokerOrderId: stop?.order.brokerOrderId ?? "",
      },
      { source: "stream", recordedAt: t.deps.now() },
    );
    expect(cancelling.ok && cancelling.value.record.order.status).toBe("pending_cancel");
    const again = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(again.actions).toContain("ORDER_STATUS_SYNCED");
    expect(await legs()).toEqual(atBroker);
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
