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
// `failed` remembers a failed read, so a broker outage is not asked once per alert per pass.
const calendars = new WeakMap<
  object,
  { readonly readAt: number; readonly calendar: TradingCalendar | null; readonly failed: boolean }
>();

/**
 * The desk's trading calendar from the account snapshot (the alert's account, else the one the
 * first deciding user trades); when it cannot be read, the one read before while it still covers
 * now, else null, and the alert's own expiry then rules alone.
 */
async function deskCalendar(
  deps: AlertDeadlineDeps,
  alert: Alert,
  now: Date,
): Promise<TradingCalendar | null> {
  const cached = calendars.get(deps);
  const reuseMs = cached?.failed === true ? CALENDAR_RETRY_MS : CALENDAR_REUSE_MS;
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
    calendars.set(deps, {
      readAt: now.getTime(),
      calendar: snapshot.market.calendar,
      failed: false,
    });
    return snapshot.market.calendar;
  } catch (error) {
    // Sessions are fixed weeks ahead: a calendar held that still covers now answers through a
    // broker outage. Without it an overnight alert would be expired for good on a guess (its
    // lifetime from receipt), the periodic pass running every 30 seconds.
    const held = cached?.calendar ?? null;
    const covers = held?.coversUntil != null && now.getTime() < held.coversUntil;
    deps.logger.warn(
      { err: error, alertId: alert.externalId },
      covers
        ? "trading calendar not read: the one read before still answers"
        : "trading calendar not read: the alert's own expiry rules alone",
    );
    const calendar = covers ? held : null;
    calendars.set(deps, { readAt: now.getTime(), calendar, failed: true });
    return calendar;
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
