import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BrokerCalendarDay,
  buildTradingCalendar,
  isMarketOpen,
  lastSessionOpen,
  newYorkDateOf,
  newYorkLocalToEpochMs,
  nextSessionClose,
  nextSessionOpen,
  sessionAt,
  sessionOnDate,
  tradingDateOf,
} from "../../domain/calendar";

const at = (iso: string): number => Date.parse(iso);

/**
 * The broker's calendar as /v2/calendar lists it around the 2026 daylight-saving changes:
 * weekdays only, Thanksgiving (11-26) and Christmas (12-25) absent, 13:00 closes on 11-27 and 12-24.
 */
function brokerCalendar(): BrokerCalendarDay[] {
  const holidays = new Set(["2026-11-26", "2026-12-25"]);
  const halfDays = new Set(["2026-11-27", "2026-12-24"]);
  const days: BrokerCalendarDay[] = [];
  for (const [from, to] of [
    ["2026-02-23", "2026-03-20"],
    ["2026-10-19", "2026-12-31"],
  ] as const) {
    for (let t = at(`${from}T12:00:00Z`); t <= at(`${to}T12:00:00Z`); t += 86_400_000) {
      const d = new Date(t);
      const date = d.toISOString().slice(0, 10);
      const weekday = d.getUTCDay();
      if (weekday === 0 || weekday === 6 || holidays.has(date)) continue;
      days.push({ date, open: "09:30", close: halfDays.has(date) ? "13:00" : "16:00" });
    }
  }
  return days;
}

const calendar = buildTradingCalendar(brokerCalendar());

describe("New York local time to instants", () => {
  it("uses EST (UTC-5) before and EDT (UTC-4) after the 2026-03-08 change", () => {
    expect(newYorkLocalToEpochMs("2026-03-06", "09:30")).toBe(at("2026-03-06T14:30:00Z"));
    expect(newYorkLocalToEpochMs("2026-03-09", "09:30")).toBe(at("2026-03-09T13:30:00Z"));
    expect(newYorkLocalToEpochMs("2026-03-08", "00:00")).toBe(at("2026-03-08T05:00:00Z"));
    expect(newYorkLocalToEpochMs("2026-03-08", "03:00")).toBe(at("2026-03-08T07:00:00Z"));
  });

  it("uses EDT before and EST after the 2026-11-01 change", () => {
    expect(newYorkLocalToEpochMs("2026-10-30", "16:00")).toBe(at("2026-10-30T20:00:00Z"));
    expect(newYorkLocalToEpochMs("2026-11-02", "09:30")).toBe(at("2026-11-02T14:30:00Z"));
    expect(newYorkLocalToEpochMs("2026-11-01", "00:00")).toBe(at("2026-11-01T04:00:00Z"));
    expect(newYorkLocalToEpochMs("2026-11-01", "03:00")).toBe(at("2026-11-01T08:00:00Z"));
  });

  it("round-trips any minute outside the transition hours", () => {
    const wall = new Intl.DateTimeFormat("en-GB", {
      timeZone: "America/New_York",
      hourCycle: "h23",
      hour: "2-digit",
      minute: "2-digit",
    });
    const start = at("2026-01-01T00:00:00Z") / 60_000;
    const end = at("2027-01-01T00:00:00Z") / 60_000;
    fc.assert(
      fc.property(fc.integer({ min: start, max: end }), (minute) => {
        const t = minute * 60_000;
        const time = wall.format(t);
        fc.pre(!time.startsWith("01:") && !time.startsWith("02:"));
        expect(newYorkLocalToEpochMs(newYorkDateOf(t), time)).toBe(t);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses malformed dates and times", () => {
    expect(() => newYorkLocalToEpochMs("2026-02-30", "09:30")).toThrow(RangeError);
    expect(() => newYorkLocalToEpochMs("2026-3-9", "09:30")).toThrow(RangeError);
    expect(() => newYorkLocalToEpochMs("2026-03-09", "9:30")).toThrow(RangeError);
    expect(() => newYorkLocalToEpochMs("2026-03-09", "24:00")).toThrow(RangeError);
  });
});

describe("the New York date of an instant", () => {
  it("turns at New York midnight, not UTC midnight, on both sides of each change", () => {
    expect(newYorkDateOf(at("2026-03-07T04:59:59.999Z"))).toBe("2026-03-06");
    expect(newYorkDateOf(at("2026-03-07T05:00:00Z"))).toBe("2026-03-07");
    expect(newYorkDateOf(at("2026-03-09T03:59:59.999Z"))).toBe("2026-03-08");
    expect(newYorkDateOf(at("2026-03-09T04:00:00Z"))).toBe("2026-03-09");
    expect(newYorkDateOf(at("2026-11-02T04:59:59.999Z"))).toBe("2026-11-01");
    expect(newYorkDateOf(new Date(at("2026-11-02T05:00:00Z")))).toBe("2026-11-02");
  });
});

describe("building the calendar", () => {
  it("resolves sessions to instants and day bounds, 23 and 25 hour days included", () => {
    const mon = sessionOnDate(calendar, "2026-03-09");
    expect(mon).toEqual({
      date: "2026-03-09",
      openAt: at("2026-03-09T13:30:00Z"),
      closeAt: at("2026-03-09T20:00:00Z"),
      dayStartAt: at("2026-03-09T04:00:00Z"),
      dayEndAt: at("2026-03-10T04:00:00Z"),
    });
    const short = buildTradingCalendar([{ date: "2026-03-08", open: "09:30", close: "16:00" }]);
    const long = buildTradingCalendar([{ date: "2026-11-01", open: "09:30", close: "16:00" }]);
    const len = (c: typeof short) =>
      (c.sessions[0]?.dayEndAt ?? 0) - (c.sessions[0]?.dayStartAt ?? 0);
    expect(len(short)).toBe(23 * 3_600_000);
    expect(len(long)).toBe(25 * 3_600_000);
  });

  it("sorts days given in any order", () => {
    const c = buildTradingCalendar([
      { date: "2026-03-10", open: "09:30", close: "16:00" },
      { date: "2026-03-09", open: "09:30", close: "16:00" },
    ]);
    expect(c.sessions.map((s) => s.date)).toEqual(["2026-03-09", "2026-03-10"]);
  });

  it("refuses a day listed twice or a close not after the open", () => {
    const day = { date: "2026-03-09", open: "09:30", close: "16:00" };
    expect(() => buildTradingCalendar([day, day])).toThrow(RangeError);
    expect(() =>
      buildTradingCalendar([{ date: "2026-03-09", open: "16:00", close: "16:00" }]),
    ).toThrow(RangeError);
  });

  it("answers nothing from an empty calendar", () => {
    const empty = buildTradingCalendar([]);
    const t = at("2026-03-09T15:00:00Z");
    expect(isMarketOpen(empty, t)).toBe(false);
    expect(sessionAt(empty, t)).toBeNull();
    expect(nextSessionOpen(empty, t)).toBeNull();
    expect(tradingDateOf(empty, t)).toBeNull();
    expect(lastSessionOpen(empty, t)).toBeNull();
  });
});

describe("is the market open", () => {
  it("is open from the open inclusive to the close exclusive", () => {
    expect(isMarketOpen(calendar, at("2026-03-09T13:29:59.999Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-03-09T13:30:00Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-03-09T19:59:59.999Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-03-09T20:00:00Z"))).toBe(false);
  });

  it("follows the clock change: 09:30 is 14:30Z on Friday 03-06 and 13:30Z on Monday 03-09", () => {
    expect(isMarketOpen(calendar, at("2026-03-06T13:45:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-03-06T14:30:00Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-03-09T13:45:00Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-10-30T19:30:00Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-10-30T20:00:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-11-02T13:45:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-11-02T20:30:00Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-11-02T21:00:00Z"))).toBe(false);
  });

  it("closes at 13:00 on a half day", () => {
    expect(isMarketOpen(calendar, at("2026-11-27T17:59:59.999Z"))).toBe(true);
    expect(isMarketOpen(calendar, at("2026-11-27T18:00:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-11-27T20:00:00Z"))).toBe(false);
  });

  it("is closed on weekends, holidays and outside the calendar", () => {
    expect(isMarketOpen(calendar, at("2026-03-07T15:00:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-11-26T16:00:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2026-12-25T16:00:00Z"))).toBe(false);
    expect(isMarketOpen(calendar, at("2027-01-04T16:00:00Z"))).toBe(false);
  });
});

describe("the session of an instant", () => {
  it("is the New York trading day, before the open and after the close included", () => {
    expect(sessionAt(calendar, at("2026-03-09T04:00:00Z"))?.date).toBe("2026-03-09");
    expect(sessionAt(calendar, at("2026-03-09T12:00:00Z"))?.date).toBe("2026-03-09");
    expect(sessionAt(calendar, at("2026-03-10T02:00:00Z"))?.date).toBe("2026-03-09");
    expect(sessionAt(calendar, at("2026-03-10T03:59:59.999Z"))?.date).toBe("2026-03-09");
    expect(sessionAt(calendar, at("2026-03-10T04:00:00Z"))?.date).toBe("2026-03-10");
  });

  it("is null on a weekend (the DST Sunday too) and on a holiday", () => {
    expect(sessionAt(calendar, at("2026-03-09T03:59:59.999Z"))).toBeNull();
    expect(sessionAt(calendar, at("2026-03-07T15:00:00Z"))).toBeNull();
    expect(sessionAt(calendar, at("2026-11-01T15:00:00Z"))).toBeNull();
    expect(sessionAt(calendar, at("2026-11-26T15:00:00Z"))).toBeNull();
    expect(sessionOnDate(calendar, "2026-11-26")).toBeNull();
  });
});

describe("next open and close", () => {
  it("goes from Friday across the spring-forward weekend to Monday 09:30 EDT", () => {
    const friday = at("2026-03-06T21:00:00Z");
    expect(nextSessionOpen(calendar, friday)).toBe(at("2026-03-09T13:30:00Z"));
    expect(nextSessionClose(calendar, friday)).toBe(at("2026-03-09T20:00:00Z"));
  });

  it("goes from Friday across the fall-back weekend to Monday 09:30 EST", () => {
    const saturday = at("2026-10-31T15:00:00Z");
    expect(nextSessionOpen(calendar, saturday)).toBe(at("2026-11-02T14:30:00Z"));
    expect(nextSessionClose(calendar, saturday)).toBe(at("2026-11-02T21:00:00Z"));
  });

  it("skips a holiday and lands on the half day's 13:00 close", () => {
    const thanksgiving = at("2026-11-26T15:00:00Z");
    expect(nextSessionOpen(calendar, thanksgiving)).toBe(at("2026-11-27T14:30:00Z"));
    expect(nextSessionClose(calendar, thanksgiving)).toBe(at("2026-11-27T18:00:00Z"));
  });

  it("while open: the next open is tomorrow's and the close is today's", () => {
    const midday = at("2026-03-09T16:00:00Z");
    expect(nextSessionOpen(calendar, midday)).toBe(at("2026-03-10T13:30:00Z"));
    expect(nextSessionClose(calendar, midday)).toBe(at("2026-03-09T20:00:00Z"));
  });

  it("at exactly an open the next open is the following one; at exactly a close the next close is", () => {
    expect(nextSessionOpen(calendar, at("2026-03-09T13:30:00Z"))).toBe(at("2026-03-10T13:30:00Z"));
    expect(nextSessionOpen(calendar, at("2026-03-09T13:29:59.999Z"))).toBe(
      at("2026-03-09T13:30:00Z"),
    );
    expect(nextSessionClose(calendar, at("2026-03-09T20:00:00Z"))).toBe(at("2026-03-10T20:00:00Z"));
    expect(nextSessionClose(calendar, at("2026-03-09T19:59:59.999Z"))).toBe(
      at("2026-03-09T20:00:00Z"),
    );
  });

  it("is null past the end of the calendar", () => {
    expect(nextSessionOpen(calendar, at("2026-12-31T16:00:00Z"))).toBeNull();
    expect(nextSessionClose(calendar, at("2026-12-31T21:00:00Z"))).toBeNull();
  });

  it("knows the last open at or before an instant", () => {
    expect(lastSessionOpen(calendar, at("2026-03-09T13:30:00Z"))).toBe(at("2026-03-09T13:30:00Z"));
    expect(lastSessionOpen(calendar, at("2026-03-09T13:29:59Z"))).toBe(at("2026-03-06T14:30:00Z"));
    expect(lastSessionOpen(calendar, at("2026-02-23T14:00:00Z"))).toBeNull();
    expect(lastSessionOpen(calendar, at("2027-01-02T14:00:00Z"))).toBeNull();
  });
});

describe("the trading date of an instant (whose P&L it is)", () => {
  it("is the New York date on a trading day, before and after the session included", () => {
    expect(tradingDateOf(calendar, at("2026-03-09T12:00:00Z"))).toBe("2026-03-09");
    expect(tradingDateOf(calendar, at("2026-03-10T02:00:00Z"))).toBe("2026-03-09");
  });

  it("is the last trading date on a weekend or holiday", () => {
    expect(tradingDateOf(calendar, at("2026-03-08T15:00:00Z"))).toBe("2026-03-06");
    expect(tradingDateOf(calendar, at("2026-11-01T15:00:00Z"))).toBe("2026-10-30");
    expect(tradingDateOf(calendar, at("2026-11-26T15:00:00Z"))).toBe("2026-11-25");
  });

  it("is null outside the calendar", () => {
    expect(tradingDateOf(calendar, at("2026-02-22T15:00:00Z"))).toBeNull();
    expect(tradingDateOf(calendar, at("2027-01-01T06:00:00Z"))).toBeNull();
  });
});
