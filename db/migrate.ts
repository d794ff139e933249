import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migrateWithPglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migrateWithPostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

/** The SQL migrations drizzle-kit generated from db/schema. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("./migrations", import.meta.url));

/** Advisory lock key that serializes migrations between processes starting together. */
const MIGRATION_LOCK_KEY = "7240118351";

/**
 * Applies pending migrations to a PostgreSQL database. Holds a session advisory lock on its own
 * connection meanwhile, so processes starting together migrate one after the other and the later
 * ones find nothing left to do.
 */
export async function migratePostgres(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    try {
      await migrateWithPostgres(drizzlePostgres({ client }), {
        migrationsFolder: MIGRATIONS_FOLDER,
      });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
    }
  } finally {
    await client.end();
  }
}

/** Applies pending migrations to an embedded database (one process, so no lock is needed). */
export async function migratePglite(client: PGlite): Promise<void> {
  await migrateWithPglite(drizzlePglite({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
}
