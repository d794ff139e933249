/** Queries the alert fan-out needs beyond db/alerts.ts: per-symbol suppression, the expiry pass. */
import { and, asc, desc, eq, gte, inArray, ne } from "drizzle-orm";
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
 * Alerts nobody decided (received or sent), oldest first: the periodic pass checks each against
 * its deadline, which the close of its session can bring before its own expiry.
 */
export async function listUndecidedAlerts(db: Database): Promise<Alert[]> {
  return db
    .select()
    .from(alerts)
    .where(inArray(alerts.status, ["received", "sent"]))
    .orderBy(asc(alerts.id));
}
