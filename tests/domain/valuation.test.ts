import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Decimal, dec } from "../../domain/money";
import { marketValue, type Position, unrealizedPnl } from "../../domain/position";
import {
  dailyPnlOf,
  MarkBook,
  markOf,
  markPriceOf,
  netCashTransferred,
  type QuoteFigures,
  valuePositions,
} from "../../domain/valuation";

const q = (bid: string | null, ask: string | null, last: string | null = null): QuoteFigures => ({
  bid: bid === null ? null : dec(bid),
  ask: ask === null ? null : dec(ask),
  last: last === null ? null : dec(last),
});

function position(symbol: string, quantity: string, averageCost: string): Position {
  const qty = dec(quantity);
  return {
    symbol,
    quantity: qty,
    costBasis: qty.times(dec(averageCost)),
    realizedPnl: dec(0),
    commissions: dec(0),
  };
}

describe("mark price", () => {
  it("is the mid of bid and ask, exact (not rounded to the tick)", () => {
    expect(markOf(q("189.99", "190.01", "185"))).toEqual({ price: dec("190"), source: "mid" });
    expect(markPriceOf(q("190.00", "190.01"))?.toString()).toBe("190.005");
    expect(markPriceOf(q("0.1234", "0.1237"))?.toString()).toBe("0.12355");
  });

  it("falls back to the last trade, then to the side that exists", () => {
    expect(markOf(q(null, null, "185.5"))).toEqual({ price: dec("185.5"), source: "last" });
    expect(markOf(q("189.99", null))).toEqual({ price: dec("189.99"), source: "bid" });
    expect(markOf(q(null, "190.01"))).toEqual({ price: dec("190.01"), source: "ask" });
    expect(markOf(q(null, null, null))).toBeNull();
  });

  it("marks a one-sided book at the last trade, not at the side quoted", () => {
    // An empty side leaves no mid; the one side can be far from where the stock trades (an
    // offer at 250 with no bid), which would mark a long far above anything it could sell for.
    expect(markOf(q(null, "250", "185"))).toEqual({ price: dec("185"), source: "last" });
    expect(markOf(q("120", null, "185"))).toEqual({ price: dec("185"), source: "last" });
  });

  it("treats a zero or negative side as no quote (the broker sends zero for an empty side)", () => {
    expect(markOf(q("0", "190.01", "185"))).toEqual({ price: dec("185"), source: "last" });
    expect(markOf(q("189.99", "0"))).toEqual({ price: dec("189.99"), source: "bid" });
    expect(markOf(q("0", "0", "185"))).toEqual({ price: dec("185"), source: "last" });
    expect(markOf(q("0", "0", "0"))).toBeNull();
    expect(markOf(q("-1", null, null))).toBeNull();
  });

  it("marks a crossed book at its mid", () => {
    expect(markOf(q("190.05", "189.95"))).toEqual({ price: dec("190"), source: "mid" });
  });
});

describe("valuePositions", () => {
  it("values longs and shorts, totals only the marked ones and lists the unmarked", () => {
    const book = [
      position("AAPL", "100", "190.10"),
      position("TSLA", "-20", "250"),
      position("MSFT", "5", "400"),
    ];
    const v = valuePositions(
      book,
      new Map([
        ["AAPL", dec("195.10")],
        ["TSLA", dec("240")],
      ]),
    );
    expect(v.positions.map((p) => p.unrealizedPnl?.toString() ?? null)).toEqual([
      "500",
      "200",
      null,
    ]);
    expect(v.positions[1]?.marketValue?.toString()).toBe("-4800");
    expect(v.longMarketValue.toString()).toBe("19510");
    expect(v.shortMarketValue.toString()).toBe("-4800");
    expect(v.marketValue.toString()).toBe("14710");
    expect(v.unrealizedPnl.toString()).toBe("700");
    expect(v.unmarked).toEqual(["MSFT"]);
  });

  it("values nothing as zero", () => {
    const v = valuePositions([], new Map());
    expect(v.marketValue.isZero()).toBe(true);
    expect(v.unrealizedPnl.isZero()).toBe(true);
    expect(v.unmarked).toEqual([]);
  });
});

describe("daily P&L", () => {
  it("is equity minus last equity, with the percentage of the previous close", () => {
    const d = dailyPnlOf(dec("98500"), dec("100000"));
    expect(d.amount.toString()).toBe("-1500");
    expect(d.percent?.toString()).toBe("-1.5");
    expect(dailyPnlOf(dec("101000.50"), dec("100000")).amount.toString()).toBe("1000.5");
  });

  it("has no percentage without a positive previous close", () => {
    expect(dailyPnlOf(dec("500"), dec("0")).percent).toBeNull();
    expect(dailyPnlOf(dec("500"), dec("0")).amount.toString()).toBe("500");
  });
});

describe("MarkBook", () => {
  it("marks holdings quote by quote and keeps the totals as running sums", () => {
    const book = new MarkBook();
    book.upsert("1:AAPL", position("AAPL", "100", "190"));
    book.upsert("1:TSLA", position("TSLA", "-10", "250"));
    expect(book.totals().unmarked).toBe(2);
    expect(book.totals().unrealizedPnl.isZero()).toBe(true);

    expect(book.applyQuote("AAPL", q("190.99", "191.01"), 1000)).toEqual({ remarked: 1 });
    expect(book.get("1:AAPL")?.unrealizedPnl?.toString()).toBe("100");
    expect(book.get("1:AAPL")?.mark).toEqual({ price: dec("191"), source: "mid" });
    expect(book.totals().unmarked).toBe(1);

    book.applyQuote("TSLA", q(null, null, "240"), 1000);
    expect(book.get("1:TSLA")?.unrealizedPnl?.toString()).toBe("100");
    expect(book.get("1:TSLA")?.marketValue?.toString()).toBe("-2400");
    expect(book.totals()).toEqual({
      marketValue: dec("16700"),
      unrealizedPnl: dec("200"),
      unmarked: 0,
    });

    book.applyQuote("AAPL", q("189", "189"), 2000);
    expect(book.totals().unrealizedPnl.toString()).toBe("0");
  });

  it("re-marks every holding of a symbol (several accounts) and ignores symbols it does not hold", () => {
    const book = new MarkBook();
    book.upsert("1:AAPL", position("AAPL", "10", "100"));
    book.upsert("2:AAPL", position("AAPL", "-5", "100"));
    expect(book.applyQuote("AAPL", q("110", "110"), 1)).toEqual({ remarked: 2 });
    expect(book.totals().unrealizedPnl.toString()).toBe("50");
    expect(book.applyQuote("NVDA", q("1", "2"), 1)).toEqual({ remarked: 0 });
    expect(book.markOfSymbol("AAPL")?.price.toString()).toBe("110");
    expect(book.markOfSymbol("NVDA")).toBeNull();
    expect(book.symbols()).toEqual(["AAPL"]);
  });

  it("ignores an out-of-order (older) quote, an unusable one, and an unchanged mark", () => {
    const book = new MarkBook();
    book.upsert("k", position("AAPL", "10", "100"));
    book.applyQuote("AAPL", q("101", "101"), 2000);
    expect(book.applyQuote("AAPL", q("90", "90"), 1000)).toEqual({ remarked: 0 });
    expect(book.get("k")?.mark?.price.toString()).toBe("101");
    expect(book.applyQuote("AAPL", q(null, null, null), 3000)).toEqual({ remarked: 0 });
    book.takeChanged();
    expect(book.applyQuote("AAPL", q("100.5", "101.5"), 4000)).toEqual({ remarked: 0 });
    expect(book.get("k")?.markedAt).toBe(4000);
    expect(book.takeChanged()).toEqual([]);
  });

  it("collects each changed holding once for a batched write, then starts over", () => {
    const book = new MarkBook();
    book.upsert("a", position("AAPL", "10", "100"));
    book.upsert("b", position("MSFT", "10", "100"));
    expect(book.takeChanged()).toEqual([]); // no mark yet: nothing to write
    for (let i = 1; i <= 50; i++) book.applyQuote("AAPL", q(String(100 + i), String(100 + i)), i);
    book.applyQuote("MSFT", q("99", "99"), 1);
    const changed = book.takeChanged();
    expect(changed.map((c) => [c.key, c.mark?.price.toString()])).toEqual([
      ["a", "150"],
      ["b", "99"],
    ]);
    expect(book.takeChanged()).toEqual([]);
  });

  it("re-values a holding whose position changed at its current mark, and drops a removed one", () => {
    const book = new MarkBook();
    book.upsert("a", position("AAPL", "10", "100"));
    book.applyQuote("AAPL", q("110", "110"), 1);
    book.upsert("a", position("AAPL", "20", "105"));
    expect(book.get("a")?.unrealizedPnl?.toString()).toBe("100");
    expect(book.totals().unrealizedPnl.toString()).toBe("100");
    expect(book.remove("a")).toBe(true);
    expect(book.remove("a")).toBe(false);
    expect(book.totals()).toEqual({ marketValue: dec(0), unrealizedPnl: dec(0), unmarked: 0 });
    expect(book.size).toBe(0);
    expect(book.applyQuote("AAPL", q("1", "1"), 2)).toEqual({ remarked: 0 });
  });

  it("moves a key to another symbol cleanly", () => {
    const book = new MarkBook();
    book.upsert("a", position("AAPL", "10", "100"));
    book.applyQuote("AAPL", q("110", "110"), 1);
    book.upsert("a", position("MSFT", "1", "50"));
    expect(book.totals()).toEqual({ marketValue: dec(0), unrealizedPnl: dec(0), unmarked: 1 });
    expect(book.applyQuote("AAPL", q("120", "120"), 2)).toEqual({ remarked: 0 });
    expect(book.applyQuote("MSFT", q("60", "60"), 2)).toEqual({ remarked: 1 });
    expect(book.totals().unrealizedPnl.toString()).toBe("10");
  });

  it("keeps running totals equal to a full recount over any sequence of quotes and fills", () => {
    const symbols = ["AAPL", "MSFT", "TSLA"];
    const cents = fc.integer({ min: 1, max: 1_000_000 }).map((n) => dec(n).div(100));
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("quote" as const),
        symbol: fc.constantFrom(...symbols),
        bid: fc.option(cents, { nil: null }),
        ask: fc.option(cents, { nil: null }),
        last: fc.option(cents, { nil: null }),
      }),
      fc.record({
        kind: fc.constant("position" as const),
        key: fc.integer({ min: 0, max: 4 }),
        symbol: fc.constantFrom(...symbols),
        quantity: fc.integer({ min: -500, max: 500 }),
        cost: cents,
      }),
      fc.record({ kind: fc.constant("remove" as const), key: fc.integer({ min: 0, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const book = new MarkBook();
        const held = new Map<string, Position>();
        const marks = new Map<string, Decimal>();
        let t = 0;
        for (const s of steps) {
          t += 1;
          if (s.kind === "quote") {
            book.applyQuote(s.symbol, { bid: s.bid, ask: s.ask, last: s.last }, t);
            const m = markPriceOf(s);
            if (m !== null) marks.set(s.symbol, m);
          } else if (s.kind === "remove") {
            book.remove(`k${s.key}`);
            held.delete(`k${s.key}`);
          } else if (s.quantity !== 0) {
            const p = position(s.symbol, String(s.quantity), s.cost.toString());
            book.upsert(`k${s.key}`, p, marks.has(s.symbol) ? book.markOfSymbol(s.symbol) : null);
            held.set(`k${s.key}`, p);
          }
        }
        let value = dec(0);
        let pnl = dec(0);
        let unmarked = 0;
        for (const [key, p] of held) {
          const entry = book.get(key);
          const mark = entry?.mark?.price ?? null;
          if (mark === null) {
            unmarked += 1;
            continue;
          }
          expect(mark.eq(marks.get(p.symbol) ?? dec(-1))).toBe(true);
          value = value.plus(marketValue(p, mark));
          pnl = pnl.plus(unrealizedPnl(p, mark));
        }
        const totals = book.totals();
        expect(totals.marketValue.eq(value)).toBe(true);
        expect(totals.unrealizedPnl.eq(pnl)).toBe(true);
        expect(totals.unmarked).toBe(unmarked);
        expect(book.size).toBe(held.size);
      }),
      { numRuns: 300 },
    );
  });
});

describe("cash transferred during the day", () => {
  const transfer = (id: string, amount: string, iso: string, canceled = false) => ({
    id,
    kind: (amount.startsWith("-") ? "withdrawal" : "deposit") as "withdrawal" | "deposit",
    amount: dec(amount),
    at: new Date(iso),
    canceled,
  });

  it("nets deposits and withdrawals booked in the period, leaving out canceled ones", () => {
    const from = Date.parse("2026-03-02T05:00:00Z");
    const to = Date.parse("2026-03-03T05:00:00Z");
    const transfers = [
      transfer("a", "-5000", "2026-03-02T04:59:59Z"),
      transfer("b", "-2500.50", "2026-03-02T15:00:00Z"),
      transfer("c", "1000", "2026-03-02T16:00:00Z"),
      transfer("d", "-9000", "2026-03-02T17:00:00Z", true),
      transfer("e", "300", "2026-03-03T05:00:00Z"),
    ];
    expect(netCashTransferred(transfers, from, to).toFixed()).toBe("-1500.5");
    expect(netCashTransferred([], from, to).toFixed()).toBe("0");
  });
});
