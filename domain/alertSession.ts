/**
 * How long a scanner's alert can be approved: a scanner's alert is priced for the session it was
 * issued in (or, issued while the market is closed, for the next one), so it is never approved
 * on a later session's prices, whatever its own expiry says.
 */
import type { TradingCalendar, TradingSession } from "./calendar";

/**
 * The session an alert received at `receivedAt` (epoch ms) is for: the one in progress, else the
 * next one to open. Null when the calendar does not reach it: past its last session, or received
 * before its first listed day (a session the calendar does not list may have come first, so its
 * first session is not named for an alert older than the calendar).
 */
export function alertSessionOf(
  calendar: TradingCalendar,
  receivedAt: number,
): TradingSession | null {
  const first = calendar.sessions[0];
  if (first === undefined || receivedAt < first.dayStartAt) return null;
  return calendar.sessions.find((session) => session.closeAt > receivedAt) ?? null;
}

/**
 * An alert's own expiry: the scanner's `expires_at` (epoch ms), or the desk's lifetime for an
 * alert without one, counted from when its session lets it be traded.
 */
export type AlertOwnExpiry = { readonly at: number } | { readonly lifetimeMs: number };

/**
 * When an alert stops being approvable, and why: its own expiry (the scanner's `expires_at`, else
 * the desk's lifetime), or the close of its session when that comes first.
 */
export type AlertDeadline =
  | { readonly code: "ALERT_EXPIRED"; readonly at: number }
  | {
      readonly code: "ALERT_SESSION_ENDED";
      readonly at: number;
      /** The trading date (`YYYY-MM-DD`, New York) of the session the alert was issued for. */
      readonly sessionDate: string;
    };

/**
 * The alert's deadline: the earlier of its own expiry and the close of the session it was issued
 * for; at a tie its own expiry is the one named. `ownExpiry` is epoch ms or an AlertOwnExpiry.
 *
 * A lifetime counts from the later of the receipt and its session's open: an alert issued while
 * the market is closed lives into the next session instead of expiring before any opens. Without
 * a calendar that reaches the alert's session, the lifetime counts from receipt and its own expiry
 * rules alone; but an alert received before the calendar's first listed day is given no later
 * than that day's close (its session closed then at the latest), named as its own expiry since
 * its session is not known.
 */
export function alertDeadline(
  calendar: TradingCalendar | null,
  receivedAt: number,
  ownExpiry: number | AlertOwnExpiry,
): AlertDeadline {
  const own = typeof ownExpiry === "number" ? { at: ownExpiry } : ownExpiry;
  const session = calendar === null ? null : alertSessionOf(calendar, receivedAt);
  const first = calendar?.sessions[0];
  if (session === null) {
    const expiry = "at" in own ? own.at : receivedAt + own.lifetimeMs;
    const olderThanCalendar = first !== undefined && receivedAt < first.dayStartAt;
    return {
      code: "ALERT_EXPIRED",
      at: olderThanCalendar ? Math.min(expiry, first.closeAt) : expiry,
    };
  }
  const expiry = "at" in own ? own.at : Math.max(receivedAt, session.openAt) + own.lifetimeMs;
  if (session.closeAt >= expiry) return { code: "ALERT_EXPIRED", at: expiry };
  return { code: "ALERT_SESSION_ENDED", at: session.closeAt, sessionDate: session.date };
}
