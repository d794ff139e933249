/**
 * One Redis key prefix, one desk. Account ids start at 1 in every database, so a worker of one
 * desk taking another desk's jobs would run them against its own broker account and books. The
 * prefix therefore belongs to the database that first started with it: the same database (a
 * restart, another worker, a rolling deploy) keeps it and its queued jobs; another is refused.
 */
import { sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import { type Database, queryRows } from "../db/database";

/**
 * Which database this is: the server's system identifier (chosen at initdb, also by PGlite) and
 * the database's name, so two databases on one server differ too.
 */
export async function databaseIdentity(db: Database): Promise<string> {
  const rows = await queryRows<{ system: string; name: string }>(
    db,
    sql`select system_identifier::text as system, current_database() as name from pg_control_system()`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error("pg_control_system() returned no row");
  return `${row.system}/${row.name}`;
}

export type PrefixClaim =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: "PREFIX_OF_ANOTHER_DATABASE"; readonly owner: string };

/** The key naming the database a prefix belongs to. */
export function prefixOwnerKey(prefix: string): string {
  return `${prefix}:owner-database`;
}

/**
 * Claims `prefix` for the database `identity` (kept without expiry: queued jobs outlive any
 * process), or answers which database already holds it.
 */
export async function claimQueuePrefix(
  redis: Redis,
  prefix: string,
  identity: string,
): Promise<PrefixClaim> {
  const key = prefixOwnerKey(prefix);
  await redis.set(key, identity, "NX");
  const owner = await redis.get(key);
  // null: deleted by hand just now; the next start claims it again.
  if (owner === null || owner === identity) return { ok: true };
  return { ok: false, code: "PREFIX_OF_ANOTHER_DATABASE", owner };
}
