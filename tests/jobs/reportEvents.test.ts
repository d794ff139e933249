/**
 * The events a broker report brings (pure): fills without a broker price are left to a later
 * report rather than booked at a guessed price, and a read of an order whose cancel the books
 * just asked for does not take it out of pending_cancel within the grace period.
 */
import { describe, expect, it } from "vitest";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import type { Order, OrderStatus } from "../../domain/order";
import {
  eventsForReport,
  PENDING_CANCEL_GRACE_MS,
  unpricedFillQuantity,
} from "../../jobs/reportEvents";
import { newOrder } from "../support/orderFixtures";

const REQUESTED = "2026-03-02T15:00:00.000Z";
const sinceRequest = (ms: number) => new Date(Date.parse(REQUESTED) + ms);

function brokerOrder(overrides: Partial<BrokerOrder> = {}): BrokerOrder {
  return {
    brokerOrderId: "b-1",
    clientOrderId: "dec-1-entry",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    orderClass: "simple",
    timeInForce: "day",
    status: "new",
    qty: dec("10"),
    notional: null,
    filledQty: dec("0"),
    filledAvgPrice: null,
    limitPrice: dec("190.10"),
    stopPrice: null,
    trailPrice: null,
    trailPercent: null,
    extendedHours: false,
    legs: [],
    replaces: null,
    replacedBy: null,
    createdAt: sinceRequest(-60_000),
    updatedAt: sinceRequest(-60_000),
    submittedAt: sinceRequest(-60_000),
    filledAt: null,
    canceledAt: null,
    expiredAt: null,
    failedAt: null,
    ...overrides,
  };
}

/** Our order, acknowledged as b-1, in `status` since REQUESTED. */
function ours(status: OrderStatus, statusBeforePending: OrderStatus | null = null): Order {
  return {
    ...newOrder({ limitPrice: dec("190.10") }),
    brokerOrderId: "b-1",
    status,
    statusBeforePending,
    updatedAt: REQUESTED,
  };
}

describe("a fill the broker reports without an average price", () => {
  it("is not booked at the limit price, nor is the order ended without it, when polled", () => {
    const order = brokerOrder({ status: "canceled", filledQty: dec("4"), filledAvgPrice: null });
    const events = eventsForReport(ours("new"), order, {
      event: null,
      execution: null,
      at: sinceRequest(1_000).toISOString(),
    });
    expect(events).toEqual([]);
    expect(unpricedFillQuantity(ours("new"), order, null)?.toFixed()).toBe("4");
  });

  it("is not booked at the stop price", () => {
    const stop = brokerOrder({
      type: "stop",
      side: "sell",
      limitPrice: null,
      stopPrice: dec("185"),
      status: "filled",
      filledQty: dec("10"),
    });
    expect(
      eventsForReport(ours("new"), stop, {
        event: null,
        execution: null,
        at: sinceRequest(1_000).toISOString(),
      }),
    ).toEqual([]);
  });

  it("keeps a streamed execution under its own id and price, without guessing the gap before it", () => {
    const order = brokerOrder({ status: "partially_filled", filledQty: dec("6") });
    const events = eventsForReport(ours("new"), order, {
      event: "partial_fill",
      execution: { executionId: "x-2", quantity: dec("2"), price: dec("190.00") },
      at: sinceRequest(1_000).toISOString(),
    });
    expect(events).toEqual([
      {
        inferred: false,
        event: expect.objectContaining({
          event: "partial_fill",
          executionId: "x-2",
          quantity: dec("2"),
          price: dec("190.00"),
        }),
      },
    ]);
    expect(
      unpricedFillQuantity(ours("new"), order, {
        executionId: "x-2",
        quantity: dec("2"),
        price: dec("190.00"),
      })?.toFixed(),
    ).toBe("4");
  });

  it("is inferred at the broker's average once the broker gives one", () => {
    const order = brokerOrder({
      status: "canceled",
      filledQty: dec("4"),
      filledAvgPrice: dec("190.05"),
    });
    const events = eventsForReport(ours("new"), order, {
      event: null,
      execution: null,
      at: sinceRequest(1_000).toISOString(),
    });
    expect(events.map((e) => e.event.event)).toEqual(["partial_fill", "canceled"]);
    expect(events[0]?.event).toMatchObject({ quantity: dec("4"), price: dec("190.05") });
    expect(unpricedFillQuantity(ours("new"), order, null)).toBeNull();
  });
});

describe("a read showing working an order whose cancel the books asked for", () => {
  const working = ["new", "accepted", "held"] as const;

  it.each(working)(
    "keeps pending_cancel when the read shows %s within the grace period",
    (status) => {
      const events = eventsForReport(ours("pending_cancel", status), brokerOrder({ status }), {
        event: null,
        execution: null,
        at: sinceRequest(-60_000).toISOString(),
        now: sinceRequest(PENDING_CANCEL_GRACE_MS - 1),
      });
      expect(events).toEqual([]);
    },
  );

  it.each(working)("takes %s past the grace period: the cancel did not take", (status) => {
    const events = eventsForReport(ours("pending_cancel", status), brokerOrder({ status }), {
      event: null,
      execution: null,
      at: sinceRequest(-60_000).toISOString(),
      now: sinceRequest(PENDING_CANCEL_GRACE_MS),
    });
    expect(events.map((e) => e.event.event)).toEqual([status]);
  });

  it("without a clock, judges by the report's own time: a status dated before the request is old news", () => {
    const stale = eventsForReport(ours("pending_cancel", "new"), brokerOrder(), {
      event: null,
      execution: null,
      at: sinceRequest(-60_000).toISOString(),
    });
    expect(stale).toEqual([]);
    const answered = eventsForReport(ours("pending_cancel", "new"), brokerOrder(), {
      event: null,
      execution: null,
      at: sinceRequest(PENDING_CANCEL_GRACE_MS).toISOString(),
    });
    expect(answered.map((e) => e.event.event)).toEqual(["new"]);
  });

  it("still takes the end of the order, and a refusal the stream reports, at once", () => {
    const canceled = eventsForReport(
      ours("pending_cancel", "new"),
      brokerOrder({ status: "canceled" }),
      { event: null, execution: null, at: sinceRequest(1).toISOString(), now: sinceRequest(1) },
    );
    expect(canceled.map((e) => e.event.event)).toEqual(["canceled"]);
    const refused = eventsForReport(ours("pending_cancel", "new"), brokerOrder(), {
      event: "order_cancel_rejected",
      execution: null,
      at: sinceRequest(1).toISOString(),
      now: sinceRequest(1),
    });
    expect(refused.map((e) => e.event.event)).toEqual(["order_cancel_rejected"]);
    const streamed = eventsForReport(ours("pending_cancel", "new"), brokerOrder(), {
      event: "new",
      execution: null,
      at: sinceRequest(1).toISOString(),
      now: sinceRequest(1),
    });
    expect(streamed.map((e) => e.event.event)).toEqual(["new"]);
  });

  it("applies a fill the read shows within the grace period, keeping the request", () => {
    const events = eventsForReport(
      ours("pending_cancel", "new"),
      brokerOrder({ status: "partially_filled", filledQty: dec("4"), filledAvgPrice: dec("190") }),
      { event: null, execution: null, at: sinceRequest(1).toISOString(), now: sinceRequest(1) },
    );
    expect(events.map((e) => e.event.event)).toEqual(["partial_fill"]);
  });
});
