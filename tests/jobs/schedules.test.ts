/**
 * The recurring jobs: valuation covers the extended sessions (pre-market from 04:00, after hours
 * to 20:00 New York) as well as the regular one, where stops do not work at the broker and the
 * valuation's loss checks are the only guard.
 */
import { describe, expect, it } from "vitest";
import { lifecycleSchedules, NEW_YORK } from "../../jobs/schedules";
import { EXTENDED_HOURS_VALUATION } from "../../jobs/value";

describe("the valuation schedules", () => {
  it("value every minute of the session and every 2 minutes of the extended sessions", () => {
    const valuations = lifecycleSchedules([7]).filter((s) => s.queue === "value");
    expect(valuations).toEqual([
      {
        queue: "value",
        id: "value-session-7",
        repeat: { pattern: "* 9-15 * * 1-5", tz: NEW_YORK },
        name: "value",
        data: { accountId: 7 },
      },
      {
        queue: "value",
        id: "value-pre-market-7",
        repeat: { pattern: "*/2 4-8 * * 1-5", tz: NEW_YORK },
        name: EXTENDED_HOURS_VALUATION,
        data: { accountId: 7 },
      },
      {
        queue: "value",
        id: "value-after-hours-7",
        repeat: { pattern: "*/2 16-19 * * 1-5", tz: NEW_YORK },
        name: EXTENDED_HOURS_VALUATION,
        data: { accountId: 7 },
      },
    ]);
  });

  it("leave the daily-loss day and the end-of-day summary where they were", () => {
    const daily = lifecycleSchedules([7]).filter((s) => s.queue === "daily");
    expect(daily.map((s) => [s.id, s.repeat])).toEqual([
      ["session-open", { pattern: "30 9 * * 1-5", tz: NEW_YORK }],
      ["end-of-day", { pattern: "20 16 * * 1-5", tz: NEW_YORK }],
    ]);
  });
});
