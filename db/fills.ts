import { and, asc, eq, gte } from "drizzle-orm";
import type { Database } from "./database";
import { fills } from "./schema";

/** One execution as stored. */
export type FillRecord = typeof fills.$inferSelect;

/** The fill with this execution id, or null. */
export async function findFillByExecutionId(
  db: Database,
  executionId: string,
): Promise<FillRecord | null> {
  const [row] = await db.select().from(fills).where(eq(fills.executionId, executionId));
  return row ?? null;
}

/** An order's fills in the order applied. */
export async function listFillsForOrder(db: Database, orderId: number): Promise<FillRecord[]> {
  return db.select().from(fills).where(eq(fills.orderId, orderId)).orderBy(asc(fills.id));
}

/** An account's fills at or after a time, in the order applied. */
export async function listFillsSince(
  db: Database,
  accountId: number,
  since: Date,
): Promise<FillRecord[]> {
  return db
    .select()
    .from(fills)
    .where(and(eq(fills.accountId, accountId), gte(fills.filledAt, since)))
    .orderBy(asc(fills.id));
}
