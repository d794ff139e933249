import { describe, expect, it } from "vitest";
import type { Order, OrderEvent } from "../../domain/order";
import { applyOrderEvent, type OrderEventApplied } from "../../domain/orderStateMachine";
import { fillEvent, newOrder } from "../support/orderFixtures";

const AT = "2026-03-02T14:40:00Z";

function apply(order: Order, event: OrderEvent): OrderEventApplied {
  const outcome = applyOrderEvent(order, event);
  if (!outcome.ok) throw new Error(`refused: ${outcome.code} ${outcome.message}`);
  return outcome.value;
}

/** An entry the books ended unsent, then told of a fill the broker made of it (with its id). */
function endedThenFilled(quantity = "4"): Order {
  const ended = apply(newOrder({}), { event: "canceled", at: AT }).order;
  return apply(ended, { ...fillEvent("x1", quantity, "190"), brokerOrderId: "b-1" }).order;
}

describe("an entry ended unsent that filled in part before the broker refused its cancel", () => {
  it("takes the refusal as working, partly filled, keeping its fill once", () => {
    const late = endedThenFilled();
    expect(late).toMatchObject({ status: "canceled", brokerOrderId: "b-1" });
    const revived = apply(late, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" });
    expect(revived).toMatchObject({ changed: true, note: "REVIVED", fill: null });
    expect(revived.order).toMatchObject({
      status: "partially_filled",
      brokerOrderId: "b-1",
      statusBeforePending: null,
      appliedExecutionIds: ["x1"],
    });
    expect(revived.order.filledQuantity.toFixed()).toBe("4");
    // It works again: the rest fills it, a cancel ends it.
    const rest = apply(revived.order, { ...fillEvent("x2", "6", "190"), brokerOrderId: "b-1" });
    expect(rest.order.status).toBe("filled");
    expect(rest.note).toBe("APPLIED");
    expect(
      apply(revived.order, { event: "canceled", at: AT, brokerOrderId: "b-1" }).order.status,
    ).toBe("canceled");
  });

  it("is revived also when no broker id reached the books before the refusal", () => {
    const ended = apply(newOrder({}), { event: "canceled", at: AT }).order;
    const filled = apply(ended, fillEvent("x1", "4", "190")).order;
    const revived = apply(filled, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" });
    expect(revived.order).toMatchObject({ status: "partially_filled", brokerOrderId: "b-1" });
  });

  it("revives nothing on another broker order's refusal, nor on a status report", () => {
    const late = endedThenFilled();
    expect(
      applyOrderEvent(late, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-2" }),
    ).toMatchObject({ ok: false, code: "BROKER_ORDER_ID_MISMATCH" });
    expect(applyOrderEvent(late, { event: "new", at: AT, brokerOrderId: "b-1" })).toMatchObject({
      ok: false,
      code: "ILLEGAL_TRANSITION",
    });
  });

  it("leaves an exit or an entry the broker canceled with nothing filled as it is", () => {
    const acknowledged = [
      { event: "new", at: AT, brokerOrderId: "b-1" },
      { event: "canceled", at: AT, brokerOrderId: "b-1" },
    ] as const;
    const entry = acknowledged.reduce((o, e) => apply(o, e).order, newOrder({}));
    expect(
      apply(entry, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" }),
    ).toMatchObject({ changed: false, note: "NO_PENDING_REQUEST" });
    const stop = newOrder({ role: "STOP_LOSS", side: "sell", type: "stop" });
    const filledStop = [
      { event: "new", at: AT, brokerOrderId: "b-1" } as const,
      { ...fillEvent("x1", "4", "190"), brokerOrderId: "b-1" },
      { event: "canceled", at: AT, brokerOrderId: "b-1" } as const,
    ].reduce((o: Order, e: OrderEvent) => apply(o, e).order, stop);
    expect(
      apply(filledStop, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" }).order
        .status,
    ).toBe("canceled");
  });
});
