/**
 * The account snapshot behind a plan (the bot's plan card, the REST submit), built the one way the
 * execute job builds it before an entry is sent (jobs/riskSnapshot.ts, jobs/snapshotEntries.ts),
 * so a plan is checked against what the job will check: the broker's account, positions, quote
 * and asset flags; the desk's working and recent entries from its books; market hours from the
 * trading calendar at the desk's clock. A preview: no lock is taken, the job checks again.
 */
import type { Logger } from "pino";
import type { Database } from "../db/database";
import { loadRiskLimits } from "../db/riskLimits";
import type { Broker } from "../domain/broker";
import type { AccountSnapshot } from "../domain/riskChecks";
import type { RiskLimits } from "../domain/riskLimits";
import { type CalendarCache, createCalendarCache } from "../jobs/marketCalendar";
import {
  type AssetCache,
  buildAccountSnapshot,
  createAssetCache,
  readBrokerView,
  unknownAsNotTradable,
} from "../jobs/riskSnapshot";
import { readSnapshotEntries } from "../jobs/snapshotEntries";

/** What a process remembers between snapshots: asset flags and trading calendars. */
export interface SnapshotCaches {
  readonly assets: AssetCache;
  readonly calendars: CalendarCache;
}

/** `logger` hears of a calendar refresh that failed while the calendar held still answered. */
export function createSnapshotCaches(
  options: { readonly logger?: Pick<Logger, "warn"> } = {},
): SnapshotCaches {
  return { assets: createAssetCache(), calendars: createCalendarCache({ logger: options.logger }) };
}

export interface SnapshotDeps {
  readonly db: Database;
  readonly broker: Broker;
  readonly caches: SnapshotCaches;
}

/** A snapshot and the limits it was read with (the duplicate window shapes it). */
export interface LoadedSnapshot {
  readonly snapshot: AccountSnapshot;
  readonly limits: RiskLimits;
}

/** The broker could not be asked (its failure code) or had no trading calendar. */
export interface SnapshotUnavailable {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
}

/**
 * Reads a fresh snapshot of the account for checking an order in `symbol`, with the account's
 * risk limits. Answers why not instead when the broker fails (the caller refuses to decide on
 * partial information); failed database reads throw.
 */
export async function loadAccountSnapshot(
  deps: SnapshotDeps,
  accountId: number,
  symbol: string,
  now: Date,
): Promise<{ readonly ok: true; readonly value: LoadedSnapshot } | SnapshotUnavailable> {
  const [view, calendar, limits] = await Promise.all([
    readBrokerView(deps.broker, symbol, unknownAsNotTradable(deps.caches.assets)),
    deps.caches.calendars.get(accountId, deps.broker, now).catch((error: unknown) => ({
      ok: false as const,
      code: "CALENDAR_UNAVAILABLE",
      message: error instanceof Error ? error.message : String(error),
    })),
    loadRiskLimits(deps.db, accountId),
  ]);
  if ("ok" in view) return view;
  if ("ok" in calendar) return calendar;
  const entries = await readSnapshotEntries(
    deps.db,
    accountId,
    symbol,
    limits.duplicateWindowMs,
    now,
  );
  return {
    ok: true,
    value: { snapshot: buildAccountSnapshot({ view, symbol, ...entries, calendar }), limits },
  };
}
