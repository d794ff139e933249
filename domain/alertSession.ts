/**
 * How long a scanner's alert can be approved: a scanner's alert is priced for the session it was
 * issued in (or, issued while the market is closed, for the next one), so it is never approved
 * on a later session's prices, whatever its own expiry says.
 */
import type { TradingCalendar, TradingSession } from "./calendar";

/**
 * The session an alert received at `receivedAt` (epoch ms) is for: the one in progress, else the
 * next one to open; null when the calendar does not reach it.
 */
export function alertSessionOf(
  calendar: TradingCalendar,
  receivedAt: number,
): TradingSession | null {
  return calendar.sessions.find((session) => session.closeAt > receivedAt) ?? null;
}

/**
 * When an alert stops being approvable, and why: its own expiry (the scanner's `expires_at`, else
 * the desk's lifetime after receipt), or the close of its session when that comes first.
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
 * The alert's deadline: the earlier of its own expiry (`ownExpiry`, epoch ms) and the close of the
 * session it was issued for. Without a calendar, or one that does not reach the alert's session,
 * its own expiry rules alone; at a tie its own expiry is the one named.
 */
export function alertDeadline(
  calendar: TradingCalendar | null,
  receivedAt: number,
  ownExpiry: number,
): AlertDeadline {
  const session = calendar === null ? null : alertSessionOf(calendar, receivedAt);
  if (session === null || session.closeAt >= ownExpiry) {
    return { code: "ALERT_EXPIRED", at: ownExpiry };
  }
  return { code: "ALERT_SESSION_ENDED", at: session.closeAt, sessionDate: session.date };
}
