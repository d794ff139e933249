import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { fillPlaceholders, type Query, type SQL } from "drizzle-orm";
import { type PgDatabase, PgDialect, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite, PgliteSession } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import { migratePglite, migratePostgres } from "./migrate";
import * as schema from "./schema";

export type Schema = typeof schema;

/**
 * The database handle every repository takes. Both drivers (postgres.js and PGlite) produce it,
 * and so does a transaction, so one code path serves the server database, the embedded one and
 * work inside a transaction.
 */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;

/** Which engine is behind a handle. */
export type DatabaseDriver = "postgres" | "pglite";

/** An open database: the handle, the engine behind it, and how to close it. */
export interface OpenDatabase {
  readonly db: Database;
  readonly driver: DatabaseDriver;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** A PostgreSQL URL; when absent the embedded database is used. */
  readonly url?: string | undefined;
  /** Where the embedded database keeps its files (default `./data/db`); `memory://` keeps it in memory. */
  readonly dataDir?: string | undefined;
  /** Connection pool size for PostgreSQL (default 10). */
  readonly maxConnections?: number | undefined;
  /** Apply pending migrations before returning (default true). */
  readonly migrate?: boolean | undefined;
}

export const DEFAULT_DATA_DIR = "./data/db";

/**
 * Opens the database: PostgreSQL through postgres.js when a URL is given, otherwise PGlite in
 * `dataDir`. Migrations run first (idempotent; serialized across processes on PostgreSQL). The
 * embedded database belongs to one process: two processes must not open the same directory.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenDatabase> {
  const runMigrations = options.migrate ?? true;
  if (options.url) {
    if (runMigrations) await migratePostgres(options.url);
    const client = postgres(options.url, {
      max: options.maxConnections ?? 10,
      onnotice: () => {},
    });
    const db: Database = drizzlePostgres({ client: withPreparedStatements(client), schema });
    return { db, driver: "postgres", close: () => client.end() };
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (!dataDir.includes("://")) await mkdir(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir);
  const db: Database = drizzlePglite({ client, schema });
  if (runMigrations) await migratePglite(client);
  return { db, driver: "pglite", close: () => client.close() };
}

/**
 * The postgres.js client with every parameterized query sent as a named prepared statement, as
 * postgres.js does for its own tagged queries. drizzle sends its queries through `unsafe`, which
 * postgres.js otherwise runs unnamed: described first (an extra round trip) and planned afresh
 * every time. Prepared, a query text is described and planned once per connection, so a repeated
 * query is one round trip. The statement texts are the application's own (parameters are never
 * inlined), so the per-connection statement cache stays small. Transactions and savepoints get
 * the same treatment.
 */
function withPreparedStatements(client: Sql): Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "unsafe") {
        return (query: string, parameters?: unknown[], queryOptions?: Record<string, unknown>) =>
          target.unsafe(
            query,
            parameters as never,
            (parameters?.length ? { ...queryOptions, prepare: true } : queryOptions) as never,
          );
      }
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => {
          const callback = args[args.length - 1];
          if (typeof callback !== "function") return Reflect.apply(value, target, args);
          const wrapped = (scoped: Sql) => callback(withPreparedStatements(scoped));
          return Reflect.apply(value, target, [...args.slice(0, -1), wrapped]);
        };
      }
      return value;
    },
  });
}

/**
 * Runs raw SQL and returns its rows on either driver (postgres.js answers with an array of rows,
 * PGlite with `{ rows }`). Numeric columns come back as strings: convert them with `dec()`.
 */
export async function queryRows<T extends Record<string, unknown>>(
  db: Database,
  query: SQL,
): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}

const dialect = new PgDialect();

/**
 * Turns SQL into its text and parameter list once, for a statement run many times with different
 * values: write the varying values as `sql.placeholder(name)` and pass them to `runCompiled`.
 * Building a large statement costs the client more than the database spends running it.
 */
export function compileStatement(query: SQL): Query {
  return dialect.sqlToQuery(query);
}

/**
 * Runs a compiled statement with its placeholder values and returns its rows (as `queryRows`).
 * On PostgreSQL it is a named prepared statement, like every parameterized query.
 */
export async function runCompiled<T extends Record<string, unknown>>(
  db: Database,
  statement: Query,
  values: Record<string, unknown>,
): Promise<T[]> {
  return rowsOf<T>(
    await db._.session.prepareQuery(statement, undefined, undefined, false).execute(values),
  );
}

/**
 * `runCompiled` for a hot statement whose values are all strings (or null), such as a call of a
 * database function taking JSON. On the embedded database the values go into the statement text
 * as escaped literals and it runs as one simple query: one message to the engine instead of the
 * six of a parameterized query (parse, describe, bind, describe, execute, sync), which it would
 * parse and plan all the same. On PostgreSQL it is `runCompiled` (a prepared statement). The
 * statement's own text must hold no quoted name or literal.
 */
export async function runCompiledText<T extends Record<string, unknown>>(
  db: Database,
  statement: Query,
  values: Record<string, string | null>,
): Promise<T[]> {
  // A quoted name or literal could hold "$1": only statements without any are inlined.
  if (/['"]/.test(statement.sql)) throw new Error("runCompiledText takes no quoted text");
  const session: unknown = db._.session;
  if (!(session instanceof PgliteSession)) return runCompiled<T>(db, statement, values);
  const params = fillPlaceholders(statement.params, values);
  const text = statement.sql.replace(/\$(\d+)/g, (_, n: string) =>
    textLiteral(params[Number(n) - 1]),
  );
  // The engine's handle (or its transaction's), which drizzle keeps private.
  const client = (session as unknown as { client: Pick<PGlite, "exec"> }).client;
  const [result] = await client.exec(text);
  return (result?.rows ?? []) as T[];
}

/**
 * A string as an escape string literal (`E'...'`: backslashes and quotes doubled), whose meaning
 * does not depend on `standard_conforming_strings`. JSON text never holds a NUL character.
 */
function textLiteral(value: unknown): string {
  if (value === null) return "NULL";
  if (typeof value !== "string") throw new TypeError("runCompiledText takes only strings");
  return `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  if (typeof result === "object" && result !== null && "rows" in result) {
    return (result as { rows: T[] }).rows;
  }
  throw new TypeError("unexpected result shape from the database driver");
}
