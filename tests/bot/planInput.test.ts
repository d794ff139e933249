import { describe, expect, it } from "vitest";
import {
  readEntry,
  readRiskPercent,
  readSide,
  readSizingMethod,
  readStop,
  readSymbol,
  readTarget,
  stopSideProblem,
  targetSideProblem,
} from "../../bot/features/planInput";
import { dec } from "../../domain/money";

describe("reading /plan answers", () => {
  it("reads symbols and refuses what is not one", () => {
    expect(readSymbol(" brk.b ")).toEqual({ ok: true, value: "BRK.B" });
    expect(readSymbol("$aapl")).toEqual({ ok: true, value: "AAPL" });
    for (const text of ["", "1AAPL", "AAPL MSFT", "<b>", "ABCDEFGHIJKLM"]) {
      expect(readSymbol(text).ok, text).toBe(false);
    }
  });

  it("reads sides", () => {
    expect(readSide("Buy")).toEqual({ ok: true, value: "long" });
    expect(readSide("s")).toEqual({ ok: true, value: "short" });
    expect(readSide("up")).toEqual({ ok: false, problem: "Send long or short." });
  });

  it("reads market or a limit price on the tick", () => {
    expect(readEntry("MKT")).toEqual({ ok: true, value: { type: "market" } });
    expect(readEntry("$1,190.10")).toEqual({ ok: true, value: { type: "limit", price: "1190.1" } });
    expect(readEntry("0.5123")).toEqual({ ok: true, value: { type: "limit", price: "0.5123" } });
    expect(readEntry("190.005").ok).toBe(false);
    expect(readEntry("0").ok).toBe(false);
    expect(readEntry("-5").ok).toBe(false);
  });

  it("reads a stop as a price, a percent or a dollar distance", () => {
    expect(readStop("185.5")).toEqual({ ok: true, value: { kind: "price", value: "185.5" } });
    expect(readStop("2.5 %")).toEqual({ ok: true, value: { kind: "percent", value: "2.5" } });
    expect(readStop("$3")).toEqual({ ok: true, value: { kind: "amount", value: "3" } });
    for (const text of ["0%", "100%", "$0", "abc", "185.555"]) {
      expect(readStop(text).ok, text).toBe(false);
    }
  });

  it("reads a target as a price or an R multiple, skip for 2R", () => {
    expect(readTarget("skip")).toEqual({ ok: true, value: null });
    expect(readTarget("3R")).toEqual({ ok: true, value: { kind: "r", value: "3" } });
    expect(readTarget("2.5r")).toEqual({ ok: true, value: { kind: "r", value: "2.5" } });
    expect(readTarget("205")).toEqual({ ok: true, value: { kind: "price", value: "205" } });
    expect(readTarget("0R").ok).toBe(false);
    expect(readTarget("lots").ok).toBe(false);
  });

  it("reads a risk percent within 0 to 10, and a sizing method", () => {
    expect(readRiskPercent("0.5%")).toEqual({ ok: true, value: "0.5" });
    expect(readRiskPercent("default")).toEqual({ ok: true, value: null });
    expect(readRiskPercent("0").ok).toBe(false);
    expect(readRiskPercent("11").ok).toBe(false);
    expect(readSizingMethod("2")).toEqual({ ok: true, value: "half_kelly" });
    expect(readSizingMethod("Aggressive")).toEqual({ ok: true, value: "aggressive" });
    expect(readSizingMethod("half_kelly")).toEqual({ ok: true, value: "half_kelly" });
    expect(readSizingMethod("skip")).toEqual({ ok: true, value: "risk_percent" });
    expect(readSizingMethod("yolo").ok).toBe(false);
  });

  it("reads a comma only as a thousands separator, never a decimal comma as a larger number", () => {
    expect(readEntry("1,234.50")).toEqual({ ok: true, value: { type: "limit", price: "1234.5" } });
    expect(readEntry("+190.")).toEqual({ ok: true, value: { type: "limit", price: "190" } });
    expect(readEntry(".5")).toEqual({ ok: true, value: { type: "limit", price: "0.5" } });
    const hint =
      "Write decimals with a dot (190.50); a comma may only separate thousands (1,234.50).";
    for (const text of ["190,50", "0,5", "1.234,50", "1,23", "12,3456.00"]) {
      expect(readEntry(text), text).toEqual({
        ok: false,
        problem: `The limit price must be a price such as 190.10. ${hint} Or send market.`,
      });
    }
    expect(readStop("185,50")).toMatchObject({ ok: false, problem: expect.stringContaining(hint) });
    expect(readTarget("205,00")).toMatchObject({
      ok: false,
      problem: expect.stringContaining(hint),
    });
    expect(readRiskPercent("0,5")).toMatchObject({
      ok: false,
      problem: expect.stringContaining(hint),
    });
    for (const text of ["1e3", "$", "1 234.50", "190.10.5"]) {
      expect(readEntry(text).ok, text).toBe(false);
    }
  });

  it("says when a stop or target price is on the wrong side of the entry", () => {
    const entry = dec("190.01");
    expect(stopSideProblem("long", entry, { kind: "price", value: "185" })).toBeNull();
    expect(stopSideProblem("long", entry, { kind: "percent", value: "2" })).toBeNull();
    expect(stopSideProblem("short", entry, { kind: "price", value: "185" })).toBe(
      "For a short the stop must be above the entry (about $190.01).",
    );
    expect(targetSideProblem("long", entry, null)).toBeNull();
    expect(targetSideProblem("short", entry, { kind: "price", value: "195" })).toBe(
      "For a short the target must be below the entry (about $190.01).",
    );
  });
});
