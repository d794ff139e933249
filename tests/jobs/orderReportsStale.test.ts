/**
 * A report older than what the books already hold (an order's "new" handled after its own fill,
 * as when the stream holder hands an event to the queue and the fill overtakes it) is old news:
 * dropped quietly, not flagged as a refused event; a report the books cannot be behind is still
 * flagged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../db/executionLog";
import { findOrderByClientOrderId } from "../../db/orders";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("order-reports-stale");
});
afterAll(async () => {
  await t?.close();
});

describe("order reports older than the books", () => {
  it("drops an entry's new handled after its fill without flagging it, and still flags a report that cannot be old", async () => {
    const symbol = TEST_SYMBOLS[29] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const executed = await executeDecision(t.deps, decision.id, handler);
    expect(executed).toMatchObject({ outcome: "executed" });
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    const clientOrderId = entryClientOrderId(decision.id);
    const filled = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(clientOrderId);
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    const report = brokerOrderToReport(filled, t.deps.now());
    await handler.handle(t.accountId, "stream", {
      ...report,
      event: "fill",
      executionId: `fill-${decision.id}`,
      price: "100",
      qty: "10",
    });
    const entry = await findOrderByClientOrderId(t.db.db, clientOrderId);
    expect(entry?.order.status).toBe("filled");

    // The entry's "new", as the broker sent it before the fill, handled only now.
    await handler.handle(t.accountId, "stream", {
      ...report,
      event: "new",
      executionId: null,
      price: null,
      qty: null,
      order: {
        ...report.order,
        status: "new",
        filledQty: "0",
        filledAvgPrice: null,
        filledAt: null,
        legs: report.order.legs.map((l) => ({ ...l, status: "held" })),
      },
    });
    const refused = async () =>
      (await readLog(t.db.db, { orderId: entry?.id ?? 0 })).filter(
        (e) => e.event === "EVENT_REFUSED",
      );
    expect(await refused()).toEqual([]);
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("filled");

    // "new" with all of it filled is no earlier moment of the order: still flagged.
    await handler.handle(t.accountId, "stream", {
      ...report,
      event: "new",
      executionId: null,
      price: null,
      qty: null,
      order: { ...report.order, status: "new" },
    });
    expect(await refused()).toHaveLength(1);
  });
});
