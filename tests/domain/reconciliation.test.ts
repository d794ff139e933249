import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BrokerOrder, BrokerPosition } from "../../domain/broker";
import { type Decimal, dec } from "../../domain/money";
import type { Order, OrderStatus } from "../../domain/order";
import { applyOrderEvent } from "../../domain/orderStateMachine";
import type { Position } from "../../domain/position";
import {
  type KnownOrder,
  type KnownPosition,
  type ReconciliationAction,
  type ReconciliationInput,
  reconcile,
  type StalledExecution,
  settleStalledExecution,
  settleUnstartedExecution,
} from "../../domain/reconciliation";
import { fillEvent, newOrder } from "../support/orderFixtures";

const NOW = Date.parse("2026-03-02T15:00:00Z");
const LONG_AGO = NOW - 3_600_000;
const GRACE = 60_000;

function brokerOrder(overrides: Partial<BrokerOrder> & { brokerOrderId: string }): BrokerOrder {
  return {
    clientOrderId: `c-${overrides.brokerOrderId}`,
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    orderClass: "simple",
    timeInForce: "day",
    status: "new",
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
    createdAt: new Date(LONG_AGO),
    updatedAt: new Date(LONG_AGO),
    submittedAt: new Date(LONG_AGO),
    filledAt: null,
    canceledAt: null,
    expiredAt: null,
    failedAt: null,
    ...overrides,
  };
}

function brokerPosition(
  symbol: string,
  qty: string,
  avg: string,
  current?: string,
): BrokerPosition {
  const q = dec(qty);
  return {
    symbol,
    assetId: `asset-${symbol}`,
    side: q.isNegative() ? "short" : "long",
    qty: q,
    qtyAvailable: q,
    avgEntryPrice: dec(avg),
    currentPrice: current === undefined ? null : dec(current),
    lastdayPrice: null,
    marketValue: null,
    costBasis: q.abs().times(dec(avg)),
    unrealizedPl: null,
    unrealizedIntradayPl: null,
  };
}

/** Our order with `fills` applied through the state machine ([quantity, price] pairs). */
function ours(
  id: number,
  overrides: Partial<Parameters<typeof newOrder>[0]> & {
    status?: OrderStatus;
    brokerOrderId?: string | null;
    fills?: readonly (readonly [string, string])[];
    parentOrderId?: number | null;
    createdAt?: number;
    tradeId?: number | null;
  } = {},
  initial: "pending_new" | "held" = "pending_new",
): KnownOrder {
  const { status, brokerOrderId, fills, parentOrderId, createdAt, tradeId, ...draft } = overrides;
  let order: Order = newOrder(
    { clientOrderId: `ours-${id}`, quantity: dec("100"), ...draft },
    initial,
  );
  if (brokerOrderId !== undefined) order = { ...order, brokerOrderId };
  for (const [i, [qty, price]] of (fills ?? []).entries()) {
    const r = applyOrderEvent(order, fillEvent(`x-${id}-${i}`, qty, price));
    if (!r.ok) throw new Error(r.message);
    order = r.value.order;
  }
  if (status !== undefined) order = { ...order, status };
  return {
    id,
    tradeId: tradeId === undefined ? 1 : tradeId,
    parentOrderId: parentOrderId ?? null,
    order,
    createdAt: createdAt ?? LONG_AGO,
  };
}

function held(
  id: number,
  symbol: string,
  quantity: string,
  averageCost: string,
  extra: Partial<KnownPosition> = {},
): KnownPosition {
  const qty = dec(quantity);
  const position: Position = {
    symbol,
    quantity: qty,
    costBasis: qty.times(dec(averageCost)),
    realizedPnl: dec(0),
    commissions: dec(0),
  };
  return {
    id,
    tradeId: 1,
    position,
    markPrice: null,
    updatedAt: LONG_AGO,
    openedAt: LONG_AGO,
    ...extra,
  };
}

/** A stop protecting a long AAPL position of `qty`, live at the broker. */
function liveStop(
  id: number,
  qty = "100",
  symbol = "AAPL",
): { known: KnownOrder; broker: BrokerOrder } {
  return {
    known: ours(id, {
      symbol,
      side: "sell",
      type: "stop",
      role: "STOP_LOSS",
      quantity: dec(qty),
      limitPrice: null,
      stopPrice: dec("184.50"),
      brokerOrderId: `b-${id}`,
      status: "new",
    }),
    broker: brokerOrder({
      brokerOrderId: `b-${id}`,
      symbol,
      side: "sell",
      type: "stop",
      qty: dec(qty),
      stopPrice: dec("184.50"),
      limitPrice: null,
    }),
  };
}

function run(partial: Partial<ReconciliationInput>): ReconciliationAction[] {
  return reconcile({
    positions: [],
    orders: [],
    brokerPositions: [],
    brokerOrders: [],
    now: NOW,
    graceMs: GRACE,
    ...partial,
  });
}

const codes = (actions: readonly ReconciliationAction[]) => actions.map((a) => a.code);
const str = (d: Decimal | null | undefined) => d?.toString() ?? null;

describe("books that agree", () => {
  it("produce no action", () => {
    const stop = liveStop(2);
    expect(
      run({
        positions: [held(1, "AAPL", "100", "190")],
        orders: [
          ours(1, { brokerOrderId: "b-1", fills: [["100", "190"]], status: "filled" }),
          stop.known,
        ],
        brokerOrders: [
          brokerOrder({
            brokerOrderId: "b-1",
            status: "filled",
            filledQty: dec("100"),
            filledAvgPrice: dec("190"),
          }),
          stop.broker,
        ],
        brokerPositions: [brokerPosition("AAPL", "100", "190")],
      }),
    ).toEqual([]);
  });

  it("produce no action when there is nothing at all", () => {
    expect(run({})).toEqual([]);
  });
});

describe("missed fills", () => {
  it("infers the missing quantity at the implied price under a deterministic execution id", () => {
    const input = {
      orders: [
        ours(1, { brokerOrderId: "b-1", fills: [["40", "190"]], status: "partially_filled" }),
      ],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("190.06"),
          filledAt: new Date("2026-03-02T14:50:00Z"),
        }),
      ],
      positions: [held(1, "AAPL", "40", "190")],
      brokerPositions: [brokerPosition("AAPL", "100", "190.06")],
    };
    const actions = run(input);
    expect(codes(actions)).toEqual(["MISSED_FILL_INFERRED"]);
    const fill = actions[0];
    if (fill?.code !== "MISSED_FILL_INFERRED") throw new Error("expected a fill");
    expect(fill.executionId).toBe("inferred-b-1-100");
    expect(str(fill.quantity)).toBe("60");
    // (100 x 190.06 - 40 x 190) / 60 = 190.1
    expect(str(fill.price)).toBe("190.1");
    expect(fill.priceSource).toBe("implied");
    expect(fill.final).toBe(true);
    expect(fill.at).toBe("2026-03-02T14:50:00.000Z");
    expect(fill.side).toBe("buy");
    expect(fill.role).toBe("ENTRY");
    // The same books give the same id: a second run before the fill is applied repeats it, not a new one.
    expect(run(input)).toEqual(actions);
  });

  it("takes the broker's average when we had nothing filled, and is not final on a partial fill", () => {
    const actions = run({
      orders: [ours(1, { brokerOrderId: "b-1", status: "new" })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "partially_filled",
          filledQty: dec("30"),
          filledAvgPrice: dec("190.05"),
        }),
      ],
      brokerPositions: [brokerPosition("AAPL", "30", "190.05")],
    });
    expect(actions).toMatchObject([
      {
        code: "MISSED_FILL_INFERRED",
        executionId: "inferred-b-1-30",
        priceSource: "broker_order",
        final: false,
      },
    ]);
    expect(str((actions[0] as { price: Decimal }).price)).toBe("190.05");
  });

  it("changes nothing once the inferred fill is in the books (a second run counts it once)", () => {
    expect(
      run({
        orders: [ours(1, { brokerOrderId: "b-1", fills: [["100", "190.06"]], status: "filled" })],
        brokerOrders: [
          brokerOrder({
            brokerOrderId: "b-1",
            status: "filled",
            filledQty: dec("100"),
            filledAvgPrice: dec("190.06"),
          }),
        ],
        positions: [held(1, "AAPL", "100", "190.06", { updatedAt: NOW })],
        brokerPositions: [brokerPosition("AAPL", "100", "190.06")],
      }),
    ).toEqual([]);
  });

  it("rounds an implied price that does not terminate, and falls back to the broker's average when it is not positive", () => {
    const thirds = run({
      orders: [ours(1, { brokerOrderId: "b-1", fills: [["1", "10"]], status: "partially_filled" })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          filledQty: dec("4"),
          filledAvgPrice: dec("10.01"),
          status: "partially_filled",
        }),
      ],
    });
    // (4 x 10.01 - 10) / 3 = 10.0133...
    expect(str((thirds[0] as { price: Decimal }).price)).toBe("10.013333");

    const odd = run({
      orders: [
        ours(1, { brokerOrderId: "b-1", fills: [["50", "500"]], status: "partially_filled" }),
      ],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          filledQty: dec("60"),
          filledAvgPrice: dec("100"),
          status: "partially_filled",
        }),
      ],
    });
    expect(odd[0]).toMatchObject({ code: "MISSED_FILL_INFERRED", priceSource: "broker_order" });
    expect(str((odd[0] as { price: Decimal }).price)).toBe("100");
  });

  it.each(["expired", "rejected"] as const)(
    "books a broker fill on an order the books ended %s on that order, adopting nothing",
    (status) => {
      const actions = run({
        orders: [ours(1, { brokerOrderId: "b-1", status, tradeId: 7 })],
        brokerOrders: [
          brokerOrder({
            brokerOrderId: "b-1",
            status: "filled",
            filledQty: dec("100"),
            filledAvgPrice: dec("189.50"),
          }),
        ],
        brokerPositions: [brokerPosition("AAPL", "100", "189.50")],
      });
      expect(codes(actions)).toEqual(["MISSED_FILL_INFERRED"]);
      expect(actions[0]).toMatchObject({
        orderId: 1,
        tradeId: 7,
        quantity: dec("100"),
        price: dec("189.50"),
        final: true,
      });
    },
  );

  it("reports a missing fill without a broker price instead of guessing one", () => {
    expect(
      run({
        orders: [ours(1, { brokerOrderId: "b-1", status: "new" })],
        brokerOrders: [
          brokerOrder({ brokerOrderId: "b-1", filledQty: dec("10"), status: "partially_filled" }),
        ],
      }),
    ).toMatchObject([
      {
        code: "FILL_PRICE_UNKNOWN",
        missingQuantity: dec("10"),
        ourFilledQuantity: dec("0"),
        brokerFilledQuantity: dec("10"),
      },
    ]);
  });

  it("never corrects our fills downwards: more filled here than at the broker is reported", () => {
    const actions = run({
      orders: [
        ours(1, { brokerOrderId: "b-1", fills: [["50", "190"]], status: "partially_filled" }),
      ],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "partially_filled",
          filledQty: dec("40"),
          filledAvgPrice: dec("190"),
        }),
      ],
      positions: [held(1, "AAPL", "50", "190", { updatedAt: NOW })],
      brokerPositions: [brokerPosition("AAPL", "50", "190")],
    });
    expect(codes(actions)).toEqual(["FILL_EXCEEDS_BROKER"]);
  });

  it("infers a missed exit fill: the stop filled, so the position closed at the broker is no manual close", () => {
    const stop = liveStop(2);
    const actions = run({
      positions: [held(1, "AAPL", "100", "190", { markPrice: dec("186") })],
      orders: [stop.known],
      brokerOrders: [
        { ...stop.broker, status: "filled", filledQty: dec("100"), filledAvgPrice: dec("184.40") },
      ],
      brokerPositions: [],
    });
    expect(actions).toMatchObject([
      {
        code: "MISSED_FILL_INFERRED",
        executionId: "inferred-b-2-100",
        role: "STOP_LOSS",
        side: "sell",
      },
    ]);
  });

  it("finds a bracket leg whose broker id we never learned among its parent's legs", () => {
    const entry = ours(1, {
      brokerOrderId: "b-1",
      fills: [["100", "190"]],
      status: "filled",
      orderClass: "bracket",
    });
    const stop = ours(
      2,
      {
        side: "sell",
        type: "stop",
        role: "STOP_LOSS",
        limitPrice: null,
        stopPrice: dec("184.50"),
        orderClass: "bracket",
        parentOrderId: 1,
      },
      "held",
    );
    const target = ours(
      3,
      {
        side: "sell",
        type: "limit",
        role: "TAKE_PROFIT",
        limitPrice: dec("205"),
        orderClass: "bracket",
        parentOrderId: 1,
      },
      "held",
    );
    const legs = [
      brokerOrder({
        brokerOrderId: "leg-tp",
        side: "sell",
        type: "limit",
        limitPrice: dec("205"),
        status: "canceled",
      }),
      brokerOrder({
        brokerOrderId: "leg-sl",
        side: "sell",
        type: "stop",
        stopPrice: dec("184.50"),
        limitPrice: null,
        status: "filled",
        filledQty: dec("100"),
        filledAvgPrice: dec("184.45"),
      }),
    ];
    const actions = run({
      orders: [entry, stop, target],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          orderClass: "bracket",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("190"),
          legs,
        }),
      ],
      positions: [held(1, "AAPL", "100", "190")],
      brokerPositions: [],
    });
    expect(actions).toMatchObject([
      {
        code: "MISSED_FILL_INFERRED",
        orderId: 2,
        brokerOrderId: "leg-sl",
        executionId: "inferred-leg-sl-100",
      },
      {
        code: "ORDER_STATUS_SYNCED",
        orderId: 3,
        brokerOrderId: "leg-tp",
        from: "held",
        to: "canceled",
      },
    ]);
  });
});

describe("order statuses", () => {
  it("takes over a cancel, an expiry, a rejection and a replacement we missed", () => {
    const actions = run({
      orders: [
        ours(1, { brokerOrderId: "b-1", status: "new" }),
        ours(2, { brokerOrderId: "b-2", status: "new" }),
        ours(3, { brokerOrderId: "b-3", status: "accepted" }),
        ours(4, { brokerOrderId: "b-4", status: "new" }),
      ],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "canceled",
          canceledAt: new Date("2026-03-02T14:40:00Z"),
        }),
        brokerOrder({ brokerOrderId: "b-2", status: "expired" }),
        brokerOrder({ brokerOrderId: "b-3", status: "rejected" }),
        brokerOrder({ brokerOrderId: "b-4", status: "replaced", replacedBy: "b-5" }),
        brokerOrder({ brokerOrderId: "b-5", clientOrderId: "ours-4-r", status: "new" }),
      ],
    });
    expect(actions).toMatchObject([
      { code: "ORDER_STATUS_SYNCED", orderId: 1, to: "canceled", at: "2026-03-02T14:40:00.000Z" },
      { code: "ORDER_STATUS_SYNCED", orderId: 2, to: "expired" },
      { code: "ORDER_STATUS_SYNCED", orderId: 3, to: "rejected" },
      { code: "ORDER_STATUS_SYNCED", orderId: 4, to: "replaced", replacedBy: "b-5" },
      { code: "EXTERNAL_ORDER_FOUND", brokerOrderId: "b-5" },
    ]);
  });

  it("records the acknowledgement of an order we sent but never heard back about, found by client order id", () => {
    const actions = run({
      orders: [ours(1, { status: "pending_new" })],
      brokerOrders: [brokerOrder({ brokerOrderId: "b-1", clientOrderId: "ours-1", status: "new" })],
    });
    expect(actions).toMatchObject([
      {
        code: "ORDER_STATUS_SYNCED",
        orderId: 1,
        brokerOrderId: "b-1",
        from: "pending_new",
        to: "new",
      },
    ]);
  });

  it("leaves statuses alone that are not news: a working order, a late status for a finished order, a replacement without its successor", () => {
    expect(
      run({
        orders: [
          ours(1, { brokerOrderId: "b-1", status: "new" }),
          ours(2, { brokerOrderId: "b-2", status: "canceled" }),
          ours(3, { brokerOrderId: "b-3", status: "new" }),
        ],
        brokerOrders: [
          brokerOrder({ brokerOrderId: "b-1", status: "accepted" }),
          brokerOrder({ brokerOrderId: "b-2", status: "expired" }),
          brokerOrder({ brokerOrderId: "b-3", status: "replaced", replacedBy: null }),
        ],
      }),
    ).toEqual([]);
  });

  it("flags a working order the broker does not know, past the grace period only", () => {
    const actions = run({
      orders: [
        ours(1, { brokerOrderId: "b-1", status: "new" }),
        ours(2, { status: "pending_new" }),
        ours(3, { status: "pending_new", createdAt: NOW - 5_000 }),
        ours(4, { brokerOrderId: "b-4", status: "filled", fills: [["100", "1"]] }),
      ],
    });
    expect(actions).toEqual([
      {
        code: "ORDER_UNKNOWN_AT_BROKER",
        orderId: 1,
        symbol: "AAPL",
        clientOrderId: "ours-1",
        brokerOrderId: "b-1",
        role: "ENTRY",
        acknowledged: true,
      },
      {
        code: "ORDER_UNKNOWN_AT_BROKER",
        orderId: 2,
        symbol: "AAPL",
        clientOrderId: "ours-2",
        brokerOrderId: null,
        role: "ENTRY",
        acknowledged: false,
      },
    ]);
  });
});

describe("positions", () => {
  it("finds a manual close at the broker and prices it from the broker's closing order", () => {
    const actions = run({
      positions: [held(7, "AAPL", "100", "190", { markPrice: dec("192"), tradeId: 9 })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "manual-1",
          clientOrderId: "web-123",
          side: "sell",
          type: "market",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("193.25"),
          filledAt: new Date(NOW - 60_000),
        }),
      ],
    });
    expect(actions).toEqual([
      {
        code: "MANUAL_CLOSE_FOUND",
        positionId: 7,
        tradeId: 9,
        symbol: "AAPL",
        quantity: dec("100"),
        exitSide: "sell",
        price: dec("193.25"),
        priceSource: "broker_order",
        externalOrder: { brokerOrderId: "manual-1", clientOrderId: "web-123" },
      },
    ]);
  });

  it("names the order that closed a position flipped by hand, not the later one that reopened it", () => {
    const actions = run({
      positions: [held(7, "AAPL", "100", "190", { tradeId: 9 })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "close",
          clientOrderId: "web-1",
          side: "sell",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("193"),
          filledAt: new Date(NOW - 60_000),
        }),
        brokerOrder({
          brokerOrderId: "short",
          clientOrderId: "web-2",
          side: "sell",
          status: "filled",
          filledQty: dec("200"),
          filledAvgPrice: dec("188"),
          filledAt: new Date(NOW - 30_000),
        }),
      ],
      brokerPositions: [brokerPosition("AAPL", "-200", "188", "187")],
    });
    expect(actions).toMatchObject([
      {
        code: "MANUAL_CLOSE_FOUND",
        quantity: dec("100"),
        priceSource: "broker_order",
        externalOrder: { brokerOrderId: "close", clientOrderId: "web-1" },
      },
      { code: "POSITION_ADOPTED", quantity: dec("-200") },
    ]);
    expect(str((actions[0] as { price: Decimal }).price)).toBe("193");
  });

  it("prices from an order of another size without naming it as the close", () => {
    const actions = run({
      positions: [held(7, "AAPL", "100", "190")],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "part",
          side: "sell",
          status: "filled",
          filledQty: dec("60"),
          filledAvgPrice: dec("192"),
          filledAt: new Date(NOW - 30_000),
        }),
      ],
    });
    expect(actions).toMatchObject([
      { code: "MANUAL_CLOSE_FOUND", priceSource: "broker_order", externalOrder: null },
    ]);
    expect(str((actions[0] as { price: Decimal }).price)).toBe("192");
  });

  it("prices a manual close at the last mark, else at the entry (no P&L invented)", () => {
    const marked = run({ positions: [held(1, "AAPL", "100", "190", { markPrice: dec("192.5") })] });
    expect(marked).toMatchObject([{ code: "MANUAL_CLOSE_FOUND", priceSource: "mark" }]);
    expect(str((marked[0] as { price: Decimal }).price)).toBe("192.5");
    const unmarked = run({ positions: [held(1, "AAPL", "-50", "20.5")] });
    expect(unmarked).toMatchObject([
      { code: "MANUAL_CLOSE_FOUND", priceSource: "entry", exitSide: "buy" },
    ]);
    expect(str((unmarked[0] as { price: Decimal }).price)).toBe("20.5");
  });

  it("does not take a closing order from before the position opened as its exit", () => {
    const actions = run({
      positions: [held(1, "AAPL", "100", "190", { markPrice: dec("191"), openedAt: NOW - 1000 })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "old",
          side: "sell",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("150"),
          filledAt: new Date(NOW - 86_400_000),
        }),
      ],
    });
    expect(actions).toMatchObject([{ code: "MANUAL_CLOSE_FOUND", priceSource: "mark" }]);
  });

  it("takes a closing order filled just before the position opened by our clock (clock skew within the grace period)", () => {
    const actions = run({
      positions: [held(1, "AAPL", "100", "190", { markPrice: dec("191"), openedAt: NOW - 1000 })],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "skewed",
          side: "sell",
          status: "filled",
          filledQty: dec("100"),
          filledAvgPrice: dec("192"),
          filledAt: new Date(NOW - 1000 - GRACE + 1),
        }),
      ],
    });
    expect(actions).toMatchObject([{ code: "MANUAL_CLOSE_FOUND", priceSource: "broker_order" }]);
  });

  it("asks to cancel our exits still working for a position closed outside", () => {
    const stop = liveStop(5);
    const actions = run({
      positions: [held(1, "AAPL", "100", "190", { markPrice: dec("191") })],
      orders: [stop.known],
      brokerOrders: [stop.broker],
    });
    expect(actions).toMatchObject([
      { code: "MANUAL_CLOSE_FOUND", positionId: 1 },
      { code: "ORPHAN_EXIT_FOUND", orderId: 5, brokerOrderId: "b-5", role: "STOP_LOSS" },
    ]);
  });

  it("asks to cancel the exits the broker still works for a trade that ended before this run, past the grace period", () => {
    const stale = liveStop(6);
    const fresh = liveStop(7);
    const open = liveStop(8);
    const actions = run({
      orders: [
        { ...stale.known, tradeId: 3, tradeEndedAt: NOW - GRACE },
        { ...fresh.known, tradeId: 4, tradeEndedAt: NOW - GRACE + 1 },
        { ...open.known, tradeId: 5, tradeEndedAt: null },
      ],
      brokerOrders: [stale.broker, fresh.broker, open.broker],
    });
    // The exit of a trade ended just now may still be on its way out (an OCO's sibling); that
    // of an open trade is reported elsewhere (as not the desk's position's).
    expect(actions.filter((a) => a.code === "ORPHAN_EXIT_FOUND")).toEqual([
      {
        code: "ORPHAN_EXIT_FOUND",
        orderId: 6,
        tradeId: 3,
        symbol: "AAPL",
        brokerOrderId: "b-6",
        role: "STOP_LOSS",
      },
    ]);
  });

  it("adopts a broker position we do not know", () => {
    expect(run({ brokerPositions: [brokerPosition("TSLA", "-25", "250.5", "248")] })).toEqual([
      {
        code: "POSITION_ADOPTED",
        symbol: "TSLA",
        side: "short",
        quantity: dec("-25"),
        averageEntryPrice: dec("250.5"),
        markPrice: dec("248"),
      },
    ]);
  });

  it("corrects a smaller broker position as a partial exit at the best known price", () => {
    const stop = liveStop(5, "100");
    const actions = run({
      positions: [held(1, "AAPL", "100", "190")],
      orders: [stop.known],
      brokerOrders: [stop.broker],
      brokerPositions: [brokerPosition("AAPL", "60", "190", "195")],
    });
    expect(actions).toEqual([
      {
        code: "QUANTITY_MISMATCH",
        positionId: 1,
        tradeId: 1,
        symbol: "AAPL",
        ourQuantity: dec("100"),
        brokerQuantity: dec("60"),
        side: "sell",
        quantity: dec("40"),
        reduces: true,
        price: dec("195"),
        priceSource: "broker_position",
        externalOrder: null,
      },
    ]);
  });

  it("corrects a larger broker position as an addition at the implied price", () => {
    const actions = run({
      positions: [held(1, "AAPL", "100", "190")],
      brokerPositions: [brokerPosition("AAPL", "150", "192")],
    });
    // (150 x 192 - 100 x 190) / 50 = 196
    expect(actions).toMatchObject([
      {
        code: "QUANTITY_MISMATCH",
        side: "buy",
        quantity: dec("50"),
        reduces: false,
        priceSource: "implied",
      },
    ]);
    expect(str((actions[0] as { price: Decimal }).price)).toBe("196");
  });

  it("treats a short that grew at the broker as an addition on the sell side", () => {
    const actions = run({
      positions: [held(1, "TSLA", "-10", "250")],
      brokerPositions: [brokerPosition("TSLA", "-15", "248")],
    });
    expect(actions).toMatchObject([
      {
        code: "QUANTITY_MISMATCH",
        side: "sell",
        quantity: dec("5"),
        reduces: false,
        priceSource: "implied",
      },
    ]);
    // (15 x 248 - 10 x 250) / 5 = 244
    expect(str((actions[0] as { price: Decimal }).price)).toBe("244");
  });

  it("closes ours and adopts the broker's when the sides differ", () => {
    const actions = run({
      positions: [held(1, "AAPL", "100", "190", { markPrice: dec("189") })],
      brokerPositions: [brokerPosition("AAPL", "-20", "188", "187")],
    });
    expect(codes(actions)).toEqual(["MANUAL_CLOSE_FOUND", "POSITION_ADOPTED"]);
    expect(actions[1]).toMatchObject({ side: "short", quantity: dec("-20") });
  });

  it("leaves position corrections of a symbol with inferred fills for the next pass", () => {
    const actions = run({
      positions: [held(1, "AAPL", "40", "190")],
      orders: [
        ours(1, { brokerOrderId: "b-1", fills: [["40", "190"]], status: "partially_filled" }),
      ],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "partially_filled",
          filledQty: dec("60"),
          filledAvgPrice: dec("190"),
        }),
      ],
      brokerPositions: [brokerPosition("AAPL", "80", "190")],
    });
    expect(codes(actions)).toEqual(["MISSED_FILL_INFERRED"]);
  });
});

describe("protection", () => {
  it("finds a position without a stop, and one whose stop covers only part of it", () => {
    const partial = liveStop(5, "40", "MSFT");
    const actions = run({
      positions: [held(1, "AAPL", "100", "190"), held(2, "MSFT", "100", "400", { tradeId: 2 })],
      orders: [partial.known],
      brokerOrders: [partial.broker],
      brokerPositions: [brokerPosition("AAPL", "100", "190"), brokerPosition("MSFT", "100", "400")],
    });
    expect(actions).toEqual([
      {
        code: "STOP_MISSING",
        positionId: 1,
        tradeId: 1,
        symbol: "AAPL",
        quantity: dec("100"),
        coveredQuantity: dec("0"),
        lastStopOrderId: null,
      },
      {
        code: "STOP_MISSING",
        positionId: 2,
        tradeId: 2,
        symbol: "MSFT",
        quantity: dec("100"),
        coveredQuantity: dec("40"),
        lastStopOrderId: 5,
      },
    ]);
  });

  it("counts a held bracket stop of a filled entry, and a stop still in flight, as protection", () => {
    const entry = ours(1, {
      brokerOrderId: "b-1",
      fills: [["100", "190"]],
      status: "filled",
      orderClass: "bracket",
    });
    const leg = ours(
      2,
      {
        side: "sell",
        type: "stop",
        role: "STOP_LOSS",
        limitPrice: null,
        stopPrice: dec("184.5"),
        parentOrderId: 1,
      },
      "held",
    );
    const inFlight = ours(3, {
      symbol: "MSFT",
      side: "sell",
      type: "stop",
      role: "STOP_LOSS",
      limitPrice: null,
      stopPrice: dec("380"),
      createdAt: NOW - 1000,
    });
    expect(
      run({
        positions: [held(1, "AAPL", "100", "190"), held(2, "MSFT", "100", "400")],
        orders: [entry, leg, inFlight],
        brokerOrders: [
          brokerOrder({
            brokerOrderId: "b-1",
            orderClass: "bracket",
            status: "filled",
            filledQty: dec("100"),
            filledAvgPrice: dec("190"),
            legs: [
              brokerOrder({
                brokerOrderId: "b-2",
                side: "sell",
                type: "stop",
                limitPrice: null,
                stopPrice: dec("184.5"),
                status: "held",
              }),
            ],
          }),
        ],
        brokerPositions: [
          brokerPosition("AAPL", "100", "190"),
          brokerPosition("MSFT", "100", "400"),
        ],
      }),
    ).toEqual([]);
  });

  it("counts a bracket leg for no more than its entry filled, and not a stop gone at the broker or on the wrong side", () => {
    const entry = ours(1, {
      brokerOrderId: "b-1",
      fills: [["40", "190"]],
      status: "partially_filled",
      orderClass: "bracket",
    });
    const leg = ours(
      2,
      {
        side: "sell",
        type: "stop",
        role: "STOP_LOSS",
        limitPrice: null,
        stopPrice: dec("184.5"),
        parentOrderId: 1,
        brokerOrderId: "b-2",
      },
      "held",
    );
    const gone = liveStop(3, "100", "MSFT");
    const wrongSide = ours(4, {
      symbol: "TSLA",
      side: "buy",
      type: "stop",
      role: "STOP_LOSS",
      limitPrice: null,
      stopPrice: dec("300"),
      brokerOrderId: "b-4",
      status: "new",
    });
    const actions = run({
      positions: [
        held(1, "AAPL", "60", "190"),
        held(2, "MSFT", "100", "400"),
        held(3, "TSLA", "10", "250"),
      ],
      orders: [entry, leg, gone.known, wrongSide],
      brokerOrders: [
        brokerOrder({
          brokerOrderId: "b-1",
          status: "partially_filled",
          filledQty: dec("40"),
          filledAvgPrice: dec("190"),
          legs: [brokerOrder({ brokerOrderId: "b-2", side: "sell", type: "stop", status: "held" })],
        }),
        brokerOrder({ brokerOrderId: "b-4", symbol: "TSLA", side: "buy", type: "stop" }),
      ],
      brokerPositions: [
        brokerPosition("AAPL", "60", "190"),
        brokerPosition("MSFT", "100", "400"),
        brokerPosition("TSLA", "10", "250"),
      ],
    });
    expect(
      actions
        .filter((a) => a.code === "STOP_MISSING")
        .map((a) => [a.symbol, a.coveredQuantity.toString()]),
    ).toEqual([
      ["AAPL", "40"],
      ["MSFT", "0"],
      ["TSLA", "0"],
    ]);
    expect(codes(actions)).toContain("ORDER_UNKNOWN_AT_BROKER");
  });

  it("does not count the legs of an entry cancelled or expired short of its complete fill: the broker never arms them", () => {
    const actions = (["canceled", "expired"] as const).flatMap((status, i) => {
      const symbol = ["AAPL", "MSFT"][i] ?? "AAPL";
      const entry = ours(10 * i + 1, {
        symbol,
        brokerOrderId: `b-${10 * i + 1}`,
        fills: [["40", "190"]],
        status,
        orderClass: "bracket",
      });
      // The broker still shows the leg held (its own cancel not reported, or left held).
      const leg = ours(
        10 * i + 2,
        {
          symbol,
          side: "sell",
          type: "stop",
          role: "STOP_LOSS",
          limitPrice: null,
          stopPrice: dec("184.5"),
          parentOrderId: 10 * i + 1,
          brokerOrderId: `b-${10 * i + 2}`,
        },
        "held",
      );
      return run({
        positions: [held(i + 1, symbol, "40", "190")],
        orders: [entry, leg],
        brokerOrders: [
          brokerOrder({
            brokerOrderId: `b-${10 * i + 1}`,
            symbol,
            status,
            filledQty: dec("40"),
            filledAvgPrice: dec("190"),
            legs: [
              brokerOrder({
                brokerOrderId: `b-${10 * i + 2}`,
                symbol,
                side: "sell",
                type: "stop",
                status: "held",
              }),
            ],
          }),
        ],
        brokerPositions: [brokerPosition(symbol, "40", "190")],
      });
    });
    expect(
      actions
        .filter((a) => a.code === "STOP_MISSING")
        .map((a) => [a.symbol, a.coveredQuantity.toString()]),
    ).toEqual([
      ["AAPL", "0"],
      ["MSFT", "0"],
    ]);
  });

  it("gives a fresh position the grace period to be protected", () => {
    expect(
      run({
        positions: [held(1, "AAPL", "100", "190", { updatedAt: NOW - 10_000 })],
        brokerPositions: [brokerPosition("AAPL", "100", "190")],
      }),
    ).toEqual([]);
  });

  it("does not ask for a stop on a position it is correcting in the same run", () => {
    expect(
      codes(
        run({
          positions: [held(1, "AAPL", "100", "190")],
          brokerPositions: [brokerPosition("AAPL", "50", "190", "191")],
        }),
      ),
    ).toEqual(["QUANTITY_MISMATCH"]);
  });
});

describe("external orders", () => {
  it("reports a working broker order that is not ours, not a finished one", () => {
    const actions = run({
      brokerOrders: [
        brokerOrder({ brokerOrderId: "x-1", clientOrderId: "web-1", symbol: "NVDA" }),
        brokerOrder({ brokerOrderId: "x-2", clientOrderId: "web-2", status: "canceled" }),
      ],
    });
    expect(actions).toEqual([
      {
        code: "EXTERNAL_ORDER_FOUND",
        symbol: "NVDA",
        side: "buy",
        brokerOrderId: "x-1",
        clientOrderId: "web-1",
        status: "new",
      },
    ]);
  });
});

describe("stalled executions", () => {
  const stalled = (overrides: Partial<StalledExecution> = {}): StalledExecution => ({
    decisionId: 9,
    symbol: "AAPL",
    claimedAt: LONG_AGO,
    entry: ours(1, { tradeId: 4 }),
    entryAtBroker: false,
    ...overrides,
  });

  it("confirms an execution whose entry the broker acknowledged or knows by client order id", () => {
    const confirmed = {
      code: "EXECUTION_CONFIRMED",
      decisionId: 9,
      symbol: "AAPL",
      orderId: 1,
      tradeId: 4,
    };
    expect(settleStalledExecution(stalled({ entryAtBroker: true }), NOW, GRACE)).toEqual(confirmed);
    const acknowledged = ours(1, { tradeId: 4, brokerOrderId: "b-1", status: "new" });
    expect(
      settleStalledExecution(stalled({ entry: acknowledged, entryAtBroker: null }), NOW, GRACE),
    ).toEqual(confirmed);
    // Even one the entry's own record shows recorded just now: the broker has it.
    const fresh = ours(1, { tradeId: 4, createdAt: NOW - 1_000 });
    expect(
      settleStalledExecution(stalled({ entry: fresh, entryAtBroker: true }), NOW, GRACE),
    ).toEqual(confirmed);
  });

  it("fails one whose entry never reached the broker, past the grace period only", () => {
    expect(settleStalledExecution(stalled(), NOW, GRACE)).toEqual({
      code: "ENTRY_NEVER_SENT",
      decisionId: 9,
      symbol: "AAPL",
      orderId: 1,
      tradeId: 4,
      closeEntry: true,
    });
    const fresh = ours(1, { tradeId: 4, createdAt: NOW - GRACE + 1 });
    expect(settleStalledExecution(stalled({ entry: fresh }), NOW, GRACE)).toBeNull();
  });

  it("leaves an entry that already ended in the books as it is, failing only the decision", () => {
    const cancelled = ours(1, { tradeId: 4, status: "canceled" });
    expect(settleStalledExecution(stalled({ entry: cancelled }), NOW, GRACE)).toMatchObject({
      code: "ENTRY_NEVER_SENT",
      closeEntry: false,
    });
  });

  it("waits when the broker could not say whether it has the entry", () => {
    expect(settleStalledExecution(stalled({ entryAtBroker: null }), NOW, GRACE)).toBeNull();
  });

  it("fails one that never recorded an entry, once the claim is older than the grace period", () => {
    expect(settleStalledExecution(stalled({ entry: null }), NOW, GRACE)).toEqual({
      code: "ENTRY_NOT_RECORDED",
      decisionId: 9,
      symbol: "AAPL",
    });
    expect(
      settleStalledExecution(stalled({ entry: null, claimedAt: NOW - 1_000 }), NOW, GRACE),
    ).toBeNull();
  });

  it("never fails an execution the broker may have, and never within the grace period", () => {
    const statuses: OrderStatus[] = ["pending_new", "new", "canceled", "rejected", "filled"];
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.option(fc.constantFrom("b-1"), { nil: null }),
        fc.constantFrom(...statuses),
        fc.option(fc.boolean(), { nil: null }),
        fc.integer({ min: 0, max: 3 * GRACE }),
        fc.integer({ min: 0, max: 3 * GRACE }),
        (recorded, brokerOrderId, status, entryAtBroker, entryAge, claimAge) => {
          const entry = recorded
            ? ours(1, { brokerOrderId, status, createdAt: NOW - entryAge })
            : null;
          const settled = settleStalledExecution(
            stalled({ entry, entryAtBroker, claimedAt: NOW - claimAge }),
            NOW,
            GRACE,
          );
          const mayBeAtBroker = brokerOrderId !== null || entryAtBroker !== false;
          if (recorded && brokerOrderId === null && entryAtBroker === null) {
            expect(settled).toBeNull();
          }
          if (settled?.code === "ENTRY_NEVER_SENT") {
            expect(mayBeAtBroker).toBe(false);
            expect(entryAge).toBeGreaterThanOrEqual(GRACE);
          }
          if (settled?.code === "ENTRY_NOT_RECORDED") {
            expect(recorded).toBe(false);
            expect(claimAge).toBeGreaterThanOrEqual(GRACE);
          }
          if (settled?.code === "EXECUTION_CONFIRMED") {
            expect(recorded && (brokerOrderId !== null || entryAtBroker === true)).toBe(true);
          }
          if (recorded && (brokerOrderId !== null || entryAtBroker === true)) {
            expect(settled?.code).toBe("EXECUTION_CONFIRMED");
          }
        },
      ),
    );
  });
});

describe("protection by a close on its way", () => {
  /** A desk close (/close, /flatten) of `qty` AAPL, working at the broker while the market is shut. */
  function restingClose(id: number, qty = "100"): { known: KnownOrder; broker: BrokerOrder } {
    return {
      known: ours(id, {
        clientOrderId: `close-1-r-AAPL-1`,
        side: "sell",
        type: "market",
        role: "EXIT",
        quantity: dec(qty),
        limitPrice: null,
        brokerOrderId: `b-${id}`,
        status: "accepted",
      }),
      broker: brokerOrder({
        brokerOrderId: `b-${id}`,
        clientOrderId: `close-1-r-AAPL-1`,
        side: "sell",
        type: "market",
        status: "accepted",
        qty: dec(qty),
        limitPrice: null,
      }),
    };
  }

  it("counts a working close as covering the position it holds the shares of: no stop missing", () => {
    const close = restingClose(7);
    const actions = run({
      positions: [held(1, "AAPL", "100", "190")],
      orders: [close.known],
      brokerOrders: [close.broker],
      brokerPositions: [brokerPosition("AAPL", "100", "190")],
    });
    expect(codes(actions)).toEqual([]);
  });

  it("counts only what the close leaves working, and not a close the broker never had", () => {
    const partial = restingClose(7, "30");
    expect(
      run({
        positions: [held(1, "AAPL", "100", "190")],
        orders: [partial.known],
        brokerOrders: [partial.broker],
        brokerPositions: [brokerPosition("AAPL", "100", "190")],
      }),
    ).toEqual([expect.objectContaining({ code: "STOP_MISSING", coveredQuantity: dec("30") })]);
    const unsent = ours(8, {
      clientOrderId: "close-1-lost-AAPL-1",
      side: "sell",
      type: "market",
      role: "EXIT",
      limitPrice: null,
    });
    expect(
      codes(
        run({
          positions: [held(1, "AAPL", "100", "190")],
          orders: [unsent],
          brokerPositions: [brokerPosition("AAPL", "100", "190")],
        }),
      ),
    ).toEqual(["ORDER_UNKNOWN_AT_BROKER", "STOP_MISSING"]);
  });
});

describe("settleUnstartedExecution", () => {
  const unstarted = (dueAt: number) => ({ decisionId: 7, symbol: "AAPL", dueAt });

  it("fails an approved decision no job ran once the grace period since it became due is over", () => {
    expect(settleUnstartedExecution(unstarted(NOW - GRACE), NOW, GRACE)).toEqual({
      code: "EXECUTION_NEVER_STARTED",
      decisionId: 7,
      symbol: "AAPL",
    });
  });

  it("waits within the grace period, and for a decision not due yet", () => {
    expect(settleUnstartedExecution(unstarted(NOW - GRACE + 1), NOW, GRACE)).toBeNull();
    expect(settleUnstartedExecution(unstarted(NOW + 60_000), NOW, GRACE)).toBeNull();
  });
});
