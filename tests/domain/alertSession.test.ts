import { describe, expect, it } from "vitest";
import { alertSessionEnded } from "../../domain/alertSession";
import { buildTradingCalendar } from "../../domain/calendar";

// Mon 2 Mar 2026 to Wed 4 Mar, Tue a half day (13:00 close); New York is UTC-5 then.
const calendar = buildTradingCalendar([
  { date: "2026-03-02", open: "09:30", close: "16:00" },
  { date: "2026-03-03", open: "09:30", close: "13:00" },
  { date: "2026-03-04", open: "09:30", close: "16:00" },
]);
const at = (iso: string) => new Date(iso).getTime();

describe("alertSessionEnded", () => {
  it("keeps an alert approvable through the session it was issued in, not the next", () => {
    const received = at("2026-03-02T15:00:00Z");
    expect(alertSessionEnded(calendar, received, at("2026-03-02T20:59:59Z"))).toBeNull();
    expect(alertSessionEnded(calendar, received, at("2026-03-02T21:00:00Z"))).toEqual({
      code: "ALERT_SESSION_ENDED",
      sessionDate: "2026-03-02",
      closedAt: at("2026-03-02T21:00:00Z"),
    });
    expect(alertSessionEnded(calendar, received, at("2026-03-03T15:00:00Z"))?.sessionDate).toBe(
      "2026-03-02",
    );
  });

  it("gives an alert issued while the market is closed the next session, a half day's close included", () => {
    const evening = at("2026-03-02T22:30:00Z");
    expect(alertSessionEnded(calendar, evening, at("2026-03-03T15:00:00Z"))).toBeNull();
    expect(alertSessionEnded(calendar, evening, at("2026-03-03T18:00:00Z"))?.sessionDate).toBe(
      "2026-03-03",
    );
  });

  it("leaves the alert to its own expiry when the calendar does not reach its session", () => {
    expect(
      alertSessionEnded(calendar, at("2026-03-05T15:00:00Z"), at("2026-03-09T15:00:00Z")),
    ).toBeNull();
  });
});
