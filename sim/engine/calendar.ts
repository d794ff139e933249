/**
 * NYSE regular-session calendar computed from the exchange's published rules: weekends, the ten
 * holidays with their weekend observance, Good Friday, early closes at 13:00 on the day before
 * Independence Day, the day after Thanksgiving and Christmas Eve, and one-off closures.
 */

export const EXCHANGE_TZ = "America/New_York";

/** A trading session in UTC instants, with its date and wall-clock times in New York. */
export interface Session {
  date: string; // YYYY-MM-DD in New York
  open: Date;
  close: Date;
  openHHMM: string; // "09:30"
  closeHHMM: string; // "16:00" or "13:00"
  preOpen: Date; // 04:00 extended hours start
  postClose: Date; // 20:00 extended hours end
}

const SPECIAL_CLOSURES = new Set(["2025-01-09"]); // National Day of Mourning, President Carter

const DAY_MS = 86_400_000;

function ymd(y: number, m: number, d: number): string {
  return `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

function weekday(y: number, m: number, d: number): number {
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

function nthWeekday(y: number, m: number, dow: number, n: number): number {
  const first = weekday(y, m, 1);
  return 1 + ((dow - first + 7) % 7) + (n - 1) * 7;
}

function lastWeekday(y: number, m: number, dow: number): number {
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const last = weekday(y, m, lastDay);
  return lastDay - ((last - dow + 7) % 7);
}

function easter(y: number): { m: number; d: number } {
  const a = y % 19;
  const b = Math.floor(y / 100);
  const c = y % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const mm = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * mm + 114) / 31);
  const day = ((h + l - 7 * mm + 114) % 31) + 1;
  return { m: month, d: day };
}

/** Saturday holidays are observed on Friday, Sunday holidays on Monday. */
function observed(y: number, m: number, d: number): string {
  const dow = weekday(y, m, d);
  const t = Date.UTC(y, m - 1, d) + (dow === 6 ? -DAY_MS : dow === 0 ? DAY_MS : 0);
  return new Date(t).toISOString().slice(0, 10);
}

const holidayCache = new Map<number, Set<string>>();

function holidays(y: number): Set<string> {
  const cached = holidayCache.get(y);
  if (cached) return cached;
  const set = new Set<string>();
  // New Year's Day on a Saturday is not observed on the preceding Friday (NYSE rule 7.2).
  if (weekday(y, 1, 1) !== 6) set.add(observed(y, 1, 1));
  set.add(ymd(y, 1, nthWeekday(y, 1, 1, 3)));
  set.add(ymd(y, 2, nthWeekday(y, 2, 1, 3)));
  const e = easter(y);
  set.add(new Date(Date.UTC(y, e.m - 1, e.d) - 2 * DAY_MS).toISOString().slice(0, 10));
  set.add(ymd(y, 5, lastWeekday(y, 5, 1)));
  if (y >= 2022) set.add(observed(y, 6, 19));
  set.add(observed(y, 7, 4));
  set.add(ymd(y, 9, nthWeekday(y, 9, 1, 1)));
  set.add(ymd(y, 11, nthWeekday(y, 11, 4, 4)));
  set.add(observed(y, 12, 25));
  holidayCache.set(y, set);
  return set;
}

function isTradingDate(date: string): boolean {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const dow = weekday(y, m, d);
  if (dow === 0 || dow === 6) return false;
  if (SPECIAL_CLOSURES.has(date)) return false;
  // Next year's New Year's Day observed on Dec 31 never happens (see above), so one set suffices.
  return !holidays(y).has(date);
}

function isEarlyClose(date: string): boolean {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  if (m === 7 && d === 3) return true;
  if (m === 12 && d === 24) return true;
  if (m === 11 && d === nthWeekday(y, 11, 4, 4) + 1) return true;
  return false;
}

const partsFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: EXCHANGE_TZ,
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** New York wall-clock parts of an instant. */
export function newYorkParts(t: Date): {
  date: string;
  hour: number;
  minute: number;
  second: number;
} {
  const parts: Record<string, string> = {};
  for (const p of partsFormat.formatToParts(t)) parts[p.type] = p.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

/** Offset of New York from UTC at an instant, in minutes (-240 or -300). */
export function newYorkOffsetMinutes(t: Date): number {
  const p = newYorkParts(t);
  const asUtc = Date.parse(
    `${p.date}T${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}:${String(p.second).padStart(2, "0")}Z`,
  );
  return Math.round((asUtc - Math.floor(t.getTime() / 1000) * 1000) / 60_000);
}

/** The UTC instant of a New York wall-clock time on a date. */
export function newYorkTime(date: string, hhmm: string): Date {
  const guess = new Date(`${date}T${hhmm}:00Z`);
  const offset = newYorkOffsetMinutes(new Date(guess.getTime() + 5 * 3_600_000));
  return new Date(guess.getTime() - offset * 60_000);
}

/** ISO-8601 with New York's offset, as Alpaca's clock prints it: 2026-03-02T09:30:00-05:00. */
export function formatNewYork(t: Date): string {
  const p = newYorkParts(t);
  const off = newYorkOffsetMinutes(t);
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  const time = `${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}:${String(p.second).padStart(2, "0")}`;
  return `${p.date}T${time}${sign}${hh}:${mm}`;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** The session on a New York date, or null when the exchange is closed that day. */
export function sessionOn(date: string): Session | null {
  if (!isTradingDate(date)) return null;
  const closeHHMM = isEarlyClose(date) ? "13:00" : "16:00";
  return {
    date,
    open: newYorkTime(date, "09:30"),
    close: newYorkTime(date, closeHHMM),
    openHHMM: "09:30",
    closeHHMM,
    preOpen: newYorkTime(date, "04:00"),
    postClose: newYorkTime(date, "20:00"),
  };
}

/** Sessions whose dates fall in [start, end] (New York dates, inclusive). */
export function sessionsBetween(start: string, end: string): Session[] {
  const out: Session[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) {
    const s = sessionOn(d);
    if (s) out.push(s);
  }
  return out;
}

/** The session in progress at t, or null. */
export function currentSession(t: Date): Session | null {
  const s = sessionOn(newYorkParts(t).date);
  if (s && t >= s.open && t < s.close) return s;
  return null;
}

/** The first session whose open is after t. */
export function nextSessionOpeningAfter(t: Date): Session {
  let date = newYorkParts(t).date;
  for (let i = 0; i < 20; i++) {
    const s = sessionOn(date);
    if (s && s.open > t) return s;
    date = addDays(date, 1);
  }
  throw new Error(`no session within 20 days of ${t.toISOString()}`);
}

/** The first session whose close is after t (the current one while it is open). */
export function nextSessionClosingAfter(t: Date): Session {
  let date = newYorkParts(t).date;
  for (let i = 0; i < 20; i++) {
    const s = sessionOn(date);
    if (s && s.close > t) return s;
    date = addDays(date, 1);
  }
  throw new Error(`no session within 20 days of ${t.toISOString()}`);
}

/** Whether extended-hours orders may execute at t (04:00-09:30 and close-20:00 on trading days). */
export function isExtendedHours(t: Date): boolean {
  const s = sessionOn(newYorkParts(t).date);
  if (!s) return false;
  return (t >= s.preOpen && t < s.open) || (t >= s.close && t < s.postClose);
}

/** Settlement date: T+1 trading days. */
export function settlementDate(date: string): string {
  let d = addDays(date, 1);
  while (!isTradingDate(d)) d = addDays(d, 1);
  return d;
}
