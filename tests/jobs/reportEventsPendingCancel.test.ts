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

/**
 * A resting entry at the broker whose cancel the books have asked for (pending_cancel) while the
 * broker, which never heard of the cancel, still shows it new: its client order id, the broker's
 * reading of it and when the cancel was asked for.
 */
async function entryWithCancelPending(symbol: string, idPrefix: string) {
  await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
  const { recorded, brokerOrder } = await sendEntryUnheard(t, {
    symbol,
    quantity: "10",
    limit: "97.00",
    idPrefix,
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
  const read = await t.broker.getOrder(brokerOrder.brokerOrderId);
  if (!read.ok) throw new Error(read.message);
  expect(read.value.status).toBe("new");
  return { clientOrderId: recorded.entry.order.clientOrderId, read: read.value, at };
}

describe("a poll showing working an order whose cancel is pending", () => {
  it("keeps the cancel pending; the stream's refusal of it restores the order", async () => {
    const handler = createOrderReportHandler(t.deps);
    const { clientOrderId, read } = await entryWithCancelPending(
      TEST_SYMBOLS[36] as string,
      "poll-pending-cancel",
    );

    // The poll reads the order as the broker showed it before the cancel got there.
    await handler.handle(t.accountId, "poll", brokerOrderToReport(read, t.deps.now()));
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe(
      "pending_cancel",
    );

    // The stream reports the broker's refusal: the order works again in the books at once.
    await handler.handle(t.accountId, "stream", {
      ...brokerOrderToReport(read, t.deps.now()),
      event: "order_cancel_rejected",
      at: t.deps.now().toISOString(),
    });
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
  });

  it("takes the working status once the grace has passed by the desk's clock, though the broker dated it before the request", async () => {
    const { clientOrderId, read, at } = await entryWithCancelPending(
      TEST_SYMBOLS[37] as string,
      "poll-pending-cancel-late",
    );
    // The broker's own time for the order is its acceptance, before the cancel was asked for.
    expect(read.updatedAt?.getTime()).toBeLessThanOrEqual(Date.parse(at));

    // The cancel never reached the broker: past the grace, the poll's reading is believed.
    const later = depsAhead(t, PENDING_CANCEL_GRACE_MS + 1_000);
    await createOrderReportHandler(later).handle(
      t.accountId,
      "poll",
      brokerOrderToReport(read, later.now()),
    );
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("new");
  });
});
