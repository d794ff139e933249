import { describe, expect, it } from "vitest";
import {
  currentSession,
  formatNewYork,
  isExtendedHours,
  nextSessionOpeningAfter,
  sessionOn,
  sessionsBetween,
  settlementDate,
} from "../../../sim/engine/calendar";

const closedDays = (year: number) => {
  const out: string[] = [];
  for (
    let d = new Date(Date.UTC(year, 0, 1));
    d.getUTCFullYear() === year;
    d = new Date(d.getTime() + 86_400_000)
  ) {
    const date = d.toISOString().slice(0, 10);
    const dow = d.getUTCDay();
    if (dow !== 0 && dow !== 6 && !sessionOn(date)) out.push(date);
  }
  return out;
};

describe("NYSE calendar", () => {
  it("knows the 2025 holidays, including the day of mourning", () => {
    expect(closedDays(2025)).toEqual([
      "2025-01-01",
      "2025-01-09",
      "2025-01-20",
      "2025-02-17",
      "2025-04-18",
      "2025-05-26",
      "2025-06-19",
      "2025-07-04",
      "2025-09-01",
      "2025-11-27",
      "2025-12-25",
    ]);
  });

  it("observes weekend holidays on the nearest weekday (2026, 2027)", () => {
    expect(closedDays(2026)).toEqual([
      "2026-01-01",
      "2026-01-19",
      "2026-02-16",
      "2026-04-03",
      "2026-05-25",
      "2026-06-19",
      "2026-07-03",
      "2026-09-07",
      "2026-11-26",
      "2026-12-25",
    ]);
    expect(closedDays(2027)).toEqual([
      "2027-01-01",
      "2027-01-18",
      "2027-02-15",
      "2027-03-26",
      "2027-05-31",
      "2027-06-18",
      "2027-07-05",
      "2027-09-06",
      "2027-11-25",
      "2027-12-24",
    ]);
  });

  it("does not move a Saturday New Year's Day back into December", () => {
    expect(sessionOn("2021-12-31")).not.toBeNull();
    expect(sessionOn("2022-01-03")).not.toBeNull();
  });

  it("closes at 13:00 on the early-close days", () => {
    expect(sessionOn("2025-07-03")?.closeHHMM).toBe("13:00");
    expect(sessionOn("2025-11-28")?.closeHHMM).toBe("13:00");
    expect(sessionOn("2025-12-24")?.closeHHMM).toBe("13:00");
    expect(sessionOn("2026-07-02")?.closeHHMM).toBe("16:00");
    expect(sessionOn("2026-11-27")?.close.toISOString()).toBe("2026-11-27T18:00:00.000Z");
  });

  it("converts New York session times across daylight saving", () => {
    expect(sessionOn("2026-03-06")?.open.toISOString()).toBe("2026-03-06T14:30:00.000Z");
    expect(sessionOn("2026-03-09")?.open.toISOString()).toBe("2026-03-09T13:30:00.000Z");
    expect(sessionOn("2026-11-02")?.open.toISOString()).toBe("2026-11-02T14:30:00.000Z");
    expect(formatNewYork(new Date("2026-07-01T13:30:00Z"))).toBe("2026-07-01T09:30:00-04:00");
    expect(formatNewYork(new Date("2026-12-01T21:00:00Z"))).toBe("2026-12-01T16:00:00-05:00");
  });

  it("finds the current and next sessions and the extended-hours windows", () => {
    expect(currentSession(new Date("2026-03-02T14:29:59Z"))).toBeNull();
    expect(currentSession(new Date("2026-03-02T14:30:00Z"))?.date).toBe("2026-03-02");
    expect(currentSession(new Date("2026-03-02T21:00:00Z"))).toBeNull();
    expect(nextSessionOpeningAfter(new Date("2026-04-02T21:00:00Z")).date).toBe("2026-04-06");
    expect(isExtendedHours(new Date("2026-03-02T09:00:00Z"))).toBe(true); // 04:00 New York
    expect(isExtendedHours(new Date("2026-03-02T08:59:00Z"))).toBe(false);
    expect(isExtendedHours(new Date("2026-03-03T00:59:00Z"))).toBe(true); // 19:59
    expect(isExtendedHours(new Date("2026-03-07T15:00:00Z"))).toBe(false); // Saturday
  });

  it("lists sessions and settles T+1 on trading days", () => {
    expect(sessionsBetween("2026-12-23", "2026-12-29").map((s) => s.date)).toEqual([
      "2026-12-23",
      "2026-12-24",
      "2026-12-28",
      "2026-12-29",
    ]);
    expect(settlementDate("2026-04-02")).toBe("2026-04-06");
  });
});
