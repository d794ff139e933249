/**
 * Fresh databases for tests, on both drivers: a uniquely named PostgreSQL database created from
 * TEST_DATABASE_URL and dropped afterwards, or an in-memory PGlite. Repository suites run over
 * `TEST_DRIVERS` with `describe.each` so the same assertions hold on both.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { type DatabaseDriver, type OpenDatabase, openDatabase, queryRows } from "../../db/database";

export const TEST_DRIVERS: readonly DatabaseDriver[] = ["postgres", "pglite"];

export const DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

/** The server every PostgreSQL test database is created on. */
export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
}

export interface TestDatabase extends OpenDatabase {
  /** The PostgreSQL database name, or `memory` for PGlite. */
  readonly name: string;
  /** The PostgreSQL URL of this test database (undefined for PGlite). */
  readonly url: string | undefined;
  /** Empties every table, the execution log included, and restarts the ids. */
  truncate(): Promise<void>;
}

/** Creates a migrated, empty database on the given driver; `close()` drops it. */
export async function createTestDatabase(driver: DatabaseDriver): Promise<TestDatabase> {
  if (driver === "pglite") {
    const opened = await openDatabase({ dataDir: "memory://" });
    return { ...opened, name: "memory", url: undefined, truncate: () => truncateAll(opened) };
  }
  const serverUrl = testDatabaseUrl();
  const name = `test_db_${process.pid}_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(serverUrl, name);
  const opened = await openDatabase({ url, maxConnections: 20 });
  return {
    ...opened,
    name,
    url,
    truncate: () => truncateAll(opened),
    close: async () => {
      await opened.close();
      const dropper = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** The same server URL pointing at another database. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function truncateAll({ db }: OpenDatabase): Promise<void> {
  const rows = await queryRows<{ tablename: string }>(
    db,
    sql`select tablename from pg_tables where schemaname = 'public'`,
  );
  const tables = rows.map((r) => `"${r.tablename}"`).join(", ");
  if (tables.length === 0) return;
  // The append-only triggers refuse TRUNCATE; a test may switch them off inside its transaction.
  await db.transaction(async (tx) => {
    await tx.execute(sql`alter table execution_log disable trigger user`);
    await tx.execute(sql.raw(`truncate ${tables} restart identity cascade`));
    await tx.execute(sql`alter table execution_log enable trigger user`);
  });
}

/** A connection of its own that counts the rows its statements read from one table. */
export interface RowsReadCounter {
  /** Run the statements to count through this handle. */
  readonly db: OpenDatabase["db"];
  /** Rows read from the table so far (sequential scans and index fetches alike). */
  read(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens a `RowsReadCounter` on the PostgreSQL test database `t`: one connection, whose statistics
 * are flushed on demand, so a count taken after a statement includes it.
 */
export async function openRowsReadCounter(
  t: TestDatabase,
  table: string,
): Promise<RowsReadCounter> {
  if (!t.url) throw new Error("rows read are counted on PostgreSQL only");
  const single = await openDatabase({ url: t.url, maxConnections: 1, migrate: false });
  return {
    db: single.db,
    async read() {
      await single.db.execute(sql`select pg_stat_force_next_flush()`);
      const [row] = await queryRows<{ n: string }>(
        single.db,
        sql`select (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::text as n
            from pg_stat_user_tables where relname = ${table}`,
      );
      return Number(row?.n);
    },
    close: () => single.close(),
  };
}
