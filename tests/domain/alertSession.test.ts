import { describe, expect, it } from "vitest";
import { alertDeadline, alertSessionOf } from "../../domain/alertSession";
import { buildTradingCalendar } from "../../domain/calendar";

// Mon 2 Mar 2026 to Wed 4 Mar, Tue a half day (13:00 close); New York is UTC-5 then.
const calendar = buildTradingCalendar([
  { date: "2026-03-02", open: "09:30", close: "16:00" },
  { date: "2026-03-03", open: "09:30", close: "13:00" },
  { date: "2026-03-04", open: "09:30", close: "16:00" },
]);
const at = (iso: string) => new Date(iso).getTime();

/** An alert's deadline when its own expiry is far off: its session's close, when known. */
const sessionDeadline = (receivedAt: number) =>
  alertDeadline(calendar, receivedAt, at("2026-04-01T00:00:00Z"));

describe("alertDeadline at the session's close", () => {
  it("keeps an alert approvable through the session it was issued in, not the next", () => {
    expect(sessionDeadline(at("2026-03-02T15:00:00Z"))).toEqual({
      code: "ALERT_SESSION_ENDED",
      at: at("2026-03-02T21:00:00Z"),
      sessionDate: "2026-03-02",
    });
  });

  it("gives an alert issued while the market is closed the next session, a half day's close included", () => {
    expect(sessionDeadline(at("2026-03-02T22:30:00Z"))).toEqual({
      code: "ALERT_SESSION_ENDED",
      at: at("2026-03-03T18:00:00Z"),
      sessionDate: "2026-03-03",
    });
  });

  it("leaves the alert to its own expiry when the calendar does not reach its session", () => {
    expect(sessionDeadline(at("2026-03-05T15:00:00Z"))).toEqual({
      code: "ALERT_EXPIRED",
      at: at("2026-04-01T00:00:00Z"),
    });
  });
});

describe("alertDeadline", () => {
  it("caps a scanner's later expiry at the close of the alert's session", () => {
    expect(alertDeadline(calendar, at("2026-03-02T20:00:00Z"), at("2026-03-03T15:30:00Z"))).toEqual(
      {
        code: "ALERT_SESSION_ENDED",
        at: at("2026-03-02T21:00:00Z"),
        sessionDate: "2026-03-02",
      },
    );
    // Issued in the evening: the next session's close, a half day's.
    expect(alertDeadline(calendar, at("2026-03-02T22:30:00Z"), at("2026-03-04T15:00:00Z"))).toEqual(
      {
        code: "ALERT_SESSION_ENDED",
        at: at("2026-03-03T18:00:00Z"),
        sessionDate: "2026-03-03",
      },
    );
  });

  it("keeps its own expiry when that comes first, at the close too, or when the calendar does not reach it", () => {
    const received = at("2026-03-02T15:00:00Z");
    expect(alertDeadline(calendar, received, at("2026-03-02T15:30:00Z"))).toEqual({
      code: "ALERT_EXPIRED",
      at: at("2026-03-02T15:30:00Z"),
    });
    expect(alertDeadline(calendar, received, at("2026-03-02T21:00:00Z")).code).toBe(
      "ALERT_EXPIRED",
    );
    expect(alertDeadline(null, received, at("2026-03-05T21:00:00Z"))).toEqual({
      code: "ALERT_EXPIRED",
      at: at("2026-03-05T21:00:00Z"),
    });
    expect(
      alertDeadline(calendar, at("2026-03-05T15:00:00Z"), at("2026-03-09T15:00:00Z")).code,
    ).toBe("ALERT_EXPIRED");
  });
});

describe("alertDeadline of an alert without its own expiry", () => {
  const MINUTE_MS = 60_000;

  it("counts the desk's lifetime from receipt while its session is open", () => {
    expect(
      alertDeadline(calendar, at("2026-03-02T15:00:00Z"), { lifetimeMs: 30 * MINUTE_MS }),
    ).toEqual({ code: "ALERT_EXPIRED", at: at("2026-03-02T15:30:00Z") });
  });

  it("counts it from the open of the next session for an alert issued while the market is closed", () => {
    // Monday evening: approvable until 30 minutes into Tuesday's session, not 22:00 on Monday.
    expect(
      alertDeadline(calendar, at("2026-03-02T22:30:00Z"), { lifetimeMs: 30 * MINUTE_MS }),
    ).toEqual({ code: "ALERT_EXPIRED", at: at("2026-03-03T15:00:00Z") });
    // Before Monday's open too.
    expect(
      alertDeadline(calendar, at("2026-03-02T12:00:00Z"), { lifetimeMs: 30 * MINUTE_MS }),
    ).toEqual({ code: "ALERT_EXPIRED", at: at("2026-03-02T15:00:00Z") });
  });

  it("still caps it at that session's close", () => {
    // Eight hours from Tuesday's open run past its 13:00 close.
    expect(
      alertDeadline(calendar, at("2026-03-02T22:30:00Z"), { lifetimeMs: 8 * 60 * MINUTE_MS }),
    ).toEqual({
      code: "ALERT_SESSION_ENDED",
      at: at("2026-03-03T18:00:00Z"),
      sessionDate: "2026-03-03",
    });
  });

  it("counts it from receipt when the calendar does not reach the alert's session", () => {
    expect(alertDeadline(null, at("2026-03-02T22:30:00Z"), { lifetimeMs: 30 * MINUTE_MS })).toEqual(
      {
        code: "ALERT_EXPIRED",
        at: at("2026-03-02T23:00:00Z"),
      },
    );
    expect(
      alertDeadline(calendar, at("2026-03-05T22:30:00Z"), { lifetimeMs: 30 * MINUTE_MS }),
    ).toEqual({ code: "ALERT_EXPIRED", at: at("2026-03-05T23:00:00Z") });
  });
});

describe("alertSessionOf an alert received before the calendar's first day", () => {
  it("names no session: one the calendar does not list may have come first", () => {
    // Friday 27 Feb, during what was a session, though the calendar starts on Monday.
    expect(alertSessionOf(calendar, at("2026-02-27T15:00:00Z"))).toBeNull();
    // From the first listed day's midnight on, the calendar knows.
    expect(alertSessionOf(calendar, at("2026-03-02T06:00:00Z"))?.date).toBe("2026-03-02");
  });

  it("gives such an alert no later than the first listed session's close, without naming a session", () => {
    expect(alertDeadline(calendar, at("2026-02-27T15:00:00Z"), at("2026-04-01T00:00:00Z"))).toEqual(
      {
        code: "ALERT_EXPIRED",
        at: at("2026-03-02T21:00:00Z"),
      },
    );
    // Its own earlier expiry still rules.
    expect(alertDeadline(calendar, at("2026-02-27T15:00:00Z"), at("2026-02-27T15:30:00Z"))).toEqual(
      {
        code: "ALERT_EXPIRED",
        at: at("2026-02-27T15:30:00Z"),
      },
    );
  });
});
