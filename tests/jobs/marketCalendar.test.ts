/**
 * The calendar cache when the broker cannot answer a refresh: the calendar fetched before still
 * answers for the instants it covers (with a warning), and only past it is the failure thrown.
 */
import type { Logger } from "pino";
import { describe, expect, it } from "vitest";
import type { Broker, TradingDay } from "../../domain/broker";
import { lastSessionOpen } from "../../domain/calendar";
import { createCalendarCache } from "../../jobs/marketCalendar";

/** The weekdays from `start` to `end` (`YYYY-MM-DD`), 09:30 to 16:00. */
function weekdays(start: string, end: string): TradingDay[] {
  const days: TradingDay[] = [];
  for (let t = Date.parse(`${start}T12:00:00Z`); t <= Date.parse(`${end}T12:00:00Z`); ) {
    const day = new Date(t);
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) {
      days.push({ date: day.toISOString().slice(0, 10), open: "09:30", close: "16:00" });
    }
    t += 24 * 3_600_000;
  }
  return days;
}

/** A broker whose calendar answers while `up`, the days asked for. */
function calendarBroker() {
  const state = { up: true, asked: 0 };
  const broker = {
    async getCalendar(start: string, end: string) {
      state.asked += 1;
      if (!state.up) {
        return { ok: false, code: "SERVER_ERROR", message: "calendar down", retryable: true };
      }
      return { ok: true, value: weekdays(start, end) };
    },
  } as unknown as Broker;
  return { broker, state };
}

function warnings() {
  const seen: { readonly fields: Record<string, unknown>; readonly message: string }[] = [];
  return {
    seen,
    logger: {
      warn: ((fields: Record<string, unknown>, message: string) => {
        seen.push({ fields, message });
      }) as Logger["warn"],
    },
  };
}

describe("the calendar cache", () => {
  const monday = new Date("2026-03-02T15:00:00Z");
  const later = new Date(monday.getTime() + 7 * 3_600_000);

  it("answers with the calendar it holds when a refresh fails and it covers the instant, warning", async () => {
    const { broker, state } = calendarBroker();
    const { seen, logger } = warnings();
    const cache = createCalendarCache({ logger });
    const fetched = await cache.get(1, broker, monday);

    // Past the refresh interval, the broker down: Monday's calendar still covers the evening.
    state.up = false;
    const held = await cache.get(1, broker, later);
    expect(state.asked).toBe(2);
    expect(held).toBe(fetched);
    expect(lastSessionOpen(held, later)).toBe(Date.parse("2026-03-02T14:30:00Z"));
    expect(seen).toEqual([
      {
        fields: expect.objectContaining({ accountId: 1, fetchedAt: monday.toISOString() }),
        message: expect.stringContaining("calendar down"),
      },
    ]);

    // Back up: the next ask fetches again.
    state.up = true;
    await cache.get(1, broker, new Date(later.getTime() + 60_000));
    expect(state.asked).toBe(3);
  });

  it("throws when the calendar it holds does not cover the instant asked", async () => {
    const { broker, state } = calendarBroker();
    const cache = createCalendarCache({ logger: warnings().logger });
    await cache.get(1, broker, monday);
    state.up = false;
    // Five weeks on, beyond the three weeks it listed.
    await expect(
      cache.get(1, broker, new Date(monday.getTime() + 35 * 24 * 3_600_000)),
    ).rejects.toThrow("trading calendar unavailable: calendar down");
    // Another account has no calendar held at all.
    await expect(cache.get(2, broker, monday)).rejects.toThrow("trading calendar unavailable");
  });
});
