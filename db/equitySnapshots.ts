import { and, asc, eq, gte, lte, sql } from "drizzle-orm";
import type { Database } from "./database";
import { equitySnapshots } from "./schema";

/** An account's equity on one trading day. */
export type EquitySnapshot = typeof equitySnapshots.$inferSelect;
export type EquitySnapshotInput = Omit<typeof equitySnapshots.$inferInsert, "id">;

/**
 * Stores the day's snapshot, replacing one of the same account and trading day taken no later;
 * a snapshot taken later stays (a valuation that finishes after a newer one does not roll the
 * day back). Returns the row the day holds.
 */
export async function recordEquitySnapshot(
  db: Database,
  snapshot: EquitySnapshotInput,
): Promise<EquitySnapshot> {
  const { accountId: _a, tradingDay: _d, ...figures } = snapshot;
  const [row] = await db
    .insert(equitySnapshots)
    .values(snapshot)
    .onConflictDoUpdate({
      target: [equitySnapshots.accountId, equitySnapshots.tradingDay],
      set: figures,
      setWhere: sql`${equitySnapshots.takenAt} <= excluded.taken_at`,
    })
    .returning();
  if (row) return row;
  const [held] = await listEquitySnapshots(
    db,
    snapshot.accountId,
    snapshot.tradingDay,
    snapshot.tradingDay,
  );
  if (!held) throw new Error("upsert of an equity snapshot returned no row");
  return held;
}

/** Snapshots of an account between two trading days (`YYYY-MM-DD`, inclusive), oldest first. */
export async function listEquitySnapshots(
  db: Database,
  accountId: number,
  fromDay: string,
  toDay: string,
): Promise<EquitySnapshot[]> {
  return db
    .select()
    .from(equitySnapshots)
    .where(
      and(
        eq(equitySnapshots.accountId, accountId),
        gte(equitySnapshots.tradingDay, fromDay),
        lte(equitySnapshots.tradingDay, toDay),
      ),
    )
    .orderBy(asc(equitySnapshots.tradingDay));
}
