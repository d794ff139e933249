import { describe, expect, it } from "vitest";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import type { Order, OrderStatus } from "../../domain/order";
import { type KnownOrder, reconcile } from "../../domain/reconciliation";
import { newOrder } from "../support/orderFixtures";

const NOW = Date.parse("2026-03-02T15:00:00Z");
const GRACE = 60_000;

function atBroker(status: OrderStatus): BrokerOrder {
  const at = new Date(NOW - 3_600_000);
  return {
    brokerOrderId: "b-1",
    clientOrderId: "ours-1",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    orderClass: "simple",
    timeInForce: "day",
    status,
    qty: dec("100"),
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
    createdAt: at,
    updatedAt: at,
    submittedAt: at,
    filledAt: null,
    canceledAt: null,
    expiredAt: null,
    failedAt: null,
  };
}

/** Ours, working with the broker's id, a cancel or replace requested at `requestedAt`. */
function pending(status: "pending_cancel" | "pending_replace", requestedAt: number): KnownOrder {
  const order: Order = {
    ...newOrder({ clientOrderId: "ours-1", quantity: dec("100") }),
    brokerOrderId: "b-1",
    status,
    statusBeforePending: "accepted",
    updatedAt: new Date(requestedAt).toISOString(),
  };
  return { id: 1, tradeId: 1, parentOrderId: null, order, createdAt: NOW - 3_600_000 };
}

function run(order: KnownOrder, broker: BrokerOrder) {
  return reconcile({
    positions: [],
    orders: [order],
    brokerPositions: [],
    brokerOrders: [broker],
    now: NOW,
    graceMs: GRACE,
  });
}

describe("a cancel or replace the broker refused", () => {
  for (const status of ["pending_cancel", "pending_replace"] as const) {
    for (const working of ["new", "accepted"] as const) {
      it(`restores ${working}, as the broker shows it, over ${status} past the grace period`, () => {
        const actions = run(pending(status, NOW - GRACE), atBroker(working));
        expect(actions).toEqual([
          expect.objectContaining({
            code: "ORDER_STATUS_SYNCED",
            orderId: 1,
            from: status,
            to: working,
          }),
        ]);
      });
    }
  }

  it("waits while the request may still be on its way", () => {
    expect(run(pending("pending_cancel", NOW - GRACE + 1), atBroker("new"))).toEqual([]);
  });

  it("leaves one the broker shows pending as it is", () => {
    expect(run(pending("pending_cancel", NOW - GRACE), atBroker("pending_cancel"))).toEqual([]);
  });
});
