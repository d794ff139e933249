import type { trading } from "@alpacahq/alpaca-trade-api";
import { describe, expect, it } from "vitest";
import { UnreadableBrokerResponse } from "../../../broker/alpaca/errors";
import {
  CASH_TRANSFER_ACTIVITIES,
  fromCashActivity,
  fromOrder,
  fromPosition,
  fromQuote,
  InvalidOrderRequest,
  toPatchOrderRequest,
  toPostOrderRequest,
} from "../../../broker/alpaca/mapping";
import { dec } from "../../../domain/money";

const common = {
  clientOrderId: "plan-42-entry",
  symbol: "AAPL",
  side: "buy",
  qty: dec("10"),
  timeInForce: "day",
} as const;

describe("toPostOrderRequest", () => {
  it("sends prices as tick-sized strings, never numbers", () => {
    const body = toPostOrderRequest({
      ...common,
      orderClass: "bracket",
      entry: { type: "limit", limitPrice: dec("190.1") },
      takeProfit: { limitPrice: dec("205") },
      stopLoss: { stopPrice: dec("184.5"), limitPrice: dec("184.25") },
    });
    expect(body).toEqual({
      symbol: "AAPL",
      side: "buy",
      qty: "10",
      timeInForce: "day",
      clientOrderId: "plan-42-entry",
      type: "limit",
      limitPrice: "190.10",
      orderClass: "bracket",
      takeProfit: { limitPrice: "205.00" },
      stopLoss: { stopPrice: "184.50", limitPrice: "184.25" },
    });
    const penny = toPostOrderRequest({
      ...common,
      orderClass: "simple",
      entry: { type: "stop", stopPrice: dec("0.5123") },
    });
    expect(penny.stopPrice).toBe("0.5123");
    expect(penny.positionIntent).toBeUndefined();
  });

  it("states a closing intent when asked, so the broker never opens the other side", () => {
    const close = toPostOrderRequest({
      ...common,
      side: "sell",
      positionIntent: "sell_to_close",
      orderClass: "simple",
      entry: { type: "market" },
    });
    expect(close).toMatchObject({ type: "market", side: "sell", positionIntent: "sell_to_close" });
  });

  it("builds OCO as a limit parent and OTO with its one exit", () => {
    const oco = toPostOrderRequest({
      ...common,
      side: "sell",
      orderClass: "oco",
      takeProfit: { limitPrice: dec("205") },
      stopLoss: { stopPrice: dec("184.5") },
    });
    expect(oco).toMatchObject({ type: "limit", orderClass: "oco", side: "sell" });
    expect(oco.limitPrice).toBeUndefined();
    const oto = toPostOrderRequest({
      ...common,
      orderClass: "oto",
      entry: { type: "market" },
      exit: { stopLoss: { stopPrice: dec("184.5") } },
    });
    expect(oto).toMatchObject({
      type: "market",
      orderClass: "oto",
      stopLoss: { stopPrice: "184.50" },
    });
    expect(oto.takeProfit).toBeUndefined();
  });

  it("keeps fractional quantities exact and refuses what the broker would refuse", () => {
    const fractional = toPostOrderRequest({
      ...common,
      qty: dec("0.123456789"),
      orderClass: "simple",
      entry: { type: "market" },
    });
    expect(fractional.qty).toBe("0.123456789");
    const refuse = (fn: () => unknown) => expect(fn).toThrow(InvalidOrderRequest);
    refuse(() =>
      toPostOrderRequest({
        ...common,
        orderClass: "simple",
        entry: { type: "limit", limitPrice: dec("190.105") },
      }),
    );
    refuse(() =>
      toPostOrderRequest({
        ...common,
        qty: dec("0"),
        orderClass: "simple",
        entry: { type: "market" },
      }),
    );
    refuse(() =>
      toPostOrderRequest({
        ...common,
        qty: dec("0.1234567891"),
        orderClass: "simple",
        entry: { type: "market" },
      }),
    );
    refuse(() =>
      toPostOrderRequest({
        ...common,
        clientOrderId: "x".repeat(129),
        orderClass: "simple",
        entry: { type: "market" },
      }),
    );
    refuse(() => toPatchOrderRequest({}));
  });

  it("builds replacements from the changed fields only", () => {
    expect(toPatchOrderRequest({ limitPrice: dec("189.5"), qty: dec("3") })).toEqual({
      limitPrice: "189.50",
      qty: "3",
    });
  });
});

const wireOrder = {
  id: "b1",
  clientOrderId: "c1",
  symbol: "AAPL",
  side: "buy",
  type: "limit",
  orderClass: "",
  timeInForce: "day",
  status: "partially_filled",
  qty: "10",
  notional: null,
  filledQty: "4",
  filledAvgPrice: "190.005",
  limitPrice: "190.01",
  createdAt: new Date("2026-03-02T14:35:00Z"),
} as const;

describe("reading the broker's answers", () => {
  it("reads an order with exact decimals, a blank class as simple", () => {
    const order = fromOrder(wireOrder);
    expect(order.orderClass).toBe("simple");
    expect(order.filledAvgPrice?.toString()).toBe("190.005");
    expect(order.filledQty.toString()).toBe("4");
    expect(order.stopPrice).toBeNull();
    expect(order.legs).toEqual([]);
  });

  it("refuses an order it cannot read rather than guessing", () => {
    expect(() => fromOrder({ ...wireOrder, status: "sideways" })).toThrow(UnreadableBrokerResponse);
    expect(() => fromOrder({ ...wireOrder, filledQty: "lots" })).toThrow(UnreadableBrokerResponse);
  });

  it("signs short positions", () => {
    const position = fromPosition({
      symbol: "TSLA",
      assetId: "a1",
      side: "short",
      qty: "-5",
      avgEntryPrice: "250.00",
      costBasis: "-1250.00",
      currentPrice: "249.00",
    } as trading.Position);
    expect(position.side).toBe("short");
    expect(position.qty.toString()).toBe("-5");
  });

  it("treats a zero bid or ask as no quote on that side", () => {
    const quote = fromQuote("AAPL", {
      ap: 190.01,
      as: 3,
      bp: 0,
      bs: 0,
      t: new Date("2026-03-02T14:35:00Z"),
    } as Parameters<typeof fromQuote>[1]);
    expect(quote.askPrice?.toString()).toBe("190.01");
    expect(quote.bidPrice).toBeNull();
  });
});

describe("reading cash activities", () => {
  const wire = (fields: Record<string, unknown>) =>
    fields as trading.GetAccountActivities200ResponseInner;

  it("counts a deposit in and a withdrawal out whatever sign is printed, a journal by its own", () => {
    const at = new Date("2026-03-02T15:00:00Z");
    const read = (type: string, net: string) =>
      fromCashActivity(
        wire({ id: `x-${type}`, activityType: type, netAmount: net, createdAt: at }),
      );
    expect(read("CSD", "-100").amount.toFixed()).toBe("100");
    expect(read("CSW", "250.5").amount.toFixed()).toBe("-250.5");
    expect(read("CSW", "-250.5").amount.toFixed()).toBe("-250.5");
    expect(read("JNLC", "-75").amount.toFixed()).toBe("-75");
    expect(read("JNLC", "75")).toMatchObject({ kind: "journal", at, canceled: false });
  });

  it("counts cash moved in or out between brokers (ACATC) by its own sign", () => {
    const at = new Date("2026-03-02T15:00:00Z");
    const read = (net: string) =>
      fromCashActivity(
        wire({ id: `acatc-${net}`, activityType: "ACATC", netAmount: net, createdAt: at }),
      );
    expect(read("-40000")).toMatchObject({ kind: "journal", at, canceled: false });
    expect(read("-40000").amount.toFixed()).toBe("-40000");
    expect(read("25000.5").amount.toFixed()).toBe("25000.5");
    // The activities asked for include it, so the day's transfers list it.
    expect(Object.keys(CASH_TRANSFER_ACTIVITIES)).toContain("ACATC");
  });

  it("books one without a creation time on its New York date, and reads a canceled one", () => {
    const read = fromCashActivity(
      wire({
        id: "y",
        activityType: "CSW",
        netAmount: "-10",
        date: new Date("2026-03-02"),
        status: "canceled",
      }),
    );
    expect(read.at.toISOString()).toBe("2026-03-02T17:00:00.000Z");
    expect(read.canceled).toBe(true);
  });

  it("refuses an activity that moves no cash", () => {
    expect(() => fromCashActivity(wire({ id: "z", activityType: "FILL", netAmount: "1" }))).toThrow(
      UnreadableBrokerResponse,
    );
  });
});
