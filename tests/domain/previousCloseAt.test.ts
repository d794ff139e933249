/** Where the day's cash transfers start counting: the close the broker's last equity was taken at. */
import { describe, expect, it } from "vitest";
import {
  buildTradingCalendar,
  newYorkDateOf,
  previousCloseAt,
  sessionOnDate,
  tradingDayOf,
} from "../../domain/calendar";

// Thursday 26 February to Tuesday 3 March 2026, every weekday a full session.
const calendar = buildTradingCalendar(
  ["2026-02-26", "2026-02-27", "2026-03-02", "2026-03-03"].map((date) => ({
    date,
    open: "09:30",
    close: "16:00",
  })),
);

function closeFor(iso: string): string {
  const now = new Date(iso);
  const day = tradingDayOf(calendar, now);
  // As the valuation has it: the session of now's New York date, if any.
  const session = sessionOnDate(calendar, newYorkDateOf(now));
  return previousCloseAt(calendar, day, session).toISOString();
}

describe("the previous close the day's transfers count from", () => {
  it("is the last session's close on a trading day, before the open and after the close", () => {
    // Monday: Friday's close, 16:00 New York.
    expect(closeFor("2026-03-02T14:00:00Z")).toBe("2026-02-27T21:00:00.000Z");
    expect(closeFor("2026-03-02T22:00:00Z")).toBe("2026-02-27T21:00:00.000Z");
  });

  it("is the trading day's own close on a weekend, when the broker has rolled its last equity", () => {
    // Saturday belongs to Friday, whose close the last equity now holds.
    expect(closeFor("2026-02-28T16:00:00Z")).toBe("2026-02-27T21:00:00.000Z");
  });

  it("is the trading day's start without a calendar", () => {
    const day = tradingDayOf(null, new Date("2026-03-02T15:00:00Z"));
    expect(previousCloseAt(null, day, null).toISOString()).toBe("2026-03-02T05:00:00.000Z");
  });
});
