import { describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import type { Order, OrderEvent } from "../../domain/order";
import {
  applyOrderEvent,
  canTransition,
  isPendingRequest,
  isTerminal,
  isWorking,
  type OrderEventApplied,
  type OrderEventRefusal,
  remainingQuantity,
} from "../../domain/orderStateMachine";
import { fillEvent, newOrder } from "../support/orderFixtures";

const AT = "2026-03-02T14:40:00Z";

/** Applies an event that must be accepted. */
function apply(order: Order, event: OrderEvent): OrderEventApplied {
  const outcome = applyOrderEvent(order, event);
  if (!outcome.ok) throw new Error(`refused: ${outcome.code} ${outcome.message}`);
  return outcome.value;
}

/** Applies events in turn, each of which must be accepted. */
function applyAll(order: Order, events: readonly OrderEvent[]): Order {
  return events.reduce((o, e) => apply(o, e).order, order);
}

/** Applies an event that must be refused. */
function refused(order: Order, event: OrderEvent): OrderEventRefusal {
  const outcome = applyOrderEvent(order, event);
  if (outcome.ok) throw new Error(`accepted: ${outcome.value.order.status}`);
  return outcome;
}

const acked = (o = newOrder()) => applyAll(o, [{ event: "new", at: AT, brokerOrderId: "b-1" }]);

describe("acknowledgement", () => {
  it("records the broker order id on the first event that carries it", () => {
    const order = newOrder();
    const r = apply(order, { event: "pending_new", at: AT, brokerOrderId: "b-1" });
    expect(r.changed).toBe(true);
    expect(r.order.status).toBe("pending_new");
    expect(r.order.brokerOrderId).toBe("b-1");
    expect(r.order.updatedAt).toBe(AT);
    const n = apply(r.order, { event: "new", at: AT, brokerOrderId: "b-1" });
    expect(n.order.status).toBe("new");
  });

  it("refuses an event naming another broker order", () => {
    const r = refused(acked(), { event: "canceled", at: AT, brokerOrderId: "b-2" });
    expect(r.code).toBe("BROKER_ORDER_ID_MISMATCH");
  });

  it("walks accepted -> pending_new -> new", () => {
    const o = applyAll(newOrder(), [
      { event: "accepted", at: AT },
      { event: "pending_new", at: AT },
      { event: "new", at: AT },
    ]);
    expect(o.status).toBe("new");
  });
});

describe("fills", () => {
  it("moves to partially_filled, then filled by cumulative quantity, with an exact average price", () => {
    const o1 = apply(acked(), fillEvent("x1", "3", "190.00"));
    expect(o1.order.status).toBe("partially_filled");
    expect(o1.fill?.executionId).toBe("x1");
    expect(o1.note).toBe("APPLIED");
    const o2 = apply(o1.order, fillEvent("x2", "3", "190.01")).order;
    expect(o2.status).toBe("partially_filled");
    expect(o2.filledQuantity.toString()).toBe("6");
    const o3 = apply(o2, fillEvent("x3", "4", "190.02")).order;
    expect(o3.status).toBe("filled");
    expect(o3.filledQuantity.toString()).toBe("10");
    // (3*190 + 3*190.01 + 4*190.02) / 10 = 1900.11 / 10
    expect(o3.filledNotional.toString()).toBe("1900.11");
    expect(o3.averageFillPrice?.toString()).toBe("190.011");
    expect(o3.appliedExecutionIds).toEqual(["x1", "x2", "x3"]);
    expect(remainingQuantity(o3).isZero()).toBe(true);
  });

  it("decides the status by quantity, not by the event's name", () => {
    const partialNamedFill = apply(acked(), { ...fillEvent("x1", "4", "190"), event: "fill" });
    expect(partialNamedFill.order.status).toBe("partially_filled");
    const fullNamedPartial = apply(acked(), fillEvent("x1", "10", "190"));
    expect(fullNamedPartial.order.status).toBe("filled");
  });

  it("keeps the average exact over many fills with a repeating quotient", () => {
    let o = acked(newOrder({ quantity: dec("3") }));
    o = apply(o, fillEvent("x1", "1", "10")).order;
    o = apply(o, fillEvent("x2", "1", "10")).order;
    o = apply(o, fillEvent("x3", "1", "11")).order;
    expect(o.filledNotional.toString()).toBe("31");
    expect(o.averageFillPrice?.times(3).toDecimalPlaces(30).toString()).toBe("31");
  });

  it("ignores a duplicate execution id, even on a filled order", () => {
    const o = apply(acked(), fillEvent("x1", "4", "190")).order;
    const dup = apply(o, fillEvent("x1", "4", "190"));
    expect(dup.changed).toBe(false);
    expect(dup.note).toBe("DUPLICATE_EXECUTION");
    expect(dup.order).toBe(o);
    expect(dup.fill).toBeNull();
    const full = apply(o, fillEvent("x2", "6", "190")).order;
    const dupOnFilled = apply(full, fillEvent("x2", "6", "190"));
    expect(dupOnFilled.changed).toBe(false);
    expect(dupOnFilled.order).toBe(full);
  });

  it("refuses an overfill and leaves the order as it was", () => {
    const o = apply(acked(), fillEvent("x1", "8", "190")).order;
    const r = refused(o, fillEvent("x2", "3", "190"));
    expect(r.code).toBe("OVERFILL");
    expect(r.from).toBe("partially_filled");
    expect(o.filledQuantity.toString()).toBe("8");
  });

  it("refuses a new execution on a filled order", () => {
    const o = apply(acked(), fillEvent("x1", "10", "190")).order;
    const r = refused(o, fillEvent("x2", "1", "190"));
    expect(r.code).toBe("ILLEGAL_TRANSITION");
    expect(r.from).toBe("filled");
  });

  it("refuses fills with a non-positive quantity or price", () => {
    expect(refused(acked(), fillEvent("x1", "0", "190")).code).toBe("INVALID_FILL");
    expect(refused(acked(), fillEvent("x1", "-1", "190")).code).toBe("INVALID_FILL");
    expect(refused(acked(), fillEvent("x1", "1", "0")).code).toBe("INVALID_FILL");
  });

  it("handles fractional quantities exactly", () => {
    let o = acked(newOrder({ quantity: dec("0.75") }));
    o = apply(o, fillEvent("x1", "0.1", "190.10")).order;
    o = apply(o, fillEvent("x2", "0.2", "190.20")).order;
    expect(o.filledQuantity.toString()).toBe("0.3");
    expect(remainingQuantity(o).toString()).toBe("0.45");
    expect(refused(o, fillEvent("x3", "0.450000001", "190")).code).toBe("OVERFILL");
    o = apply(o, fillEvent("x3", "0.45", "190.30")).order;
    expect(o.status).toBe("filled");
    // 0.1*190.10 + 0.2*190.20 + 0.45*190.30 = 19.01 + 38.04 + 85.635 = 142.685
    expect(o.filledNotional.toString()).toBe("142.685");
    expect(o.averageFillPrice?.toString()).toBe(dec("142.685").div("0.75").toString());
  });

  it("fills a bracket leg whose activation event was missed", () => {
    const leg = newOrder({ role: "STOP_LOSS", side: "sell", type: "stop" }, "held");
    expect(apply(leg, fillEvent("x1", "10", "184.50")).order.status).toBe("filled");
  });
});

describe("cancel", () => {
  it("cancels a partially filled order and keeps its fills", () => {
    const o = applyAll(acked(), [
      fillEvent("x1", "4", "190"),
      { event: "pending_cancel", at: AT },
      { event: "canceled", at: AT },
    ]);
    expect(o.status).toBe("canceled");
    expect(o.statusBeforePending).toBeNull();
    expect(o.filledQuantity.toString()).toBe("4");
    expect(isTerminal(o.status)).toBe(true);
  });

  it("accepts a late partial fill after the cancel and stays canceled", () => {
    const o = applyAll(acked(), [fillEvent("x1", "4", "190"), { event: "canceled", at: AT }]);
    const late = apply(o, fillEvent("x2", "2", "191"));
    expect(late.changed).toBe(true);
    expect(late.note).toBe("LATE_FILL");
    expect(late.fill?.quantity.toString()).toBe("2");
    expect(late.order.status).toBe("canceled");
    expect(late.order.filledQuantity.toString()).toBe("6");
    expect(late.order.averageFillPrice?.toString()).toBe(dec("1142").div(6).toString());
  });

  it("lets a late fill that completes the order make it filled", () => {
    const o = applyAll(acked(), [fillEvent("x1", "4", "190"), { event: "canceled", at: AT }]);
    const late = apply(o, fillEvent("x2", "6", "190"));
    expect(late.order.status).toBe("filled");
    expect(late.note).toBe("LATE_FILL");
  });

  it.each([
    ["expired", { event: "expired", at: AT }],
    ["rejected", { event: "rejected", at: AT, reason: "never reached the broker" }],
    ["denied", { event: "denied", at: AT, reason: "never sent" }],
  ] as const)(
    "takes a late fill on an order the books ended %s, as after a cancel",
    (_, ending) => {
      const base = ending.event === "denied" ? newOrder() : acked();
      const ended = apply(base, ending).order;
      const partly = apply(ended, fillEvent("x1", "4", "190"));
      expect(partly.note).toBe("LATE_FILL");
      expect(partly.fill?.quantity.toString()).toBe("4");
      expect(partly.order.status).toBe(ended.status);
      expect(partly.order.filledQuantity.toString()).toBe("4");
      const whole = apply(partly.order, fillEvent("x2", "6", "191"));
      expect(whole.note).toBe("LATE_FILL");
      expect(whole.order.status).toBe("filled");
      expect(apply(whole.order, fillEvent("x2", "6", "191")).note).toBe("DUPLICATE_EXECUTION");
      expect(refused(ended, fillEvent("x3", "11", "190")).code).toBe("OVERFILL");
    },
  );

  it("still refuses a late overfill after a cancel", () => {
    const o = applyAll(acked(), [{ event: "canceled", at: AT }]);
    expect(refused(o, fillEvent("x1", "11", "190")).code).toBe("OVERFILL");
  });

  it("restores the status before the request when the cancel is rejected", () => {
    const pending = applyAll(acked(), [{ event: "pending_cancel", at: AT }]);
    expect(pending.status).toBe("pending_cancel");
    expect(pending.statusBeforePending).toBe("new");
    const restored = apply(pending, { event: "order_cancel_rejected", at: AT }).order;
    expect(restored.status).toBe("new");
    expect(restored.statusBeforePending).toBeNull();
  });

  it("restores partially_filled when a fill arrives while the cancel is pending", () => {
    const pending = applyAll(acked(), [{ event: "pending_cancel", at: AT }]);
    const filled = apply(pending, fillEvent("x1", "4", "190")).order;
    expect(filled.status).toBe("pending_cancel");
    expect(filled.statusBeforePending).toBe("partially_filled");
    expect(filled.filledQuantity.toString()).toBe("4");
    const restored = apply(filled, { event: "order_cancel_rejected", at: AT }).order;
    expect(restored.status).toBe("partially_filled");
  });

  it("lets a fill that completes the order win over a pending cancel", () => {
    const pending = applyAll(acked(), [{ event: "pending_cancel", at: AT }]);
    const filled = apply(pending, fillEvent("x1", "10", "190")).order;
    expect(filled.status).toBe("filled");
    expect(filled.statusBeforePending).toBeNull();
    // The broker then rejects the cancel: the expected tail of the race, nothing to change.
    const tail = apply(filled, { event: "order_cancel_rejected", at: AT });
    expect(tail.changed).toBe(false);
    expect(tail.note).toBe("NO_PENDING_REQUEST");
  });

  it("restores from what the fills say when the status before the request is unknown", () => {
    const loaded: Order = {
      ...acked(),
      status: "pending_cancel",
      statusBeforePending: null,
      filledQuantity: dec("2"),
    };
    expect(apply(loaded, { event: "order_cancel_rejected", at: AT }).order.status).toBe(
      "partially_filled",
    );
    const unfilled: Order = { ...acked(), status: "pending_cancel", statusBeforePending: null };
    expect(apply(unfilled, { event: "order_cancel_rejected", at: AT }).order.status).toBe("new");
  });

  it("cancels a held bracket leg", () => {
    const leg = newOrder({ role: "TAKE_PROFIT", side: "sell" }, "held");
    expect(apply(leg, { event: "canceled", at: AT }).order.status).toBe("canceled");
  });

  it("revives a bracket leg ended unsent once the broker reports it, taking its status and id", () => {
    const stop = newOrder(
      {
        role: "STOP_LOSS",
        side: "sell",
        type: "stop",
        orderClass: "bracket",
        stopPrice: dec("95"),
      },
      "held",
    );
    const ended = apply(stop, { event: "canceled", at: AT }).order;
    const revived = apply(ended, { event: "new", at: AT, brokerOrderId: "leg-1" });
    expect(revived).toMatchObject({ changed: true, note: "REVIVED" });
    expect(revived.order).toMatchObject({ status: "new", brokerOrderId: "leg-1" });
    const held = apply(ended, { event: "held", at: AT, brokerOrderId: "leg-1" });
    expect(held.order).toMatchObject({ status: "held", brokerOrderId: "leg-1" });
    const filled = apply(ended, { ...fillEvent("x1", "10", "95"), brokerOrderId: "leg-1" });
    expect(filled.order.status).toBe("filled");
    // Reported canceled there too: it stays canceled, with the broker's id.
    const cancelled = apply(ended, { event: "canceled", at: AT, brokerOrderId: "leg-1" });
    expect(cancelled.order).toMatchObject({ status: "canceled", brokerOrderId: "leg-1" });
  });

  it("revives a bracket leg ended rejected as never sent once the broker reports it", () => {
    const target = newOrder(
      { role: "TAKE_PROFIT", side: "sell", orderClass: "bracket", limitPrice: dec("110") },
      "held",
    );
    const ended = apply(target, {
      event: "rejected",
      at: AT,
      reason: "never reached the broker",
    }).order;
    const revived = apply(ended, { event: "new", at: AT, brokerOrderId: "leg-2" });
    expect(revived).toMatchObject({ changed: true, note: "REVIVED" });
    expect(revived.order).toMatchObject({ status: "new", brokerOrderId: "leg-2" });
    expect(apply(ended, { event: "held", at: AT, brokerOrderId: "leg-2" }).order.status).toBe(
      "held",
    );
    // Ended at the broker too: it takes that end, with the broker's id.
    expect(apply(ended, { event: "canceled", at: AT, brokerOrderId: "leg-2" }).order).toMatchObject(
      { status: "canceled", brokerOrderId: "leg-2" },
    );
    expect(
      apply(ended, { event: "rejected", at: AT, reason: "x", brokerOrderId: "leg-2" }).order,
    ).toMatchObject({ status: "rejected", brokerOrderId: "leg-2" });
    // Without the broker's id nothing proves it reached the broker.
    expect(refused(ended, { event: "new", at: AT }).code).toBe("ILLEGAL_TRANSITION");
  });

  it("revives an entry ended unsent once the broker refuses to cancel it, and only then", () => {
    const ended = apply(newOrder({}), { event: "canceled", at: AT }).order;
    const revived = apply(ended, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" });
    expect(revived).toMatchObject({ changed: true, note: "REVIVED" });
    expect(revived.order).toMatchObject({ status: "pending_new", brokerOrderId: "b-1" });
    // From there the broker's report of it leads to the status it has there.
    expect(apply(revived.order, { event: "accepted", at: AT }).order.status).toBe("accepted");
    expect(apply(revived.order, { event: "new", at: AT }).order.status).toBe("new");
    // The broker merely reporting it working is the cue to cancel it there: refused as before.
    expect(refused(ended, { event: "new", at: AT, brokerOrderId: "b-1" }).code).toBe(
      "ILLEGAL_TRANSITION",
    );
    // Without the broker's id, or once acknowledged, a rejection revives nothing.
    expect(apply(ended, { event: "order_cancel_rejected", at: AT })).toMatchObject({
      changed: false,
      note: "NO_PENDING_REQUEST",
    });
    const acknowledged = applyAll(newOrder({}), [
      { event: "new", at: AT, brokerOrderId: "b-1" },
      { event: "canceled", at: AT },
    ]);
    expect(
      apply(acknowledged, { event: "order_cancel_rejected", at: AT, brokerOrderId: "b-1" }).order
        .status,
    ).toBe("canceled");
  });

  it("revives no entry, no acknowledged leg and no event without the broker's id", () => {
    const bracketLeg = {
      role: "STOP_LOSS",
      side: "sell",
      type: "stop",
      orderClass: "bracket",
    } as const;
    const entry = apply(newOrder({ orderClass: "bracket" }), { event: "canceled", at: AT }).order;
    expect(refused(entry, { event: "new", at: AT, brokerOrderId: "b-1" }).code).toBe(
      "ILLEGAL_TRANSITION",
    );
    const leg = newOrder({ ...bracketLeg, stopPrice: dec("95") }, "held");
    const acknowledged = applyAll(leg, [
      { event: "new", at: AT, brokerOrderId: "leg-1" },
      { event: "canceled", at: AT },
    ]);
    expect(refused(acknowledged, { event: "new", at: AT, brokerOrderId: "leg-1" }).code).toBe(
      "ILLEGAL_TRANSITION",
    );
    const ended = apply(leg, { event: "canceled", at: AT }).order;
    expect(refused(ended, { event: "new", at: AT }).code).toBe("ILLEGAL_TRANSITION");
  });
});

describe("replace", () => {
  it("ends the old order as replaced, naming the replacing order", () => {
    const o = applyAll(acked(), [
      { event: "pending_replace", at: AT },
      { event: "replaced", at: AT, replacedByOrderId: "b-9" },
    ]);
    expect(o.status).toBe("replaced");
    expect(o.replacedByOrderId).toBe("b-9");
    expect(o.statusBeforePending).toBeNull();
    expect(refused(o, fillEvent("x1", "1", "190")).code).toBe("ILLEGAL_TRANSITION");
  });

  it("restores the status before the request when the replace is rejected", () => {
    const o = applyAll(acked(), [
      fillEvent("x1", "2", "190"),
      { event: "pending_replace", at: AT },
      fillEvent("x2", "1", "190"),
    ]);
    expect(o.status).toBe("pending_replace");
    const restored = apply(o, { event: "order_replace_rejected", at: AT, reason: "filled" }).order;
    expect(restored.status).toBe("partially_filled");
    expect(restored.filledQuantity.toString()).toBe("3");
  });

  it("remembers the status before the first request when a cancel follows a replace", () => {
    const o = applyAll(newOrder({}, "held"), [
      { event: "pending_replace", at: AT },
      { event: "pending_cancel", at: AT },
    ]);
    expect(o.statusBeforePending).toBe("held");
    expect(apply(o, { event: "order_cancel_rejected", at: AT }).order.status).toBe("held");
    // A replace rejection while the cancel is the outstanding request changes nothing.
    expect(apply(o, { event: "order_replace_rejected", at: AT }).note).toBe("NO_PENDING_REQUEST");
  });

  it("does not allow a replace request on top of a pending cancel", () => {
    const o = applyAll(acked(), [{ event: "pending_cancel", at: AT }]);
    const r = refused(o, { event: "pending_replace", at: AT });
    expect(r).toMatchObject({
      code: "ILLEGAL_TRANSITION",
      from: "pending_cancel",
      to: "pending_replace",
    });
  });
});

describe("rejection and denial", () => {
  it("records the broker's reason", () => {
    const o = apply(newOrder(), { event: "rejected", at: AT, reason: "insufficient buying power" });
    expect(o.order.status).toBe("rejected");
    expect(o.order.rejection).toEqual({ source: "broker", reason: "insufficient buying power" });
  });

  it("denies an order our risk checks refused before it reached the broker", () => {
    const o = apply(newOrder(), { event: "denied", at: AT, reason: "MAX_POSITION_SIZE" });
    expect(o.order.status).toBe("rejected");
    expect(o.order.rejection).toEqual({ source: "risk", reason: "MAX_POSITION_SIZE" });
    expect(o.order.brokerOrderId).toBeNull();
  });

  it("refuses to deny an order the broker already acknowledged", () => {
    expect(refused(acked(), { event: "denied", at: AT, reason: "late" }).code).toBe(
      "ALREADY_SUBMITTED",
    );
  });

  it("refuses to reject a partially filled order", () => {
    const o = apply(acked(), fillEvent("x1", "1", "190")).order;
    expect(refused(o, { event: "rejected", at: AT, reason: "x" }).code).toBe("ILLEGAL_TRANSITION");
  });
});

describe("terminal statuses", () => {
  const terminalOrders: Record<string, Order> = {
    filled: applyAll(acked(), [fillEvent("x1", "10", "190")]),
    expired: applyAll(acked(), [{ event: "expired", at: AT }]),
    replaced: applyAll(acked(), [{ event: "replaced", at: AT, replacedByOrderId: "b-2" }]),
    rejected: applyAll(newOrder(), [{ event: "rejected", at: AT, reason: "no" }]),
  };

  it.each(Object.entries(terminalOrders))("%s refuses every other status", (status, order) => {
    expect(order.status).toBe(status);
    for (const event of [
      "new",
      "accepted",
      "pending_new",
      "canceled",
      "expired",
      "done_for_day",
      "pending_cancel",
      "pending_replace",
      "stopped",
      "suspended",
      "calculated",
      "held",
    ] as const) {
      if (event === status) continue;
      const r = refused(order, { event, at: AT });
      expect(r.code).toBe("ILLEGAL_TRANSITION");
      expect(r.from).toBe(status);
      expect(r.to).toBe(event);
    }
  });

  it("canceled refuses everything but a late fill", () => {
    const o = applyAll(acked(), [{ event: "canceled", at: AT }]);
    for (const event of ["new", "pending_cancel", "expired", "held"] as const) {
      expect(refused(o, { event, at: AT }).code).toBe("ILLEGAL_TRANSITION");
    }
  });

  it("treats a repeated status report as a no-op", () => {
    const o = applyAll(acked(), [{ event: "expired", at: AT }]);
    const again = apply(o, { event: "expired", at: "2026-03-02T21:00:00Z" });
    expect(again.changed).toBe(false);
    expect(again.note).toBe("REPEATED_STATUS");
    expect(again.order).toBe(o);
  });
});

describe("other broker statuses", () => {
  it("rests a day order done for the day and resumes it the next session", () => {
    const o = applyAll(acked(), [
      fillEvent("x1", "2", "190"),
      { event: "done_for_day", at: AT },
      { event: "new", at: "2026-03-03T14:30:00Z" },
      fillEvent("x2", "8", "190"),
    ]);
    expect(o.status).toBe("filled");
  });

  it("follows stopped, suspended and calculated", () => {
    expect(
      applyAll(acked(), [{ event: "stopped", at: AT }, fillEvent("x1", "10", "1")]).status,
    ).toBe("filled");
    expect(
      applyAll(acked(), [
        { event: "suspended", at: AT },
        { event: "new", at: AT },
      ]).status,
    ).toBe("new");
    expect(
      applyAll(acked(), [{ event: "calculated", at: AT }, fillEvent("x1", "10", "1")]).status,
    ).toBe("filled");
  });

  it("activates a held leg", () => {
    const leg = newOrder({ role: "STOP_LOSS", side: "sell", type: "stop" }, "held");
    expect(apply(leg, { event: "new", at: AT, brokerOrderId: "b-3" }).order.status).toBe("new");
  });
});

describe("helpers", () => {
  it("classifies statuses", () => {
    expect(isTerminal("filled")).toBe(true);
    expect(isTerminal("canceled")).toBe(true);
    expect(isTerminal("new")).toBe(false);
    expect(isWorking("held")).toBe(true);
    expect(isWorking("pending_cancel")).toBe(true);
    expect(isWorking("expired")).toBe(false);
    expect(isPendingRequest("pending_replace")).toBe(true);
    expect(isPendingRequest("new")).toBe(false);
    expect(canTransition("new", "filled")).toBe(true);
    expect(canTransition("filled", "new")).toBe(false);
  });

  it("computes the remaining quantity", () => {
    const o = apply(acked(), fillEvent("x1", "3.5", "190")).order;
    expect(remainingQuantity(o).toString()).toBe("6.5");
  });
});
