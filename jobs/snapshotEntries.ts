/**
 * The desk's own side of the risk snapshot (jobs/riskSnapshot.ts `buildAccountSnapshot`): the
 * account's entries read from the books, which know an entry from the moment it is recorded,
 * before the broker has it. Exits add no exposure and are no new trades, so only entries count.
 */
import type { Database } from "../db/database";
import {
  listEntriesSince,
  listEntryTimesSince,
  sumWorkingEntries,
  type WorkingEntryTotal,
} from "../db/lifecycleQueries";
import type { OrderRecord } from "../db/orders";

/** How far back the order-rate rule counts entries. */
const RATE_WINDOW_MS = 60_000;

/** The entries `buildAccountSnapshot` takes, under its field names. */
export interface SnapshotEntries {
  readonly workingEntries: readonly WorkingEntryTotal[];
  readonly recentInSymbol: readonly OrderRecord[];
  readonly otherEntryTimes: readonly Date[];
}

/**
 * Reads the account's working entries (totals per symbol and side), its entries in `symbol`
 * inside the duplicate window in full (the duplicate rule compares content), and the times of
 * every other entry since the longer of that window and the rate rule's minute (the rate rule
 * counts them once). Read under the account's entry lock, two entries checked at once see each
 * other; read without it (a plan's preview), an entry being recorded meanwhile may be missed.
 */
export async function readSnapshotEntries(
  db: Database,
  accountId: number,
  symbol: string,
  duplicateWindowMs: number,
  now: Date,
): Promise<SnapshotEntries> {
  const since = new Date(now.getTime() - Math.max(duplicateWindowMs, RATE_WINDOW_MS));
  const duplicateSince = new Date(now.getTime() - duplicateWindowMs);
  const [workingEntries, recentInSymbol, otherEntryTimes] = await Promise.all([
    sumWorkingEntries(db, accountId),
    listEntriesSince(db, accountId, symbol, duplicateSince),
    listEntryTimesSince(db, accountId, since, symbol, duplicateSince),
  ]);
  return { workingEntries, recentInSymbol, otherEntryTimes };
}
