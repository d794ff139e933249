/**
 * Fresh databases for tests, on both drivers: a uniquely named PostgreSQL database created from
 * TEST_DATABASE_URL and dropped afterwards, or an in-memory PGlite. Repository suites run over
 * `TEST_DRIVERS` with `describe.each` so the same assertions hold on both.
 *
 * A PostgreSQL test database is copied from a migrated template (`create database ... template`)
 * rather than migrated afresh, and a PGlite one is loaded from a migrated data directory kept in
 * the temporary directory, skipping its initdb (seconds) and its migrations. Both are named by a
 * digest of the migration files, so a changed migration builds new ones.
 *
 * Nothing piles up across runs and migrations: templates, data directories and test databases
 * left over (by another set of migrations, or by a process killed before its `close`) are removed
 * once unused for `STALE_AFTER_MS`. Unused is known by the time each template was last used (kept
 * in its comment), each data directory's modification time, and each test database's name;
 * whatever is in use is kept (PostgreSQL refuses to drop a database with a session). So another
 * checkout's run beside this one, on other migrations, keeps what it uses.
 */
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
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
  const name = testDatabaseName(new Date());
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    try {
      await createFromTemplate(admin, name, await migratedTemplate(admin, serverUrl));
    } catch (error) {
      // Removed since this process last looked (by a sweep that did not see it used): again.
      if (!isMissingDatabase(error)) throw error;
      templateName = undefined;
      await createFromTemplate(admin, name, await migratedTemplate(admin, serverUrl));
    }
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
      // Dropped even when closing the pool fails (the drop ends its sessions anyway).
      try {
        await opened.close();
      } finally {
        const dropper = postgres(serverUrl, { max: 1, onnotice: () => {} });
        try {
          await dropper.unsafe(`drop database if exists "${name}" with (force)`);
        } finally {
          await dropper.end();
        }
      }
    },
  };
}

/** Serializes building templates between test processes and checkouts sharing the server. */
const TEMPLATE_LOCK_KEY = "7240118352";

const TEMPLATE_PREFIX = "test_template_";
const TEST_DATABASE_PREFIX = "test_db_";

/**
 * How long a template, data directory or test database goes unused before it is removed: far
 * longer than a test file runs, so nothing a running test process uses is taken from it.
 */
export const STALE_AFTER_MS = 24 * 60 * 60_000;

/** How often a process records that it uses its template (at most; once per process at least). */
const USE_RECORDED_EVERY_MS = 10 * 60_000;

/**
 * A test database's name, carrying the time it was made (base 36 milliseconds) so a leftover one
 * is known to be old; then the process id and a random part.
 */
export function testDatabaseName(at: Date): string {
  const random = randomUUID().replace(/-/g, "").slice(0, 10);
  return `${TEST_DATABASE_PREFIX}${at.getTime().toString(36)}_${process.pid}_${random}`;
}

/** When a test database named by `testDatabaseName` was made (undefined for other names). */
function madeAt(name: string): Date | undefined {
  const match = /^test_db_([0-9a-z]{8,9})_\d+_[0-9a-f]{10}$/.exec(name);
  return match?.[1] === undefined ? undefined : new Date(Number.parseInt(match[1], 36));
}

/** The comment that records a database's last use (or, for one of unknown age, when first seen). */
function usedNote(at: Date): string {
  return `desk test database, last used ${at.toISOString()}`;
}

function noteTime(note: string | null): Date | undefined {
  const match = note === null ? null : / last used (\S+)$/.exec(note);
  const at = match?.[1] === undefined ? Number.NaN : Date.parse(match[1]);
  return Number.isNaN(at) ? undefined : new Date(at);
}

/** The template name, per process (the migration files do not change during a run). */
let templateName: Promise<string> | undefined;

function migratedTemplate(admin: postgres.Sql, serverUrl: string): Promise<string> {
  templateName ??= ensureMigratedTemplate(admin, serverUrl, new Date());
  templateName.catch(() => {
    templateName = undefined;
  });
  return templateName;
}

interface TestDatabaseEntry {
  readonly datname: string;
  readonly note: string | null;
}

/** The templates and test databases of this role on the server, with their comments. */
async function listTestDatabases(admin: postgres.Sql): Promise<TestDatabaseEntry[]> {
  return admin<TestDatabaseEntry[]>`
    select datname, shobj_description(oid, 'pg_database') as note
    from pg_database
    where (starts_with(datname, ${TEMPLATE_PREFIX}) or starts_with(datname, ${TEST_DATABASE_PREFIX}))
      and datdba = (select oid from pg_roles where rolname = current_user)`;
}

/** What to do with one entry of the listing, by the current template's name. */
function fateOf(
  entry: TestDatabaseEntry,
  current: string,
  now: Date,
): "keep" | "drop" | "note" | "dropBuilding" {
  const { datname } = entry;
  if (datname === current || datname === `${current}_building`) return "keep";
  // Only a process holding the lock builds, so another one's is a dead process's leftover.
  if (datname.startsWith(TEMPLATE_PREFIX) && datname.endsWith("_building")) return "dropBuilding";
  const lastUsed = noteTime(entry.note) ?? madeAt(datname);
  if (lastUsed === undefined) return "note";
  return now.getTime() - lastUsed.getTime() >= STALE_AFTER_MS ? "drop" : "keep";
}

/**
 * The name of a database holding every migration of this checkout, built on the server if it is
 * not there: built under another name and renamed when complete, so a template by this name is
 * never half migrated, and it refuses connections, so nothing can hold it open while it is copied.
 *
 * Its use is recorded (at most every `USE_RECORDED_EVERY_MS`), and what has gone unused for
 * `STALE_AFTER_MS` is dropped: templates of other migrations, leftover test databases. Both under
 * the lock, so a template is never dropped between a process recording its use and copying it.
 * One in use (a copy running, a session open) is kept for a later sweep.
 */
export async function ensureMigratedTemplate(
  admin: postgres.Sql,
  serverUrl: string,
  now: Date,
): Promise<string> {
  const name = `${TEMPLATE_PREFIX}${await migrationsDigest()}`;
  const isWork = (entries: readonly TestDatabaseEntry[]) => {
    const current = entries.find((entry) => entry.datname === name);
    const used = current === undefined ? undefined : noteTime(current.note);
    return (
      used === undefined ||
      now.getTime() - used.getTime() >= USE_RECORDED_EVERY_MS ||
      entries.some((entry) => fateOf(entry, name, now) !== "keep")
    );
  };
  if (!isWork(await listTestDatabases(admin))) return name;
  await admin`select pg_advisory_lock(${TEMPLATE_LOCK_KEY}::bigint)`;
  try {
    const entries = await listTestDatabases(admin);
    if (!entries.some((entry) => entry.datname === name)) {
      const building = `${name}_building`;
      // Left by a process that died while building it; nobody else builds while we hold the lock.
      await admin.unsafe(`drop database if exists "${building}" with (force)`);
      await admin.unsafe(`create database "${building}"`);
      await migratePostgres(withDatabaseName(serverUrl, building));
      await admin.unsafe(`alter database "${building}" with allow_connections false`);
      await admin.unsafe(`comment on database "${building}" is '${usedNote(now)}'`);
      await admin.unsafe(`alter database "${building}" rename to "${name}"`);
    } else if (isWork(entries.filter((entry) => entry.datname === name))) {
      await admin.unsafe(`comment on database "${name}" is '${usedNote(now)}'`);
    }
    await sweepTestDatabases(admin, entries, name, now);
    return name;
  } finally {
    await admin`select pg_advisory_unlock(${TEMPLATE_LOCK_KEY}::bigint)`;
  }
}

/** Drops what `fateOf` says is stale, and dates what it cannot date yet. Caller holds the lock. */
async function sweepTestDatabases(
  admin: postgres.Sql,
  entries: readonly TestDatabaseEntry[],
  current: string,
  now: Date,
): Promise<void> {
  // A copy of the template holds it for a moment; waiting longer is not worth holding the lock.
  await admin`set lock_timeout = '5s'`;
  try {
    for (const entry of entries) {
      const fate = fateOf(entry, current, now);
      if (fate === "keep") continue;
      try {
        if (fate === "note") {
          // Of unknown age (made by an older checkout): counted from now on.
          await admin.unsafe(`comment on database "${entry.datname}" is '${usedNote(now)}'`);
        } else {
          const force = fate === "dropBuilding" ? " with (force)" : "";
          await admin.unsafe(`drop database if exists "${entry.datname}"${force}`);
        }
      } catch (error) {
        // In use (a session, a copy) or gone meanwhile: left for a later sweep.
        if (!isSweepRefusal(error)) throw error;
      }
    }
  } finally {
    await admin`reset lock_timeout`;
  }
}

/** SQLSTATE of "does not exist" for a database. */
function isMissingDatabase(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "3D000";
}

/** Being accessed by other users, a lock not had in time, or gone meanwhile. */
function isSweepRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "55006" || code === "55P03" || code === "3D000";
}

/** The installed PGlite's package file: a data directory is for the version that wrote it. */
const PGLITE_PACKAGE = fileURLToPath(
  new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url),
);

/** The migrated PGlite data directory, per process. */
let pgliteDump: Promise<Blob> | undefined;

function migratedPgliteDump(): Promise<Blob> {
  pgliteDump ??= loadMigratedPgliteDump(tmpdir(), new Date());
  pgliteDump.catch(() => {
    pgliteDump = undefined;
  });
  return pgliteDump;
}

const PGLITE_DUMP_PREFIX = "desk-test-pglite-";

/**
 * A migrated PGlite data directory as a tarball, built once and kept in `dir` under the digest of
 * the migrations and the PGlite version. Written under another name and renamed, so test
 * processes starting together never read half a file. Its modification time is its last use, and
 * the tarballs of other digests or versions (and half-written ones) unused for `STALE_AFTER_MS`
 * are removed: one being read when removed is read to the end, one gone is built again.
 */
export async function loadMigratedPgliteDump(dir: string, now: Date): Promise<Blob> {
  const { version } = JSON.parse(await readFile(PGLITE_PACKAGE, "utf8")) as { version: string };
  const fileName = `${PGLITE_DUMP_PREFIX}${version}-${await migrationsDigest()}.tar`;
  const file = join(dir, fileName);
  let dump: Blob;
  try {
    dump = new Blob([await readFile(file)]);
    await recordUse(file, now);
  } catch {
    const client = await PGlite.create("memory://");
    try {
      await migratePglite(client);
      dump = await client.dumpDataDir("none");
      const partial = `${file}.${process.pid}.${randomUUID()}`;
      await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
      await utimes(partial, now, now);
      await rename(partial, file);
    } finally {
      await client.close();
    }
  }
  await sweepPgliteDumps(dir, fileName, now);
  return dump;
}

/**
 * Dates the tarball's use (at most every `USE_RECORDED_EVERY_MS`). Best effort: a file another
 * user wrote in a shared temporary directory cannot be touched, and is read all the same.
 */
async function recordUse(file: string, now: Date): Promise<void> {
  try {
    const { mtime } = await stat(file);
    if (now.getTime() - mtime.getTime() >= USE_RECORDED_EVERY_MS) await utimes(file, now, now);
  } catch {}
}

/**
 * Removes the tarballs in `dir` other than `current` that went unused for `STALE_AFTER_MS`. Best
 * effort: one removed meanwhile by another process, or another user's, is left be.
 */
async function sweepPgliteDumps(dir: string, current: string, now: Date): Promise<void> {
  const names = (await readdir(dir)).filter(
    (name) => name.startsWith(PGLITE_DUMP_PREFIX) && /\.tar($|\.)/.test(name) && name !== current,
  );
  for (const name of names) {
    try {
      const { mtime } = await stat(join(dir, name));
      if (now.getTime() - mtime.getTime() >= STALE_AFTER_MS) await unlink(join(dir, name));
    } catch {}
  }
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
