/**
 * When an alert stops being approvable, as every alert path must see it: its own expiry, capped
 * at the close of the session it was issued for (domain/alertSession.ts). The fan-out shows it,
 * the periodic pass expires on it and the buttons refuse on it, so an alert never sits live after
 * it can no longer be approved.
 */
import { findAccountForUser } from "../../db/accountOfUser";
import type { Alert } from "../../db/alerts";
import { type AlertDeadline, alertDeadline } from "../../domain/alertSession";
import type { TradingCalendar } from "../../domain/calendar";
import type { BotDeps } from "../feature";
import { alertOwnExpiry } from "./planPorts";

export type AlertDeadlineDeps = Pick<BotDeps, "db" | "logger" | "allowedUsers" | "now"> &
  Partial<Pick<BotDeps, "market" | "planning">>;

/**
 * How long a calendar read for alerts is used: the broker's calendar reaches three weeks ahead
 * and changes only with a new holiday, and the periodic pass must not read the account every
 * 30 seconds for it.
 */
const CALENDAR_REUSE_MS = 60 * 60_000;
/** After a failed read, how long alerts go by their own expiry before the broker is asked again. */
const CALENDAR_RETRY_MS = 60_000;

// By deps: one desk's calendar, read again only when stale (the clock may be moved either way);
// null remembers a failed read, so a broker outage is not asked once per alert per pass.
const calendars = new WeakMap<
  object,
  { readonly readAt: number; readonly calendar: TradingCalendar | null }
>();

/**
 * The desk's trading calendar from the account snapshot (the alert's account, else the one the
 * first deciding user trades); null when it cannot be read, and the alert's own expiry then rules
 * alone, as before the cap.
 */
async function deskCalendar(
  deps: AlertDeadlineDeps,
  alert: Alert,
  now: Date,
): Promise<TradingCalendar | null> {
  const cached = calendars.get(deps);
  const reuseMs = cached?.calendar === null ? CALENDAR_RETRY_MS : CALENDAR_REUSE_MS;
  if (cached !== undefined && Math.abs(now.getTime() - cached.readAt) < reuseMs) {
    return cached.calendar;
  }
  const { db, market } = deps;
  if (db === undefined || market === undefined) return null;
  try {
    let accountId = alert.accountId;
    if (accountId === null) {
      const decider = [...deps.allowedUsers].find(
        ([, role]) => role === "admin" || role === "trader",
      );
      if (decider === undefined) return null;
      accountId = (await findAccountForUser(db, decider[0]))?.id ?? null;
    }
    if (accountId === null) return null;
    const snapshot = await market.getAccountSnapshot(accountId, [alert.symbol]);
    if (!("calendar" in snapshot.market)) return null;
    calendars.set(deps, { readAt: now.getTime(), calendar: snapshot.market.calendar });
    return snapshot.market.calendar;
  } catch (error) {
    deps.logger.warn(
      { err: error, alertId: alert.externalId },
      "trading calendar not read: the alert's own expiry rules alone",
    );
    calendars.set(deps, { readAt: now.getTime(), calendar: null });
    return null;
  }
}

/**
 * The alert's deadline: its own expiry or its session's close, whichever comes first (the first
 * is the reason it expired, even once both are past). `now` dates the calendar read.
 */
export async function alertDeadlineOf(
  deps: AlertDeadlineDeps,
  alert: Alert,
  now: Date,
): Promise<AlertDeadline> {
  const calendar = await deskCalendar(deps, alert, now);
  return alertDeadline(calendar, alert.receivedAt.getTime(), alertOwnExpiry(alert, deps));
}
