import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decimal, dec, sumDecimals } from "../../domain/money";
import type { OrderSide } from "../../domain/order";
import type { PositionSide } from "../../domain/tick";
import {
  applyTradeFill,
  cancelTrade,
  canTransitionTrade,
  createTrade,
  type ExitReason,
  exitReasonFor,
  type NewTrade,
  rMultipleOf,
  TRADE_STATUSES,
  TRADE_TRANSITIONS,
  type Trade,
  type TradeFill,
  type TradeFillApplied,
  type TradeRefusal,
  tradeUnrealizedPnl,
} from "../../domain/trade";

const OPENED_AT = "2026-03-02T14:35:00Z";

function plan(overrides: Partial<NewTrade> = {}): NewTrade {
  return {
    id: "trade-1",
    symbol: "AAPL",
    side: "long",
    plannedEntryPrice: dec("100"),
    plannedStopPrice: dec("95"),
    plannedTargetPrice: dec("110"),
    plannedQuantity: dec("10"),
    plannedRisk: dec("50"),
    ...overrides,
  };
}

const ordered = (overrides: Partial<NewTrade> = {}) => createTrade(plan(overrides), OPENED_AT);

function entry(
  side: OrderSide,
  quantity: string,
  price: string,
  at = "2026-03-02T14:36:00Z",
): TradeFill {
  return { role: "ENTRY", side, quantity: dec(quantity), price: dec(price), at };
}

function exitBy(
  role: "STOP_LOSS" | "TAKE_PROFIT",
  side: OrderSide,
  quantity: string,
  price: string,
): TradeFill {
  return { role, side, quantity: dec(quantity), price: dec(price), at: "2026-03-02T15:00:00Z" };
}

function manualExit(
  side: OrderSide,
  quantity: string,
  price: string,
  exitReason: ExitReason,
): TradeFill {
  return {
    role: "EXIT",
    exitReason,
    side,
    quantity: dec(quantity),
    price: dec(price),
    at: "2026-03-02T16:00:00Z",
  };
}

function apply(trade: Trade, fill: TradeFill): TradeFillApplied {
  const r = applyTradeFill(trade, fill);
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
}

function refused(trade: Trade, fill: TradeFill): TradeRefusal {
  const r = applyTradeFill(trade, fill);
  if (r.ok) throw new Error(`accepted: ${r.value.trade.status}`);
  return r;
}

describe("createTrade", () => {
  it("journals the plan as ORDERED with nothing filled", () => {
    const t = ordered();
    expect(t.status).toBe("ORDERED");
    expect(t.quantity.isZero()).toBe(true);
    expect(t.averageEntryPrice).toBeNull();
    expect(t.rMultiple).toBeNull();
    expect(t.exitReason).toBeNull();
    expect(t.openedAt).toBeNull();
    expect(t.plannedRisk.toString()).toBe("50");
  });

  it("throws on a non-positive planned quantity or negative risk, caller bugs", () => {
    expect(() => ordered({ plannedQuantity: dec("0") })).toThrow(RangeError);
    expect(() => ordered({ plannedRisk: dec("-1") })).toThrow(RangeError);
  });
});

describe("long trade lifecycle", () => {
  it("opens on the first entry fill and scales in", () => {
    const first = apply(ordered(), entry("buy", "4", "100"));
    expect(first.opened).toBe(true);
    expect(first.trade.status).toBe("POSITION");
    expect(first.trade.openedAt).toBe("2026-03-02T14:36:00Z");
    const second = apply(first.trade, entry("buy", "6", "101", "2026-03-02T14:37:00Z"));
    expect(second.opened).toBe(false);
    expect(second.trade.quantity.toString()).toBe("10");
    expect(second.trade.averageEntryPrice?.toString()).toBe("100.6");
    expect(second.trade.openedAt).toBe("2026-03-02T14:36:00Z");
  });

  it("closes as PROFIT_TAKEN when the take-profit brings it flat, with P&L and R", () => {
    let t = apply(ordered(), entry("buy", "10", "100")).trade;
    const part = apply(t, exitBy("TAKE_PROFIT", "sell", "4", "110"));
    expect(part.closed).toBe(false);
    expect(part.realizedPnl.toString()).toBe("40");
    expect(part.trade.status).toBe("POSITION");
    expect(part.trade.rMultiple?.toString()).toBe("0.8");
    t = apply(part.trade, exitBy("TAKE_PROFIT", "sell", "6", "110")).trade;
    expect(t.status).toBe("CLOSED");
    expect(t.exitReason).toBe("PROFIT_TAKEN");
    expect(t.realizedPnl.toString()).toBe("100");
    expect(t.rMultiple?.toString()).toBe("2");
    expect(t.averageExitPrice?.toString()).toBe("110");
    expect(t.quantity.isZero()).toBe(true);
    expect(t.closedAt).toBe("2026-03-02T15:00:00Z");
  });

  it("closes as STOPPED_OUT at -1R when the stop fills at the planned stop", () => {
    const t = apply(ordered(), entry("buy", "10", "100")).trade;
    const out = apply(t, exitBy("STOP_LOSS", "sell", "10", "95")).trade;
    expect(out.status).toBe("CLOSED");
    expect(out.exitReason).toBe("STOPPED_OUT");
    expect(out.realizedPnl.toString()).toBe("-50");
    expect(out.rMultiple?.toString()).toBe("-1");
  });

  it("takes the closing order's reason when the last exit is a manual exit or a flatten", () => {
    const t = apply(ordered(), entry("buy", "10", "100")).trade;
    const partial = apply(t, exitBy("TAKE_PROFIT", "sell", "5", "110")).trade;
    const flattened = apply(partial, manualExit("sell", "5", "98", "FLATTENED")).trade;
    expect(flattened.exitReason).toBe("FLATTENED");
    expect(flattened.realizedPnl.toString()).toBe("40"); // 50 - 10
    const manual = apply(t, manualExit("sell", "10", "101", "MANUAL_EXIT")).trade;
    expect(manual.exitReason).toBe("MANUAL_EXIT");
  });

  it("closes a partial entry that was then cancelled by its exits", () => {
    const t = apply(ordered(), entry("buy", "3", "100")).trade;
    expect(cancelTrade(t, OPENED_AT).ok).toBe(false);
    const closed = apply(t, exitBy("STOP_LOSS", "sell", "3", "95")).trade;
    expect(closed.status).toBe("CLOSED");
    expect(closed.realizedPnl.toString()).toBe("-15");
    // 3 of the planned 10 were bought: $15 was at risk, and the stop took all of it.
    expect(closed.rMultiple?.toString()).toBe("-1");
  });
});

describe("short trade lifecycle", () => {
  const short = () =>
    ordered({
      side: "short",
      plannedEntryPrice: dec("50"),
      plannedStopPrice: dec("52"),
      plannedTargetPrice: dec("46"),
      plannedQuantity: dec("20"),
      plannedRisk: dec("40"),
    });

  it("sells to open, buys to cover, profits as the price falls", () => {
    const t = apply(short(), entry("sell", "20", "50")).trade;
    expect(t.status).toBe("POSITION");
    expect(tradeUnrealizedPnl(t, dec("48")).toString()).toBe("40");
    const closed = apply(t, exitBy("TAKE_PROFIT", "buy", "20", "46")).trade;
    expect(closed.exitReason).toBe("PROFIT_TAKEN");
    expect(closed.realizedPnl.toString()).toBe("80");
    expect(closed.rMultiple?.toString()).toBe("2");
  });

  it("refuses a buy entry on a short trade and a sell stop on it", () => {
    expect(refused(short(), entry("buy", "1", "50")).code).toBe("ROLE_SIDE_MISMATCH");
    const t = apply(short(), entry("sell", "20", "50")).trade;
    expect(refused(t, exitBy("STOP_LOSS", "sell", "20", "52")).code).toBe("ROLE_SIDE_MISMATCH");
  });
});

describe("fractional quantities and commissions", () => {
  it("stays exact with fractional shares and deducts commissions", () => {
    let t = apply(ordered(), { ...entry("buy", "0.25", "190.10"), commission: dec("0.01") }).trade;
    t = apply(t, { ...entry("buy", "0.5", "190.40"), commission: dec("0.01") }).trade;
    expect(t.quantity.toString()).toBe("0.75");
    const closed = apply(t, {
      ...exitBy("TAKE_PROFIT", "sell", "0.75", "200"),
      commission: dec("0.02"),
    }).trade;
    // 150 - (47.525 + 95.2) - 0.04
    expect(closed.realizedPnl.toString()).toBe("7.235");
    expect(closed.commissions.toString()).toBe("0.04");
    // 0.75 of the planned 10 shares filled: 7.5% of the planned $50 was at risk.
    expect(closed.rMultiple?.toString()).toBe(dec("7.235").div("3.75").toString());
  });
});

describe("R multiple", () => {
  it("is measured on the risk of the quantity filled when the entry filled in part", () => {
    // 30 of 100 planned shares filled at the entry, $5 a share to the stop: $150 at risk.
    const planned = ordered({ plannedQuantity: dec("100"), plannedRisk: dec("500") });
    const t = apply(planned, entry("buy", "30", "100")).trade;
    const stopped = apply(t, exitBy("STOP_LOSS", "sell", "30", "95")).trade;
    expect(stopped.realizedPnl.toString()).toBe("-150");
    expect(stopped.rMultiple?.toString()).toBe("-1");
    const target = apply(t, exitBy("TAKE_PROFIT", "sell", "30", "110")).trade;
    expect(target.rMultiple?.toString()).toBe("2");
  });

  it("scales with a partial exit of a partly filled entry", () => {
    const planned = ordered({ plannedQuantity: dec("100"), plannedRisk: dec("500") });
    const t = apply(planned, entry("buy", "40", "100")).trade;
    const part = apply(t, exitBy("TAKE_PROFIT", "sell", "20", "110")).trade;
    // $200 realized on $200 at risk (40 shares x $5).
    expect(part.rMultiple?.toString()).toBe("1");
  });

  it("is null when the planned risk is zero", () => {
    const t = apply(ordered({ plannedRisk: dec("0") }), entry("buy", "10", "100")).trade;
    const closed = apply(t, exitBy("TAKE_PROFIT", "sell", "10", "110")).trade;
    expect(closed.rMultiple).toBeNull();
    expect(rMultipleOf(dec("10"), dec("0"))).toBeNull();
    expect(rMultipleOf(dec("-25"), dec("50"))?.toString()).toBe("-0.5");
  });
});

describe("illegal transitions", () => {
  it("refuses an exit before any entry", () => {
    const r = refused(ordered(), exitBy("STOP_LOSS", "sell", "1", "95"));
    expect(r).toMatchObject({ code: "ILLEGAL_TRANSITION", from: "ORDERED", to: "CLOSED" });
  });

  it("refuses an exit larger than the open quantity: a trade never flips", () => {
    const t = apply(ordered(), entry("buy", "10", "100")).trade;
    expect(refused(t, exitBy("STOP_LOSS", "sell", "10.5", "95")).code).toBe(
      "EXIT_EXCEEDS_POSITION",
    );
  });

  it("refuses any fill on a closed trade", () => {
    const t = apply(
      apply(ordered(), entry("buy", "10", "100")).trade,
      exitBy("STOP_LOSS", "sell", "10", "95"),
    ).trade;
    expect(refused(t, exitBy("TAKE_PROFIT", "sell", "1", "110"))).toMatchObject({
      code: "ILLEGAL_TRANSITION",
      from: "CLOSED",
    });
    expect(refused(t, entry("buy", "1", "100")).code).toBe("ILLEGAL_TRANSITION");
  });

  it("refuses invalid fills", () => {
    expect(refused(ordered(), entry("buy", "0", "100")).code).toBe("INVALID_FILL");
    expect(refused(ordered(), entry("buy", "1", "-1")).code).toBe("INVALID_FILL");
    expect(refused(ordered(), { ...entry("buy", "1", "100"), commission: dec("-1") }).code).toBe(
      "INVALID_FILL",
    );
  });

  it("holds the lifecycle table", () => {
    expect(Object.keys(TRADE_TRANSITIONS).sort()).toEqual([...TRADE_STATUSES].sort());
    expect(canTransitionTrade("ORDERED", "POSITION")).toBe(true);
    expect(canTransitionTrade("ORDERED", "CLOSED")).toBe(false);
    expect(canTransitionTrade("CLOSED", "POSITION")).toBe(false);
    expect(TRADE_TRANSITIONS.CLOSED).toEqual([]);
  });
});

describe("cancel", () => {
  it("cancels an entry that ended with zero fill, once", () => {
    const r = cancelTrade(ordered(), "2026-03-02T20:00:00Z");
    if (!r.ok) throw new Error(r.message);
    expect(r.value.changed).toBe(true);
    expect(r.value.trade.status).toBe("CANCELLED");
    expect(r.value.trade.updatedAt).toBe("2026-03-02T20:00:00Z");
    const again = cancelTrade(r.value.trade, "2026-03-02T20:01:00Z");
    if (!again.ok) throw new Error(again.message);
    expect(again.value.changed).toBe(false);
    expect(again.value.trade).toBe(r.value.trade);
  });

  it("refuses to cancel a trade with a position or a closed one", () => {
    const t = apply(ordered(), entry("buy", "1", "100")).trade;
    const r = cancelTrade(t, OPENED_AT);
    expect(r).toMatchObject({
      ok: false,
      code: "ILLEGAL_TRANSITION",
      from: "POSITION",
      to: "CANCELLED",
    });
  });

  it("reopens a cancelled trade on a late entry fill: the position is real", () => {
    const cancelled = cancelTrade(ordered(), OPENED_AT);
    if (!cancelled.ok) throw new Error(cancelled.message);
    const late = apply(cancelled.value.trade, entry("buy", "2", "100"));
    expect(late.opened).toBe(true);
    expect(late.trade.status).toBe("POSITION");
    expect(late.trade.quantity.toString()).toBe("2");
  });

  it("refuses an exit on a cancelled trade", () => {
    const cancelled = cancelTrade(ordered(), OPENED_AT);
    if (!cancelled.ok) throw new Error(cancelled.message);
    expect(refused(cancelled.value.trade, exitBy("STOP_LOSS", "sell", "1", "95")).code).toBe(
      "ILLEGAL_TRANSITION",
    );
  });
});

describe("exit reasons", () => {
  it("derive from the closing order's role", () => {
    expect(exitReasonFor(exitBy("STOP_LOSS", "sell", "1", "1"))).toBe("STOPPED_OUT");
    expect(exitReasonFor(exitBy("TAKE_PROFIT", "sell", "1", "1"))).toBe("PROFIT_TAKEN");
    expect(exitReasonFor(manualExit("sell", "1", "1", "FLATTENED"))).toBe("FLATTENED");
  });
});

describe("trade properties", () => {
  const sideArb = fc.constantFrom<PositionSide>("long", "short");
  const qtyArb = fc.integer({ min: 1, max: 2000 }).map((n) => dec(n).div(100));
  const priceArb = fc.integer({ min: 100, max: 50000 }).map((n) => dec(n).div(100));

  it("realizes exit notional minus entry notional (reversed for a short) minus commissions when closed", () => {
    fc.assert(
      fc.property(
        sideArb,
        fc.array(fc.record({ q: qtyArb, p: priceArb }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ share: fc.integer({ min: 1, max: 100 }), p: priceArb }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 0, max: 200 }).map((n) => dec(n).div(100)),
        (side, entries, exits, commission) => {
          const buyOrSell = (open: boolean): OrderSide =>
            (side === "long") === open ? "buy" : "sell";
          let t = createTrade(plan({ side }), OPENED_AT);
          for (const e of entries) {
            t = apply(t, {
              role: "ENTRY",
              side: buyOrSell(true),
              quantity: e.q,
              price: e.p,
              commission,
              at: "a",
            }).trade;
          }
          const roles = ["STOP_LOSS", "TAKE_PROFIT"] as const;
          const exitFills: Decimal[] = [];
          for (const [i, x] of exits.entries()) {
            const last = i === exits.length - 1;
            const quantity = last
              ? t.quantity
              : t.quantity.times(x.share).div(100).toDecimalPlaces(2, Decimal.ROUND_DOWN);
            if (quantity.isZero()) continue;
            const role = roles[i % 2] ?? "STOP_LOSS";
            const r = apply(t, {
              role,
              side: buyOrSell(false),
              quantity,
              price: x.p,
              commission,
              at: "b",
            });
            exitFills.push(r.realizedPnl);
            t = r.trade;
          }
          expect(t.status).toBe("CLOSED");
          const gross =
            side === "long"
              ? t.exitNotional.minus(t.entryNotional)
              : t.entryNotional.minus(t.exitNotional);
          expect(t.realizedPnl.eq(gross.minus(t.commissions))).toBe(true);
          expect(t.entryQuantity.eq(t.exitQuantity)).toBe(true);
          const filledRisk = t.plannedRisk.times(t.entryQuantity).div(t.plannedQuantity);
          expect(t.rMultiple?.eq(t.realizedPnl.div(filledRisk))).toBe(true);
          expect(t.exitReason).not.toBeNull();
          // Entry commissions are realized when paid; the exits realize the rest.
          const entryCommissions = commission.times(entries.length);
          expect(sumDecimals(exitFills).minus(entryCommissions).eq(t.realizedPnl)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
