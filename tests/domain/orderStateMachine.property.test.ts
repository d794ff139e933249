import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dec, sumDecimals } from "../../domain/money";
import type { Order, OrderEvent } from "../../domain/order";
import { applyOrderEvent, canTransition } from "../../domain/orderStateMachine";
import { newOrder } from "../support/orderFixtures";

const AT = "2026-03-02T15:00:00Z";

const statusEventArb: fc.Arbitrary<OrderEvent> = fc.oneof(
  fc
    .constantFrom(
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
    )
    .map((event): OrderEvent => ({ event, at: AT })),
  fc.constant<OrderEvent>({ event: "replaced", at: AT, replacedByOrderId: "b-2" }),
  fc.constant<OrderEvent>({ event: "rejected", at: AT, reason: "venue" }),
  fc.constant<OrderEvent>({ event: "denied", at: AT, reason: "risk" }),
  fc.constant<OrderEvent>({ event: "order_cancel_rejected", at: AT }),
  fc.constant<OrderEvent>({ event: "order_replace_rejected", at: AT }),
  fc.constant<OrderEvent>({ event: "new", at: AT, brokerOrderId: "b-1" }),
);

// A small pool of execution ids so that duplicates are frequent; an id always carries the same
// execution (the broker never reuses one), so the quantity and price derive from the id.
const fillEventArb: fc.Arbitrary<OrderEvent> = fc.integer({ min: 1, max: 12 }).map(
  (n): OrderEvent => ({
    event: n % 2 === 0 ? "fill" : "partial_fill",
    executionId: `x${n}`,
    quantity: dec(n % 3 === 0 ? "0.5" : String(n % 4 || 1)),
    price: dec(`190.${String(n).padStart(2, "0")}`),
    at: AT,
  }),
);

const eventArb = fc.oneof(
  { arbitrary: fillEventArb, weight: 3 },
  { arbitrary: statusEventArb, weight: 2 },
);

const startArb = fc.record({
  quantity: fc.constantFrom("1", "2.5", "7", "10"),
  initial: fc.constantFrom("pending_new", "held") as fc.Arbitrary<"pending_new" | "held">,
});

interface Run {
  readonly final: Order;
  readonly acceptedFills: ReadonlyArray<{ quantity: string; price: string }>;
}

/** Applies every event, keeping the order unchanged on a refusal (as the caller does). */
function run(
  start: Order,
  events: readonly OrderEvent[],
  check?: (before: Order, after: Order, changed: boolean) => void,
): Run {
  let order = start;
  const acceptedFills: Array<{ quantity: string; price: string }> = [];
  for (const event of events) {
    const outcome = applyOrderEvent(order, event);
    if (!outcome.ok) continue;
    check?.(order, outcome.value.order, outcome.value.changed);
    if (outcome.value.fill) {
      acceptedFills.push({
        quantity: outcome.value.fill.quantity.toString(),
        price: outcome.value.fill.price.toString(),
      });
    }
    order = outcome.value.order;
  }
  return { final: order, acceptedFills };
}

/** A comparable picture of an order (decimals as strings). */
function snapshot(order: Order) {
  return {
    ...order,
    quantity: order.quantity.toString(),
    filledQuantity: order.filledQuantity.toString(),
    filledNotional: order.filledNotional.toString(),
    averageFillPrice: order.averageFillPrice?.toString() ?? null,
    limitPrice: order.limitPrice?.toString() ?? null,
    stopPrice: order.stopPrice?.toString() ?? null,
  };
}

describe("order state machine properties", () => {
  it("never leaves the table, never overfills, and no-ops leave the order as it was", () => {
    fc.assert(
      fc.property(startArb, fc.array(eventArb, { maxLength: 40 }), (start, events) => {
        const order = newOrder({ quantity: dec(start.quantity) }, start.initial);
        run(order, events, (before, after, changed) => {
          if (!changed) {
            expect(after).toBe(before);
            return;
          }
          if (after.status !== before.status) {
            expect(canTransition(before.status, after.status)).toBe(true);
          }
          expect(after.filledQuantity.lte(after.quantity)).toBe(true);
          expect(after.filledQuantity.gte(before.filledQuantity)).toBe(true);
          if (after.statusBeforePending !== null) {
            expect(["pending_cancel", "pending_replace"]).toContain(after.status);
          }
        });
      }),
      { numRuns: 500 },
    );
  });

  it("keeps filled quantity and notional equal to the sums over the accepted executions", () => {
    fc.assert(
      fc.property(startArb, fc.array(eventArb, { maxLength: 40 }), (start, events) => {
        const order = newOrder({ quantity: dec(start.quantity) }, start.initial);
        const { final, acceptedFills } = run(order, events);
        const quantities = acceptedFills.map((f) => dec(f.quantity));
        expect(final.filledQuantity.eq(sumDecimals(quantities))).toBe(true);
        expect(
          final.filledNotional.eq(
            sumDecimals(acceptedFills.map((f) => dec(f.quantity).times(f.price))),
          ),
        ).toBe(true);
        expect(final.appliedExecutionIds.length).toBe(acceptedFills.length);
        expect(new Set(final.appliedExecutionIds).size).toBe(acceptedFills.length);
        if (acceptedFills.length === 0) expect(final.averageFillPrice).toBeNull();
        else
          expect(final.averageFillPrice?.eq(final.filledNotional.div(final.filledQuantity))).toBe(
            true,
          );
        expect(final.status === "filled").toBe(final.filledQuantity.eq(final.quantity));
      }),
      { numRuns: 500 },
    );
  });

  it("gives the same order when every event is delivered twice", () => {
    fc.assert(
      fc.property(startArb, fc.array(eventArb, { maxLength: 30 }), (start, events) => {
        const order = newOrder({ quantity: dec(start.quantity) }, start.initial);
        const once = run(order, events).final;
        const twice = run(
          order,
          events.flatMap((e) => [e, e]),
        ).final;
        expect(snapshot(twice)).toEqual(snapshot(once));
      }),
      { numRuns: 500 },
    );
  });

  it("ignores a redelivered fill anywhere later in the stream", () => {
    fc.assert(
      fc.property(
        startArb,
        fc.array(eventArb, { maxLength: 30 }),
        fc.nat(),
        fc.nat(),
        (start, events, pick, at) => {
          const fills = events.filter((e) => e.event === "fill" || e.event === "partial_fill");
          fc.pre(fills.length > 0);
          const order = newOrder({ quantity: dec(start.quantity) }, start.initial);
          const repeated = fills[pick % fills.length];
          if (repeated === undefined) return;
          const firstIndex = events.indexOf(repeated);
          const insertAt = firstIndex + 1 + (at % (events.length - firstIndex));
          const withRedelivery = [
            ...events.slice(0, insertAt),
            repeated,
            ...events.slice(insertAt),
          ];
          expect(snapshot(run(order, withRedelivery).final)).toEqual(
            snapshot(run(order, events).final),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
