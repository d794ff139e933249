import { describe, expect, it } from "vitest";
import { dec, parseDecimal } from "../../domain/money";
import {
  isOnTick,
  roundEntryPrice,
  roundQuantityDown,
  roundStopPrice,
  roundTargetPrice,
  roundToTick,
  tickPriceWithinNoise,
  tickSizeFor,
} from "../../domain/tick";

describe("tick size", () => {
  it("is a cent at or above $1 and a hundredth of a cent below", () => {
    expect(tickSizeFor(dec("1")).toString()).toBe("0.01");
    expect(tickSizeFor(dec("250.5")).toString()).toBe("0.01");
    expect(tickSizeFor(dec("0.9999")).toString()).toBe("0.0001");
  });

  it("knows sub-penny prices", () => {
    expect(isOnTick(dec("190.10"))).toBe(true);
    expect(isOnTick(dec("190.105"))).toBe(false);
    expect(isOnTick(dec("0.5123"))).toBe(true);
    expect(isOnTick(dec("0.51235"))).toBe(false);
  });
});

describe("roundToTick", () => {
  it("rounds at cents above $1 in the asked direction", () => {
    expect(roundToTick(dec("190.104"), "down").toFixed(2)).toBe("190.10");
    expect(roundToTick(dec("190.101"), "up").toFixed(2)).toBe("190.11");
    expect(roundToTick(dec("190.105"), "nearest").toFixed(2)).toBe("190.11");
  });

  it("rounds at hundredths of a cent below $1", () => {
    expect(roundToTick(dec("0.51235"), "down").toString()).toBe("0.5123");
    expect(roundToTick(dec("0.51231"), "up").toString()).toBe("0.5124");
  });

  it("lands on a cent when a sub-dollar price rounds up to $1", () => {
    const rounded = roundToTick(dec("0.99996"), "up");
    expect(rounded.eq(1)).toBe(true);
    expect(isOnTick(rounded)).toBe(true);
  });

  it("rounds a price just over $1 down to a cent, not below the dollar grid", () => {
    expect(roundToTick(dec("1.00999"), "down").toFixed(2)).toBe("1.00");
  });
});

describe("safe-direction rounding", () => {
  it("moves stops toward the entry", () => {
    expect(roundStopPrice("long", dec("184.505")).toFixed(2)).toBe("184.51");
    expect(roundStopPrice("short", dec("195.505")).toFixed(2)).toBe("195.50");
  });

  it("moves targets toward the entry", () => {
    expect(roundTargetPrice("long", dec("205.009")).toFixed(2)).toBe("205.00");
    expect(roundTargetPrice("short", dec("170.001")).toFixed(2)).toBe("170.01");
  });

  it("rounds entries in the trader's favour", () => {
    expect(roundEntryPrice("long", dec("190.109")).toFixed(2)).toBe("190.10");
    expect(roundEntryPrice("short", dec("190.101")).toFixed(2)).toBe("190.11");
  });

  it("never rounds quantities up", () => {
    expect(roundQuantityDown(dec("12.999"), false).toString()).toBe("12");
    expect(roundQuantityDown(dec("1.1234567899"), true).toString()).toBe("1.123456789");
  });
});

describe("parseDecimal", () => {
  it("accepts plain numbers, dollar signs and thousands separators", () => {
    expect(parseDecimal(" $1,234.50 ")?.toString()).toBe("1234.5");
    expect(parseDecimal(".5")?.toString()).toBe("0.5");
  });

  it("refuses a decimal comma instead of reading it as a larger number", () => {
    for (const bad of ["190,50", "0,5", "1.234,50", "1,23", "1,2345", ",5", "1,,000"]) {
      expect(parseDecimal(bad)).toBeNull();
    }
    expect(parseDecimal("-1,234,567.8")?.toString()).toBe("-1234567.8");
  });

  it("refuses anything that is not a plain finite number", () => {
    for (const bad of ["", "abc", "1e5", "Infinity", "NaN", "1.2.3", "12a"]) {
      expect(parseDecimal(bad)).toBeNull();
    }
  });
});

describe("tickPriceWithinNoise", () => {
  const tick = (text: string) => tickPriceWithinNoise(dec(text))?.toFixed() ?? null;

  it("keeps a price on the grid and reads floating-point noise as the tick it is near", () => {
    expect(tick("190.10")).toBe("190.1");
    expect(tick("190.10000000000002")).toBe("190.1");
    expect(tick("186.09999999999997")).toBe("186.1");
    expect(tick(String(0.1 + 0.2))).toBe("0.3");
    expect(tick("0.51230000000000001")).toBe("0.5123");
    expect(tick("0.99999999999999989")).toBe("1");
  });

  it("refuses a price really off the grid, and a price that is not positive", () => {
    expect(tick("190.105")).toBeNull();
    expect(tick("190.100001")).toBeNull();
    expect(tick("0.51235")).toBeNull();
    expect(tick("0.00001")).toBeNull();
    expect(tick("0")).toBeNull();
    expect(tick("-190.10")).toBeNull();
  });
});
