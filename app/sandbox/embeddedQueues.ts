/**
 * The sandbox's queues without Redis: BullMQ's Postgres backend on an embedded database of
 * their own, in memory like the private Redis it replaces (the desk's records live in the other
 * embedded database; jobs are redone from them at start: polls, reconciliation, schedules).
 * One process only: the embedded database is not shared with other processes.
 */
import { PGlite } from "@electric-sql/pglite";
import { DEFAULT_SCHEMA } from "bullmq";
import { type PostgresQueueStore, prepareQueueStore } from "../../jobs/queueConnection";
import { createPglitePool, PG_COMPATIBLE_PARSERS } from "./pglitePool";

export interface EmbeddedQueues {
  readonly store: PostgresQueueStore;
  /** Closes the database; close the queues and workers on it first. */
  close(): Promise<void>;
}

/** Opens an in-memory queue store with BullMQ's schema and the leases table. */
export async function openEmbeddedQueues(): Promise<EmbeddedQueues> {
  const db = new PGlite({ parsers: PG_COMPATIBLE_PARSERS });
  await db.waitReady;
  // One session for every "connection": BullMQ's statements name its tables unqualified.
  await db.exec(`SET search_path TO ${DEFAULT_SCHEMA}, public`);
  const pool = createPglitePool(db);
  await prepareQueueStore(pool);
  return {
    store: { kind: "postgres", pool, description: "embedded database (in memory)" },
    close: () => db.close(),
  };
}
