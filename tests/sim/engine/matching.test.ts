import { describe, expect, it } from "vitest";
import { Dec } from "../../../sim/engine/decimal";
import { decide, trailStop } from "../../../sim/engine/matching";
import type { Quote, SimOrder } from "../../../sim/engine/types";

const d = (v: string) => new Dec(v);

function quote(bid: string, ask: string, last: string): Quote {
  return {
    bid: d(bid),
    ask: d(ask),
    last: d(last),
    bidSize: 100,
    askSize: 100,
    lastSize: 100,
    time: new Date(0),
    tradeId: 1,
  };
}

function order(over: Partial<SimOrder>): SimOrder {
  const t = new Date(0);
  return {
    id: "o",
    seq: 1,
    clientOrderId: "c",
    symbol: "AAPL",
    assetId: "a",
    side: "buy",
    type: "market",
    timeInForce: "day",
    orderClass: "simple",
    qty: d("10"),
    notional: null,
    filledQty: d("0"),
    filledNotional: d("0"),
    limitPrice: null,
    stopPrice: null,
    trailPrice: null,
    trailPercent: null,
    hwm: null,
    stopTriggered: false,
    status: "new",
    extendedHours: false,
    createdAt: t,
    updatedAt: t,
    submittedAt: t,
    filledAt: null,
    expiredAt: null,
    canceledAt: null,
    failedAt: null,
    replacedAt: null,
    replacedBy: null,
    replaces: null,
    parentId: null,
    legIds: [],
    role: "entry",
    armed: false,
    pendingFrom: null,
    positionIntent: "buy_to_open",
    ...over,
  };
}

const run = (
  o: SimOrder,
  q: Quote,
  available: string | null = null,
  phase: "continuous" | "open" | "close" = "continuous",
) => decide(o, q, phase, available ? d(available) : null, (o.qty ?? d("0")).minus(o.filledQty));

describe("matching decisions", () => {
  it("takes the ask to buy and the bid to sell", () => {
    expect(run(order({}), quote("9.99", "10.01", "10"))).toMatchObject({
      kind: "fill",
      price: d("10.01"),
      qty: d("10"),
    });
    expect(run(order({ side: "sell" }), quote("9.99", "10.01", "10"))).toMatchObject({
      price: d("9.99"),
    });
  });

  it("fills limits only when the other side reaches them", () => {
    const buy = order({ type: "limit", limitPrice: d("10") });
    expect(run(buy, quote("9.99", "10.01", "10")).kind).toBe("wait");
    expect(run(buy, quote("9.97", "9.98", "9.98"))).toMatchObject({
      kind: "fill",
      price: d("9.98"),
    });
    const ioc = order({ type: "limit", limitPrice: d("10"), timeInForce: "ioc" });
    expect(run(ioc, quote("9.99", "10.01", "10")).kind).toBe("cancel");
  });

  it("caps the size at the available liquidity, and fok refuses a partial", () => {
    expect(run(order({}), quote("9.99", "10.01", "10"), "4")).toMatchObject({
      kind: "fill",
      qty: d("4"),
    });
    expect(run(order({ timeInForce: "fok" }), quote("9.99", "10.01", "10"), "4").kind).toBe(
      "cancel",
    );
  });

  it("triggers a sell stop on the last trade and fills at the bid through a gap", () => {
    const stop = order({ side: "sell", type: "stop", stopPrice: d("95") });
    expect(run(stop, quote("95.01", "95.03", "95.02")).kind).toBe("wait");
    expect(run(stop, quote("90.00", "90.02", "90.01"))).toMatchObject({
      kind: "fill",
      price: d("90"),
    });
    expect(stop.stopTriggered).toBe(true);
  });

  it("keeps a triggered stop-limit resting until its limit is marketable", () => {
    const sl = order({
      side: "sell",
      type: "stop_limit",
      stopPrice: d("95"),
      limitPrice: d("94.50"),
    });
    expect(run(sl, quote("94.00", "94.02", "94.01")).kind).toBe("wait");
    expect(sl.stopTriggered).toBe(true);
    expect(run(sl, quote("94.60", "94.62", "94.61"))).toMatchObject({
      kind: "fill",
      price: d("94.6"),
    });
  });

  it("moves a trailing stop with the high-water mark, by price or percent", () => {
    const byPrice = order({ side: "sell", type: "trailing_stop", trailPrice: d("1.50") });
    trailStop(byPrice, d("100"));
    trailStop(byPrice, d("103"));
    trailStop(byPrice, d("102"));
    expect([byPrice.hwm?.toFixed(), byPrice.stopPrice?.toFixed()]).toEqual(["103", "101.5"]);
    const byPercent = order({ side: "buy", type: "trailing_stop", trailPercent: d("2") });
    trailStop(byPercent, d("50"));
    trailStop(byPercent, d("48.50"));
    expect([byPercent.hwm?.toFixed(), byPercent.stopPrice?.toFixed()]).toEqual(["48.5", "49.47"]);
  });

  it("keeps opg and cls orders for their auctions", () => {
    const opg = order({ timeInForce: "opg" });
    expect(run(opg, quote("9.99", "10.01", "10")).kind).toBe("wait");
    expect(run(opg, quote("9.99", "10.01", "10"), null, "open").kind).toBe("fill");
    const cls = order({ timeInForce: "cls", type: "limit", limitPrice: d("9") });
    expect(run(cls, quote("9.99", "10.01", "10"), null, "close").kind).toBe("cancel");
  });
});
