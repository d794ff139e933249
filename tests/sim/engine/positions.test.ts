import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Dec } from "../../../sim/engine/decimal";
import { positionAfter } from "../../../sim/engine/positions";

const d = (v: string | number) => new Dec(v);

describe("position arithmetic", () => {
  it("adds at total cost, reduces at the average, flips through flat at the price", () => {
    let p = positionAfter(undefined, "AAPL", d(10), d("100"));
    p = positionAfter(p ?? undefined, "AAPL", d(10), d("110"));
    expect([p?.qty.toFixed(), p?.costBasis.toFixed()]).toEqual(["20", "2100"]);
    p = positionAfter(p ?? undefined, "AAPL", d(-5), d("120"));
    expect([p?.qty.toFixed(), p?.costBasis.toFixed()]).toEqual(["15", "1575"]); // average 105 kept
    p = positionAfter(p ?? undefined, "AAPL", d(-20), d("90"));
    expect([p?.qty.toFixed(), p?.costBasis.toFixed()]).toEqual(["-5", "-450"]);
    expect(positionAfter(p ?? undefined, "AAPL", d(5), d("80"))).toBeNull();
  });

  it("never changes the average price when reducing (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10_000 }),
        fc.integer({ min: 1, max: 9_999 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        (held, sold, entryCents, exitCents) => {
          fc.pre(sold < held);
          const open = positionAfter(undefined, "X", d(held), d(entryCents).div(100));
          const after = positionAfter(open ?? undefined, "X", d(-sold), d(exitCents).div(100));
          expect(after?.costBasis.div(after.qty).eq(d(entryCents).div(100))).toBe(true);
        },
      ),
    );
  });
});
