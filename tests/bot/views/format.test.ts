import { describe, expect, it } from "vitest";
import {
  dateTime,
  isKnownTimeZone,
  pnl,
  price,
  quantity,
  rMultiple,
  signedPercent,
  usd,
} from "../../../bot/views/format";
import { dec } from "../../../domain/money";

describe("message formats", () => {
  it("writes money, gains and losses with separators and signs, from decimals", () => {
    expect(usd("1234567.5")).toBe("$1,234,567.50");
    expect(usd(dec("-80"))).toBe("-$80.00");
    expect(pnl("0.1")).toBe("+$0.10");
    expect(pnl("0")).toBe("$0.00");
    expect(price("0.1234")).toBe("0.1234");
    expect(price("1900.1")).toBe("1,900.10");
    expect(quantity("2.500")).toBe("2.5");
    expect(signedPercent("-1.234")).toBe("-1.23%");
    expect(rMultiple("2")).toBe("+2.00R");
  });

  it("signs what it shows: an amount that rounds to zero has no sign", () => {
    expect(usd("-0.004")).toBe("$0.00");
    expect(pnl("-0.004")).toBe("$0.00");
    expect(pnl("0.004")).toBe("$0.00");
    expect(pnl("-0.006")).toBe("-$0.01");
    expect(rMultiple("-0.001")).toBe("0.00R");
    expect(signedPercent("0.004")).toBe("0.00%");
    expect(signedPercent("-0.006")).toBe("-0.01%");
  });

  it("shows times in the reader's zone", () => {
    const moment = new Date("2026-03-02T14:35:00Z");
    expect(dateTime(moment, "America/New_York")).toBe("2026-03-02 09:35");
    expect(dateTime(moment, "Asia/Tokyo")).toBe("2026-03-02 23:35");
    expect(isKnownTimeZone("Europe/Berlin")).toBe(true);
    expect(isKnownTimeZone("Mars/Olympus")).toBe(false);
  });
});
