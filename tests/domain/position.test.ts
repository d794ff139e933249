import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Decimal, dec, sumDecimals, ZERO } from "../../domain/money";
import type { OrderSide } from "../../domain/order";
import {
  applyFillToPosition,
  averageEntryPrice,
  flatPosition,
  marketValue,
  type Position,
  type PositionFill,
  type PositionFillApplied,
  positionSide,
  signedFillQuantity,
  unrealizedPnl,
} from "../../domain/position";

function fill(side: OrderSide, quantity: string, price: string, commission?: string): PositionFill {
  return {
    side,
    quantity: dec(quantity),
    price: dec(price),
    ...(commission === undefined ? {} : { commission: dec(commission) }),
  };
}

function apply(position: Position, f: PositionFill): PositionFillApplied {
  const r = applyFillToPosition(position, f);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function applyAll(position: Position, fills: readonly PositionFill[]): Position {
  return fills.reduce((p, f) => apply(p, f).position, position);
}

const flat = flatPosition("AAPL");

describe("long positions", () => {
  it("opens, scales in at average cost, scales out realizing on the closed part, and closes", () => {
    const opened = apply(flat, fill("buy", "10", "100"));
    expect(opened.position.quantity.toString()).toBe("10");
    expect(opened.realizedPnl.isZero()).toBe(true);
    expect(opened.openedQuantity.toString()).toBe("10");
    expect(positionSide(opened.position)).toBe("long");

    const scaled = apply(opened.position, fill("buy", "10", "110")).position;
    expect(averageEntryPrice(scaled)?.toString()).toBe("105");
    expect(scaled.costBasis.toString()).toBe("2100");

    const out = apply(scaled, fill("sell", "5", "120"));
    expect(out.realizedPnl.toString()).toBe("75"); // 5 x (120 - 105)
    expect(out.closedQuantity.toString()).toBe("5");
    expect(out.position.quantity.toString()).toBe("15");
    expect(averageEntryPrice(out.position)?.toString()).toBe("105");

    const closed = apply(out.position, fill("sell", "15", "100"));
    expect(closed.realizedPnl.toString()).toBe("-75"); // 15 x (100 - 105)
    expect(closed.position.quantity.isZero()).toBe(true);
    expect(closed.position.costBasis.isZero()).toBe(true);
    expect(closed.position.realizedPnl.isZero()).toBe(true);
    expect(positionSide(closed.position)).toBeNull();
    expect(averageEntryPrice(closed.position)).toBeNull();
  });

  it("values at a mark price", () => {
    const p = applyAll(flat, [fill("buy", "10", "100")]);
    expect(marketValue(p, dec("103.5")).toString()).toBe("1035");
    expect(unrealizedPnl(p, dec("103.5")).toString()).toBe("35");
    expect(unrealizedPnl(p, dec("98")).toString()).toBe("-20");
  });
});

describe("short positions", () => {
  it("opens, scales in, covers part and closes, gaining as the price falls", () => {
    const opened = applyAll(flat, [fill("sell", "10", "50"), fill("sell", "10", "52")]);
    expect(opened.quantity.toString()).toBe("-20");
    expect(opened.costBasis.toString()).toBe("-1020");
    expect(averageEntryPrice(opened)?.toString()).toBe("51");
    expect(positionSide(opened)).toBe("short");
    expect(marketValue(opened, dec("48")).toString()).toBe("-960");
    expect(unrealizedPnl(opened, dec("48")).toString()).toBe("60");

    const covered = apply(opened, fill("buy", "5", "48"));
    expect(covered.realizedPnl.toString()).toBe("15"); // 5 x (51 - 48)
    expect(covered.position.quantity.toString()).toBe("-15");

    const closed = apply(covered.position, fill("buy", "15", "53"));
    expect(closed.realizedPnl.toString()).toBe("-30"); // 15 x (51 - 53)
    expect(closed.position.quantity.isZero()).toBe(true);
    expect(closed.position.realizedPnl.toString()).toBe("-15");
  });
});

describe("flipping through zero", () => {
  it("splits a long-to-short fill: realizes the closing part and opens the rest at the fill price", () => {
    const long = applyAll(flat, [fill("buy", "10", "100")]);
    const flip = apply(long, fill("sell", "15", "110", "1"));
    expect(flip.flipped).toBe(true);
    expect(flip.closedQuantity.toString()).toBe("10");
    expect(flip.openedQuantity.toString()).toBe("5");
    expect(flip.realizedPnl.toString()).toBe("99"); // 10 x 10 - 1 commission
    expect(flip.position.quantity.toString()).toBe("-5");
    expect(averageEntryPrice(flip.position)?.toString()).toBe("110");
    expect(unrealizedPnl(flip.position, dec("110")).isZero()).toBe(true);
  });

  it("splits a short-to-long fill", () => {
    const short = applyAll(flat, [fill("sell", "3", "20")]);
    const flip = apply(short, fill("buy", "5", "18"));
    expect(flip.flipped).toBe(true);
    expect(flip.realizedPnl.toString()).toBe("6");
    expect(flip.position.quantity.toString()).toBe("2");
    expect(averageEntryPrice(flip.position)?.toString()).toBe("18");
  });

  it("does not call an exact close a flip", () => {
    const long = applyAll(flat, [fill("buy", "10", "100")]);
    const close = apply(long, fill("sell", "10", "100"));
    expect(close.flipped).toBe(false);
    expect(close.openedQuantity.isZero()).toBe(true);
  });
});

describe("commissions", () => {
  it("reduce realized P&L on every fill, opening ones too", () => {
    const opened = apply(flat, fill("buy", "10", "100", "1.25"));
    expect(opened.realizedPnl.toString()).toBe("-1.25");
    expect(opened.position.commissions.toString()).toBe("1.25");
    // The cost basis is the price alone: the commission is already in realized P&L.
    expect(averageEntryPrice(opened.position)?.toString()).toBe("100");
    const closed = apply(opened.position, fill("sell", "10", "101", "1.25"));
    expect(closed.realizedPnl.toString()).toBe("8.75");
    expect(closed.position.realizedPnl.toString()).toBe("7.5");
    expect(closed.position.commissions.toString()).toBe("2.5");
  });
});

describe("fractional quantities and repeating averages", () => {
  it("stays exact with fractional shares", () => {
    const p = applyAll(flat, [fill("buy", "0.3", "190.10"), fill("buy", "0.45", "190.30")]);
    expect(p.quantity.toString()).toBe("0.75");
    expect(p.costBasis.toString()).toBe("142.665");
    const out = apply(p, fill("sell", "0.75", "191"));
    expect(out.realizedPnl.toString()).toBe("0.585"); // 143.25 - 142.665
  });

  it("realizes exactly the round trip even when the average does not terminate", () => {
    const p = applyAll(flat, [fill("buy", "1", "10"), fill("buy", "2", "11")]); // average 32/3
    const a = apply(p, fill("sell", "1", "12"));
    const b = apply(a.position, fill("sell", "2", "12"));
    expect(a.realizedPnl.plus(b.realizedPnl).toString()).toBe("4"); // 36 - 32
    expect(b.position.costBasis.isZero()).toBe(true);
  });

  it("keeps a round trip exact when a partial close takes a small, non-terminating cost share", () => {
    const fills = [
      fill("buy", "20.88", "0.01"),
      fill("buy", "14.43", "0.03"),
      fill("sell", "12.15", "0.01"),
      fill("sell", "23.16", "0.45"),
    ];
    let position = flat;
    let realized = ZERO;
    for (const f of fills) {
      const step = apply(position, f);
      realized = realized.plus(step.realizedPnl);
      position = step.position;
    }
    // cash: 0.1215 + 10.422 - 0.2088 - 0.4329
    expect(realized.toString()).toBe("9.9018");
    expect(position.realizedPnl.toString()).toBe("9.9018");
  });
});

describe("refusals", () => {
  it("refuses non-positive quantities and prices and negative commissions", () => {
    for (const f of [
      fill("buy", "0", "10"),
      fill("buy", "-1", "10"),
      fill("buy", "1", "0"),
      fill("buy", "1", "10", "-0.01"),
    ]) {
      const r = applyFillToPosition(flat, f);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe("INVALID_FILL");
    }
  });

  it("signs buys up and sells down", () => {
    expect(signedFillQuantity("buy", dec("2")).toString()).toBe("2");
    expect(signedFillQuantity("sell", dec("2")).toString()).toBe("-2");
  });
});

describe("position properties", () => {
  const fillArb = fc.record({
    side: fc.constantFrom<OrderSide>("buy", "sell"),
    quantity: fc.integer({ min: 1, max: 5000 }).map((n) => dec(n).div(100)), // 0.01 .. 50
    price: fc.integer({ min: 1, max: 50000 }).map((n) => dec(n).div(100)), // 0.01 .. 500
    commission: fc.integer({ min: 0, max: 300 }).map((n) => dec(n).div(100)),
  });

  /** Cash in minus cash out over the fills: sales bring money in, buys and commissions take it out. */
  function cashResult(fills: readonly PositionFill[]): Decimal {
    return sumDecimals(
      fills.map((f) =>
        signedFillQuantity(f.side, f.quantity)
          .times(f.price)
          .neg()
          .minus(f.commission ?? ZERO),
      ),
    );
  }

  it("realizes exactly the cash result over any round trip that ends flat", () => {
    fc.assert(
      fc.property(
        fc.array(fillArb, { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 50000 }).map((n) => dec(n).div(100)),
        (fills, closingPrice) => {
          const open = fills.reduce((q, f) => q.plus(signedFillQuantity(f.side, f.quantity)), ZERO);
          const all: PositionFill[] = open.isZero()
            ? fills
            : [
                ...fills,
                {
                  side: open.isPositive() ? "sell" : "buy",
                  quantity: open.abs(),
                  price: closingPrice,
                },
              ];
          let position = flat;
          const realized: Decimal[] = [];
          for (const f of all) {
            const step = apply(position, f);
            realized.push(step.realizedPnl);
            position = step.position;
            // Invariant on every step: flat means no cost left; otherwise the cost has the quantity's sign.
            if (position.quantity.isZero()) expect(position.costBasis.isZero()).toBe(true);
            else expect(position.costBasis.isPositive()).toBe(position.quantity.isPositive());
          }
          expect(position.quantity.isZero()).toBe(true);
          expect(sumDecimals(realized).eq(cashResult(all))).toBe(true);
          expect(position.realizedPnl.eq(cashResult(all))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps realized plus unrealized equal to the cash result plus market value at any mark", () => {
    fc.assert(
      fc.property(
        fc.array(fillArb, { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 50000 }).map((n) => dec(n).div(100)),
        (fills, mark) => {
          const position = applyAll(flat, fills);
          const total = position.realizedPnl.plus(unrealizedPnl(position, mark));
          const expected = cashResult(fills).plus(marketValue(position, mark));
          expect(total.eq(expected)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
