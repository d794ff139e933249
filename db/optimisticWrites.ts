/**
 * Helpers for writes that check row versions instead of holding locks: a statement writes a row
 * only if it is still the version read (`xmin`), counts what it wrote, and fails as a whole with a
 * serialization failure otherwise, so the caller can run again on fresh rows.
 */
import { type SQL, sql } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import type { Decimal } from "../domain/money";
import type { Database } from "./database";

/** The row version of the row a statement wrote, as `version` in its RETURNING list. */
export const rowVersion = sql<string>`xmin::text`.as("version");

/**
 * Whether a failed write lost a race and should run again on fresh rows: a row it writes changed
 * after it was read (serialization failure from `require_written`), or a position or fill it
 * inserts was inserted by someone else first (unique violation).
 */
export function lostRace(error: unknown): "retry" | "retry-once" | null {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const fields = current as { code?: unknown; constraint?: unknown; constraint_name?: unknown };
    if (fields.code === "40001") return "retry";
    if (fields.code === "23505") {
      const constraint = fields.constraint_name ?? fields.constraint;
      if (constraint === "positions_account_symbol") return "retry";
      // Once: the fresh read shows the execution as a duplicate; if not, it is another order's.
      if (constraint === "fills_execution_id_unique") return "retry-once";
    }
  }
  return null;
}

/** Whether a handle is a transaction (where a failed statement would abort the caller's work). */
export function isTransaction(db: Database): boolean {
  return db instanceof PgTransaction;
}

/** SQL that aborts the statement with a serialization failure unless `written` equals `expected`. */
export function requireWritten(written: SQL, expected: number, what: string): SQL {
  return sql`require_written(${written}, ${expected}, ${what})`;
}

/** The fields of `next` whose values differ from `row`'s, so an update sends only what changed. */
export function changedFields<T extends object>(row: T, next: Partial<T>): Partial<T> {
  const changed: Partial<T> = {};
  for (const key of Object.keys(next) as (keyof T)[]) {
    if (!sameValue(row[key], next[key])) changed[key] = next[key];
  }
  return changed;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && "eq" in a && "eq" in b) {
    // Decimals: equal values, whatever their scale.
    return (a as Decimal).eq(b as Decimal);
  }
  return false;
}
