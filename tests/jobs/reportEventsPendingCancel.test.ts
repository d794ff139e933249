/**
 * A poll of an order whose cancel the books just asked for, the broker still showing it working:
 * the books keep the cancel pending (the broker may show the old status for a moment after
 * accepting a cancel), while a refusal the stream reports restores the order at once. Against
 * real PostgreSQL and the simulator, the reports handed to the order-report handler.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findOrderByClientOrderId } from "../../db/orders";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { PENDING_CANCEL_GRACE_MS } from "../../jobs/reportEvents";
import { sendEntryUnheard } from "./entrySent";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("report-events-pending-cancel");
});
afterAll(async () => {
  await t?.close();
});

describe("a poll showing working an order whose cancel is pending", () => {
  it("keeps the cancel pending; the stream's refusal of it restores the order", async () => {
    const symbol = TEST_SYMBOLS[36] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "97.00",
      idPrefix: "poll-pending-cancel",
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
    const clientOrderId = recorded.entry.order.clientOrderId;
    const read = await t.broker.getOrder(brokerOrder.brokerOrderId);
    if (!read.ok) throw new Error(read.message);
    expect(read.value.status).toBe("new");

    // The poll reads the order as the broker showed it before the cancel got there.
    await handler.handle(t.accountId, "poll", brokerOrderToReport(read.value, t.deps.now()));
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe(
      "pending_cancel",
    );

    // The stream reports the broker's refusal: the order works again in the books at once.
    await handler.handle(t.accountId, "stream", {
      ...brokerOrderToReport(read.value, t.deps.now()),
      event: "order_cancel_rejected",
      at: t.deps.now().toISOString(),
    });
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
  });

  it("takes the working status once the grace has passed by the desk's clock, though the broker dated it before the request", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "97.00",
      idPrefix: "poll-pending-cancel-late",
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
    const clientOrderId = recorded.entry.order.clientOrderId;
    const read = await t.broker.getOrder(brokerOrder.brokerOrderId);
    if (!read.ok) throw new Error(read.message);
    // The broker's own time for the order is its acceptance, before the cancel was asked for.
    expect(read.value.updatedAt?.getTime()).toBeLessThanOrEqual(Date.parse(at));

    // The cancel never reached the broker: past the grace, the poll's reading is believed.
    const later = depsAhead(t, PENDING_CANCEL_GRACE_MS + 1_000);
    await createOrderReportHandler(later).handle(
      t.accountId,
      "poll",
      brokerOrderToReport(read.value, later.now()),
    );
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
  });
});
