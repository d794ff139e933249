/**
 * The trading calendar from the broker, fetched once in a while per account, and the execution
 * window computed on it in New York time.
 */
import type { Logger } from "pino";
import type { Broker } from "../domain/broker";
import {
  buildTradingCalendar,
  newYorkDateOf,
  newYorkLocalToEpochMs,
  type TradingCalendar,
} from "../domain/calendar";
import type { ExecutionWindow } from "./context";

const DAY_MS = 24 * 3600 * 1000;
/** How long a fetched calendar is used before it is fetched again. */
const CALENDAR_TTL_MS = 6 * 3600 * 1000;

export interface CalendarCache {
  /**
   * The calendar around `now` (a week back, three weeks ahead). When the broker cannot answer a
   * refresh, the calendar held still answers for an instant it covers; else it throws.
   */
  get(accountId: number, broker: Broker, now: Date): Promise<TradingCalendar>;
}

/** A per-process cache of trading calendars by account. */
export function createCalendarCache(
  options: { readonly logger?: Pick<Logger, "warn"> } = {},
): CalendarCache {
  const cache = new Map<
    number,
    {
      readonly fetchedAt: number;
      /** The start of the first day asked for: the calendar lists the sessions from it. */
      readonly from: number;
      readonly calendar: TradingCalendar;
    }
  >();
  return {
    async get(accountId, broker, now) {
      const hit = cache.get(accountId);
      const t = now.getTime();
      if (hit && Math.abs(t - hit.fetchedAt) < CALENDAR_TTL_MS) return hit.calendar;
      const start = newYorkDateOf(t - 7 * DAY_MS);
      const end = newYorkDateOf(t + 21 * DAY_MS);
      const days = await broker.getCalendar(start, end);
      if (!days.ok) {
        // Sessions are fixed weeks ahead: a calendar held that covers the instant still answers,
        // so a broker blip turns into no refusal nor a guess without a calendar.
        const covered = hit?.calendar.coversUntil;
        if (hit && covered != null && hit.from <= t && t < covered) {
          options.logger?.warn(
            { accountId, fetchedAt: new Date(hit.fetchedAt).toISOString(), code: days.code },
            `trading calendar unavailable (${days.message}); using the one fetched before`,
          );
          return hit.calendar;
        }
        throw new Error(`trading calendar unavailable: ${days.message}`);
      }
      const calendar = buildTradingCalendar(days.value);
      cache.set(accountId, {
        fetchedAt: t,
        from: newYorkLocalToEpochMs(start, "00:00"),
        calendar,
      });
      return calendar;
    },
  };
}

/**
 * When work due at `now` may run under the execution window: `now` itself when the window is
 * open (or there is no window), else the next window opening; null when the calendar does not
 * reach that far. The window is cut at the session close (a half day closes at 13:00).
 */
export function nextExecutionTime(
  calendar: TradingCalendar,
  window: ExecutionWindow,
  now: Date,
): Date | null {
  if (window.kind === "immediate") return now;
  const t = now.getTime();
  for (const session of calendar.sessions) {
    if (session.dayEndAt <= t) continue;
    const start = Math.max(newYorkLocalToEpochMs(session.date, window.start), session.openAt);
    const end = Math.min(newYorkLocalToEpochMs(session.date, window.end), session.closeAt);
    if (end <= start || end <= t) continue;
    return t >= start ? now : new Date(start);
  }
  return null;
}
