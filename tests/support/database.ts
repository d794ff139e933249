/**
 * Fresh databases for tests, on both drivers: a uniquely named PostgreSQL database created from
 * TEST_DATABASE_URL and dropped afterwards, or an in-memory PGlite. Repository suites run over
 * `TEST_DRIVERS` with `describe.each` so the same assertions hold on both.
 *
 * A PostgreSQL test database is copied from a migrated template (`create database ... template`)
 * rather than migrated afresh, and a PGlite one is loaded from a migrated data directory kept in
 * the temporary directory, skipping its initdb (seconds) and its migrations. Both are named by a
 * digest of the migration files, so a changed migration builds new ones.
 */
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import postgres from "postgres";
import { type DatabaseDriver, type OpenDatabase, openDatabase, queryRows } from "../../db/database";
import { MIGRATIONS_FOLDER, migratePglite, migratePostgres } from "../../db/migrate";
import * as schema from "../../db/schema";

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
    // As openDatabase opens an embedded database, but from the migrated data directory.
    const client = await PGlite.create({ loadDataDir: await migratedPgliteDump() });
    const opened: OpenDatabase = {
      db: drizzlePglite({ client, schema }),
      driver: "pglite",
      close: () => client.close(),
    };
    return { ...opened, name: "memory", url: undefined, truncate: () => truncateAll(opened) };
  }
  const serverUrl = testDatabaseUrl();
  const name = `test_db_${process.pid}_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const template = await migratedTemplate(admin, serverUrl);
    await createFromTemplate(admin, name, template);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(serverUrl, name);
  // The template holds every migration of this checkout (its name says so).
  const opened = await openDatabase({ url, maxConnections: 20, migrate: false });
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

/** Serializes building templates between test processes and checkouts sharing the server. */
const TEMPLATE_LOCK_KEY = "7240118352";

/** The template's name, per process (the migration files do not change during a run). */
let templateName: Promise<string> | undefined;

/**
 * The name of a database holding every migration of this checkout, built once on the server.
 * It is built under another name and renamed when complete, so a template by this name is never
 * half migrated, and it refuses connections, so nothing can hold it open while it is copied.
 */
function migratedTemplate(admin: postgres.Sql, serverUrl: string): Promise<string> {
  templateName ??= (async () => {
    const name = `test_template_${await migrationsDigest()}`;
    if (await databaseExists(admin, name)) return name;
    await admin`select pg_advisory_lock(${TEMPLATE_LOCK_KEY}::bigint)`;
    try {
      if (await databaseExists(admin, name)) return name;
      const building = `${name}_building`;
      // Left by a process that died while building it; nobody else builds while we hold the lock.
      await admin.unsafe(`drop database if exists "${building}" with (force)`);
      await admin.unsafe(`create database "${building}"`);
      await migratePostgres(withDatabaseName(serverUrl, building));
      await admin.unsafe(`alter database "${building}" with allow_connections false`);
      await admin.unsafe(`alter database "${building}" rename to "${name}"`);
      return name;
    } finally {
      await admin`select pg_advisory_unlock(${TEMPLATE_LOCK_KEY}::bigint)`;
    }
  })();
  templateName.catch(() => {
    templateName = undefined;
  });
  return templateName;
}

/** The installed PGlite's package file: a data directory is for the version that wrote it. */
const PGLITE_PACKAGE = fileURLToPath(
  new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url),
);

/** The migrated PGlite data directory, per process. */
let pgliteDump: Promise<Blob> | undefined;

/**
 * A migrated PGlite data directory as a tarball, built once and kept in the temporary directory
 * under the digest of the migrations and the PGlite version. Written under another name and
 * renamed, so test processes starting together never read half a file.
 */
function migratedPgliteDump(): Promise<Blob> {
  pgliteDump ??= (async () => {
    const { version } = JSON.parse(await readFile(PGLITE_PACKAGE, "utf8")) as { version: string };
    const file = join(tmpdir(), `desk-test-pglite-${version}-${await migrationsDigest()}.tar`);
    try {
      return new Blob([await readFile(file)]);
    } catch {
      const client = await PGlite.create("memory://");
      try {
        await migratePglite(client);
        const dump = await client.dumpDataDir("none");
        const partial = `${file}.${process.pid}.${randomUUID()}`;
        await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
        await rename(partial, file);
        return dump;
      } finally {
        await client.close();
      }
    }
  })();
  pgliteDump.catch(() => {
    pgliteDump = undefined;
  });
  return pgliteDump;
}

/** Copies the template, again while another session briefly has it open. */
async function createFromTemplate(admin: postgres.Sql, name: string, template: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.unsafe(`create database "${name}" template "${template}"`);
      return;
    } catch (error) {
      const busy = error instanceof Error && /being accessed by other users/.test(error.message);
      if (!busy || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
  }
}

async function databaseExists(admin: postgres.Sql, name: string): Promise<boolean> {
  const rows = await admin`select 1 from pg_database where datname = ${name}`;
  return rows.length > 0;
}

/** The first 16 hex digits of a sha256 over every migration file's path and contents. */
async function migrationsDigest(): Promise<string> {
  const files = (await readdir(MIGRATIONS_FOLDER, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(MIGRATIONS_FOLDER, join(entry.parentPath, entry.name)))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(MIGRATIONS_FOLDER, file)));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
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
