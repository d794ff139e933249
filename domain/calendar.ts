/**
 * Trading calendar math for the US equity session. The broker's calendar lists each trading day
 * with its open and close in America/New_York local time; days that are absent (weekends,
 * holidays) have no session. Sessions are resolved once to instants (epoch milliseconds) so the
 * questions asked on every order (is the market open, when is the next open) are binary searches
 * with no time-zone work.
 *
 * Boundaries: a session's open is inclusive and its close exclusive. At exactly 09:30:00.000 the
 * market is open; at exactly 16:00:00.000 it is closed, and the "next close" is the next
 * session's close. This matches the broker's clock, which reports `is_open: false` at the close.
 */

/** A moment in time: epoch milliseconds or a Date (never read from the clock here). */
export type Instant = number | Date;

/** One day of the broker's calendar (Alpaca `GET /v2/calendar`): New York local date and times. */
export interface BrokerCalendarDay {
  /** Trading date, `YYYY-MM-DD`, in New York. */
  readonly date: string;
  /** Regular-session open, `HH:MM`, New York local time. */
  readonly open: string;
  /** Regular-session close, `HH:MM`, New York local time (13:00 on half days). */
  readonly close: string;
}

/** A trading session resolved to instants (epoch milliseconds). */
export interface TradingSession {
  /** Trading date, `YYYY-MM-DD`, in New York. */
  readonly date: string;
  /** The open, inclusive. */
  readonly openAt: number;
  /** The close, exclusive. */
  readonly closeAt: number;
  /** New York midnight that starts the trading date. */
  readonly dayStartAt: number;
  /** New York midnight that ends the trading date (23, 24 or 25 hours after the start). */
  readonly dayEndAt: number;
}

/** The trading sessions known from the broker's calendar, in date order. */
export interface TradingCalendar {
  readonly sessions: readonly TradingSession[];
  /**
   * End of the last listed day (New York midnight), or null for an empty calendar. Past it
   * nothing is known: answers that would look back to the last session return null instead of
   * a stale date.
   */
  readonly coversUntil: number | null;
}

const NEW_YORK = "America/New_York";

// Built once: constructing a formatter is costly, using one is cheap. It reads no clock.
const newYorkWallClockFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: NEW_YORK,
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_PATTERN = /^(\d{2}):(\d{2})$/;

/** Epoch milliseconds of an instant. */
export function toEpochMs(instant: Instant): number {
  return typeof instant === "number" ? instant : instant.getTime();
}

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

function newYorkWallClock(epochMs: number): WallClock {
  const fields: Record<string, number> = {};
  for (const part of newYorkWallClockFormat.formatToParts(epochMs)) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? Number.NaN,
    month: fields.month ?? Number.NaN,
    day: fields.day ?? Number.NaN,
    hour: fields.hour ?? Number.NaN,
    minute: fields.minute ?? Number.NaN,
    second: fields.second ?? Number.NaN,
  };
}

/** How far New York's wall clock is ahead of UTC at an instant, in ms (-5 h in winter, -4 h in summer). */
function newYorkOffsetMs(epochMs: number): number {
  const wholeSecond = Math.floor(epochMs / 1000) * 1000;
  const w = newYorkWallClock(wholeSecond);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - wholeSecond;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function formatDate(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, "0")}-${pad2(month)}-${pad2(day)}`;
}

function parseDate(date: string): { year: number; month: number; day: number } {
  const m = DATE_PATTERN.exec(date);
  const year = Number(m?.[1]);
  const month = Number(m?.[2]);
  const day = Number(m?.[3]);
  const check = new Date(Date.UTC(year, month - 1, day));
  if (
    !m ||
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day
  ) {
    throw new RangeError(`not a calendar date (YYYY-MM-DD): ${date}`);
  }
  return { year, month, day };
}

function parseTime(time: string): { hour: number; minute: number } {
  const m = TIME_PATTERN.exec(time);
  const hour = Number(m?.[1]);
  const minute = Number(m?.[2]);
  if (!m || hour > 23 || minute > 59) throw new RangeError(`not a time of day (HH:MM): ${time}`);
  return { hour, minute };
}

/**
 * The instant at which New York's wall clock shows `time` on `date`, correct on both sides of a
 * daylight-saving change. Times inside the skipped spring-forward hour or the repeated fall-back
 * hour (never a market time) resolve to one of the nearby instants. Throws on malformed input.
 */
export function newYorkLocalToEpochMs(date: string, time: string): number {
  const { year, month, day } = parseDate(date);
  const { hour, minute } = parseTime(time);
  const wallAsUtc = Date.UTC(year, month - 1, day, hour, minute);
  // The offset at the first guess can be the wrong side of a change; the second guess is right.
  const firstGuess = wallAsUtc - newYorkOffsetMs(wallAsUtc);
  return wallAsUtc - newYorkOffsetMs(firstGuess);
}

/** The calendar date in New York (`YYYY-MM-DD`) at an instant. */
export function newYorkDateOf(instant: Instant): string {
  const w = newYorkWallClock(toEpochMs(instant));
  return formatDate(w.year, w.month, w.day);
}

function nextDate(date: string): string {
  const { year, month, day } = parseDate(date);
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return formatDate(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
}

/**
 * Resolves the broker's calendar to sessions with instants. Input order does not matter.
 * Throws on malformed days, a close not after the open, or a date listed twice: the calendar is
 * broker data the adapter has already validated, so a bad one here is a bug.
 */
export function buildTradingCalendar(days: readonly BrokerCalendarDay[]): TradingCalendar {
  const sessions = days.map((d): TradingSession => {
    const openAt = newYorkLocalToEpochMs(d.date, d.open);
    const closeAt = newYorkLocalToEpochMs(d.date, d.close);
    if (closeAt <= openAt) throw new RangeError(`close not after open on ${d.date}`);
    return {
      date: d.date,
      openAt,
      closeAt,
      dayStartAt: newYorkLocalToEpochMs(d.date, "00:00"),
      dayEndAt: newYorkLocalToEpochMs(nextDate(d.date), "00:00"),
    };
  });
  sessions.sort((a, b) => a.openAt - b.openAt);
  for (let i = 1; i < sessions.length; i++) {
    if (sessions[i]?.date === sessions[i - 1]?.date) {
      throw new RangeError(`calendar lists ${sessions[i]?.date} twice`);
    }
  }
  return { sessions, coversUntil: sessions[sessions.length - 1]?.dayEndAt ?? null };
}

function isPastCoverage(calendar: TradingCalendar, t: number): boolean {
  return calendar.coversUntil === null || t >= calendar.coversUntil;
}

/** Index of the first session for which `isAfter` holds, given it holds for a suffix; length if none. */
function firstIndexWhere(
  sessions: readonly TradingSession[],
  isAfter: (s: TradingSession) => boolean,
): number {
  let lo = 0;
  let hi = sessions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const s = sessions[mid];
    if (s !== undefined && isAfter(s)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The session on a New York date, or null if the market does not trade that day. */
export function sessionOnDate(calendar: TradingCalendar, date: string): TradingSession | null {
  const i = firstIndexWhere(calendar.sessions, (s) => s.date >= date);
  const s = calendar.sessions[i];
  return s !== undefined && s.date === date ? s : null;
}

/**
 * The session of the New York day an instant falls in (before the open and after the close
 * included), or null on a day without a session (weekend, holiday, or outside the calendar).
 */
export function sessionAt(calendar: TradingCalendar, instant: Instant): TradingSession | null {
  const t = toEpochMs(instant);
  const i = firstIndexWhere(calendar.sessions, (s) => s.dayEndAt > t);
  const s = calendar.sessions[i];
  return s !== undefined && s.dayStartAt <= t ? s : null;
}

/** Whether the regular session is open at an instant (open inclusive, close exclusive). */
export function isMarketOpen(calendar: TradingCalendar, instant: Instant): boolean {
  const t = toEpochMs(instant);
  const s = calendar.sessions[firstIndexWhere(calendar.sessions, (x) => x.closeAt > t)];
  return s !== undefined && s.openAt <= t;
}

/**
 * The next session open strictly after an instant (while the market is open, tomorrow's open;
 * at exactly an open, the following one), or null past the end of the calendar.
 */
export function nextSessionOpen(calendar: TradingCalendar, instant: Instant): number | null {
  const t = toEpochMs(instant);
  const s = calendar.sessions[firstIndexWhere(calendar.sessions, (x) => x.openAt > t)];
  return s === undefined ? null : s.openAt;
}

/**
 * The close of the session in progress, or of the next session while the market is closed
 * (at exactly a close, the next session's), or null past the end of the calendar.
 */
export function nextSessionClose(calendar: TradingCalendar, instant: Instant): number | null {
  const t = toEpochMs(instant);
  const s = calendar.sessions[firstIndexWhere(calendar.sessions, (x) => x.closeAt > t)];
  return s === undefined ? null : s.closeAt;
}

/**
 * The latest session open at or before an instant (the open that started the current or the
 * last session), or null before the calendar starts or past its end. An automatic halt set before this instant
 * belongs to an earlier session.
 */
export function lastSessionOpen(calendar: TradingCalendar, instant: Instant): number | null {
  const t = toEpochMs(instant);
  if (isPastCoverage(calendar, t)) return null;
  const i = firstIndexWhere(calendar.sessions, (x) => x.openAt > t) - 1;
  const s = calendar.sessions[i];
  return s === undefined ? null : s.openAt;
}

/**
 * The trading date an instant's P&L belongs to: the New York date when it is a trading day
 * (pre-market and after-hours included), otherwise the last trading date before it (a weekend
 * belongs to Friday). Null before the calendar starts or past its end.
 */
export function tradingDateOf(calendar: TradingCalendar, instant: Instant): string | null {
  const t = toEpochMs(instant);
  if (isPastCoverage(calendar, t)) return null;
  const i = firstIndexWhere(calendar.sessions, (x) => x.dayStartAt > t) - 1;
  const s = calendar.sessions[i];
  return s === undefined ? null : s.date;
}

/** The New York trading date an instant's P&L belongs to, and its bounds (midnight to midnight). */
export interface TradingDay {
  readonly date: string;
  readonly from: Date;
  readonly to: Date;
}

/**
 * The trading date of `now` (a weekend belongs to Friday) from the calendar, or the New York
 * date when the calendar does not cover `now`; bounded by New York midnights.
 */
export function tradingDayOf(calendar: TradingCalendar | null, now: Date): TradingDay {
  const date = (calendar && tradingDateOf(calendar, now)) ?? newYorkDateOf(now);
  const session = calendar ? sessionOnDate(calendar, date) : null;
  if (session) return { date, from: new Date(session.dayStartAt), to: new Date(session.dayEndAt) };
  return {
    date,
    from: new Date(newYorkLocalToEpochMs(date, "00:00")),
    to: new Date(newYorkLocalToEpochMs(nextDate(date), "00:00")),
  };
}

/**
 * When the previous close the day's P&L is measured from was taken: the close of the session
 * before the trading day's; on a day without a session (weekend, holiday), by when the broker has
 * rolled its last equity, the trading day's own close. Without the calendar, the trading day's
 * start.
 */
export function previousCloseAt(
  calendar: TradingCalendar | null,
  day: TradingDay,
  session: TradingSession | null,
): Date {
  const sessions = calendar?.sessions ?? [];
  const i = sessions.findIndex((s) => s.date === day.date);
  const close = (session === null ? sessions[i] : sessions[i - 1])?.closeAt;
  return i >= 0 && close !== undefined ? new Date(close) : day.from;
}
