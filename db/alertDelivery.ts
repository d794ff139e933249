/** Queries the alert fan-out needs beyond db/alerts.ts: per-symbol suppression. */
import { and, asc, desc, eq, gte, inArray, isNull, lte, ne, or } from "drizzle-orm";
import type { Alert } from "./alerts";
import type { Database } from "./database";
import { alerts } from "./schema";

/**
 * The latest other alert for this symbol received at or after `since` that was sent to traders
 * (sent, approved or rejected); null when there is none and the new alert may go out.
 */
export async function findRecentDeliveredAlert(
  db: Database,
  symbol: string,
  since: Date,
  excludingAlertId: number,
): Promise<Alert | null> {
  const [row] = await db
    .select()
    .from(alerts)
    .where(
      and(
        eq(alerts.symbol, symbol),
        ne(alerts.id, excludingAlertId),
        inArray(alerts.status, ["sent", "approved", "rejected"]),
        gte(alerts.receivedAt, since),
      ),
    )
    .orderBy(desc(alerts.receivedAt))
    .limit(1);
  return row ?? null;
}

/**
 * Alerts nobody decided that are past their expiry: their own `expires_at`, or `lifetimeMs` after
 * receipt when they carry none. Oldest first.
 */
export async function listAlertsPastExpiry(
  db: Database,
  at: Date,
  lifetimeMs: number,
): Promise<Alert[]> {
  const receivedBefore = new Date(at.getTime() - lifetimeMs);
  return db
    .select()
    .from(alerts)
    .where(
      and(
        inArray(alerts.status, ["received", "sent"]),
        or(
          lte(alerts.expiresAt, at),
          and(isNull(alerts.expiresAt), lte(alerts.receivedAt, receivedBefore)),
        ),
      ),
    )
    .orderBy(asc(alerts.id));
}
