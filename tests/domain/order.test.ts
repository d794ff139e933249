import { describe, expect, expectTypeOf, it } from "vitest";
import { dec } from "../../domain/money";
import {
  createOrder,
  ORDER_EVENT_NAMES,
  ORDER_STATUSES,
  type OrderDraft,
  type OrderEventName,
  TERMINAL_ORDER_STATUSES,
} from "../../domain/order";

const draft: OrderDraft = {
  clientOrderId: "dec-1-entry",
  symbol: "AAPL",
  side: "buy",
  type: "limit",
  timeInForce: "day",
  orderClass: "bracket",
  role: "ENTRY",
  quantity: dec("10"),
  limitPrice: dec("190.10"),
  stopPrice: null,
};

describe("createOrder", () => {
  it("starts unacknowledged, unfilled, at pending_new", () => {
    const order = createOrder(draft, "2026-03-02T14:35:00Z");
    expect(order.status).toBe("pending_new");
    expect(order.brokerOrderId).toBeNull();
    expect(order.filledQuantity.isZero()).toBe(true);
    expect(order.filledNotional.isZero()).toBe(true);
    expect(order.averageFillPrice).toBeNull();
    expect(order.statusBeforePending).toBeNull();
    expect(order.appliedExecutionIds).toEqual([]);
    expect(order.updatedAt).toBe("2026-03-02T14:35:00Z");
    expect(order.quantity.toString()).toBe("10");
    expect(order.limitPrice?.toString()).toBe("190.1");
  });

  it("starts a bracket leg as held", () => {
    const leg = createOrder(
      { ...draft, clientOrderId: "dec-1-stop", side: "sell", type: "stop", role: "STOP_LOSS" },
      "2026-03-02T14:35:00Z",
      "held",
    );
    expect(leg.status).toBe("held");
  });

  it("throws on a non-positive quantity, a caller bug", () => {
    expect(() => createOrder({ ...draft, quantity: dec("0") }, "t")).toThrow(RangeError);
    expect(() => createOrder({ ...draft, quantity: dec("-1") }, "t")).toThrow(RangeError);
  });
});

describe("order vocabulary", () => {
  it("lists every event name exactly once", () => {
    expectTypeOf<(typeof ORDER_EVENT_NAMES)[number]>().toEqualTypeOf<OrderEventName>();
    expect(new Set(ORDER_EVENT_NAMES).size).toBe(ORDER_EVENT_NAMES.length);
  });

  it("names terminal statuses from the broker's list", () => {
    for (const s of TERMINAL_ORDER_STATUSES) expect(ORDER_STATUSES).toContain(s);
  });
});
