/**
 * Reconciliation takes over the working status the broker shows where the books lag behind it:
 * a cancel or replace refused after a partial fill (the broker shows `partially_filled`).
 */
import { describe, expect, it } from "vitest";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import type { Order, OrderStatus } from "../../domain/order";
import { type KnownOrder, reconcile } from "../../domain/reconciliation";
import { newOrder } from "../support/orderFixtures";

const NOW = Date.parse("2026-03-02T15:00:00Z");
const GRACE = 60_000;

function atBroker(status: OrderStatus, filled = "0"): BrokerOrder {
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
    filledQty: dec(filled),
    filledAvgPrice: filled === "0" ? null : dec("190.10"),
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

/** Ours, with the broker's id, a request pending since `requestedAt`, `filled` known. */
function pending(
  status: "pending_cancel" | "pending_replace",
  requestedAt: number,
  filled = "0",
): KnownOrder {
  const order: Order = {
    ...newOrder({ clientOrderId: "ours-1", quantity: dec("100") }),
    brokerOrderId: "b-1",
    status,
    statusBeforePending: filled === "0" ? "new" : "partially_filled",
    filledQuantity: dec(filled),
    filledNotional: dec(filled).times("190.10"),
    averageFillPrice: filled === "0" ? null : dec("190.10"),
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

describe("a cancel or replace refused on a partly filled order", () => {
  for (const status of ["pending_cancel", "pending_replace"] as const) {
    it(`restores partially_filled over ${status} past the grace period, the missed fill first`, () => {
      const actions = run(pending(status, NOW - GRACE), atBroker("partially_filled", "40"));
      expect(actions.map((a) => a.code)).toEqual(["MISSED_FILL_INFERRED", "ORDER_STATUS_SYNCED"]);
      expect(actions[1]).toEqual(
        expect.objectContaining({ orderId: 1, from: status, to: "partially_filled" }),
      );
    });

    it(`restores partially_filled over ${status} when the fill is known`, () => {
      const actions = run(pending(status, NOW - GRACE, "40"), atBroker("partially_filled", "40"));
      expect(actions).toEqual([
        expect.objectContaining({
          code: "ORDER_STATUS_SYNCED",
          from: status,
          to: "partially_filled",
        }),
      ]);
    });
  }

  it("waits while the cancel may still be on its way", () => {
    const actions = run(
      pending("pending_cancel", NOW - GRACE + 1, "40"),
      atBroker("partially_filled", "40"),
    );
    expect(actions).toEqual([]);
  });

  it("does not take partially_filled as a status to sync otherwise", () => {
    const working: KnownOrder = {
      ...pending("pending_cancel", NOW - GRACE, "40"),
    };
    const asNew = {
      ...working,
      order: { ...working.order, status: "new" as const, statusBeforePending: null },
    };
    expect(run(asNew, atBroker("partially_filled", "40"))).toEqual([]);
  });
});

describe("a refusal's pendingSince", () => {
  it("tells a later refusal of the same order from an earlier one", () => {
    const first = run(pending("pending_cancel", NOW - 2 * GRACE), atBroker("new"));
    const second = run(pending("pending_cancel", NOW - GRACE), atBroker("new"));
    expect(first).toEqual([
      expect.objectContaining({ pendingSince: new Date(NOW - 2 * GRACE).toISOString() }),
    ]);
    expect(second).toEqual([
      expect.objectContaining({ pendingSince: new Date(NOW - GRACE).toISOString() }),
    ]);
  });
});

describe("a bracket leg held in the books, armed at the broker", () => {
  /** Our stop leg, held, with the broker's id, recorded an hour ago. */
  function heldLeg(status: OrderStatus = "held"): KnownOrder {
    const order: Order = {
      ...newOrder(
        {
          clientOrderId: "ours-1",
          quantity: dec("100"),
          side: "sell",
          type: "stop",
          orderClass: "bracket",
          role: "STOP_LOSS",
          limitPrice: null,
          stopPrice: dec("180"),
        },
        "held",
      ),
      brokerOrderId: "b-1",
      status,
    };
    return { id: 2, tradeId: 1, parentOrderId: null, order, createdAt: NOW - 3_600_000 };
  }
  const armed = (status: OrderStatus): BrokerOrder => ({
    ...atBroker(status),
    side: "sell",
    type: "stop",
    orderClass: "bracket",
    limitPrice: null,
    stopPrice: dec("180"),
  });

  for (const working of ["new", "accepted"] as const) {
    it(`takes the broker's ${working}`, () => {
      expect(run(heldLeg(), armed(working))).toEqual([
        expect.objectContaining({
          code: "ORDER_STATUS_SYNCED",
          orderId: 2,
          from: "held",
          to: working,
          pendingSince: null,
        }),
      ]);
    });
  }

  it("leaves held as it is while the broker holds it too", () => {
    expect(run(heldLeg(), armed("held"))).toEqual([]);
  });

  it("takes no status the state machine does not allow (new back to accepted)", () => {
    expect(run(heldLeg("new"), armed("accepted"))).toEqual([]);
  });
});

describe("a cancel refused on a bracket leg the broker holds", () => {
  it("restores held past the grace period", () => {
    const leg: KnownOrder = {
      ...pending("pending_cancel", NOW - GRACE),
      order: { ...pending("pending_cancel", NOW - GRACE).order, statusBeforePending: "held" },
    };
    expect(run(leg, atBroker("held"))).toEqual([
      expect.objectContaining({ code: "ORDER_STATUS_SYNCED", from: "pending_cancel", to: "held" }),
    ]);
  });

  it("waits while the cancel may still be on its way", () => {
    expect(run(pending("pending_cancel", NOW - GRACE + 1), atBroker("held"))).toEqual([]);
  });
});
