/**
 * Where the queues keep their jobs: Redis (any deployment), or PostgreSQL through BullMQ's
 * Postgres backend (the sandbox's embedded database, so a newcomer needs no Redis). Queues,
 * workers and the stream leases open through here, so the rest of jobs/ does not care which.
 */
import {
  createPostgresBackend,
  type PgPool,
  type Processor,
  Queue,
  type QueueOptions,
  runMigrations,
  Worker,
  type WorkerOptions,
  withBackend,
} from "bullmq";
import type { Redis } from "ioredis";
import { LEASE_TABLE_SQL } from "./leases";

/** Queues kept in PostgreSQL: a node-postgres pool whose search path reaches BullMQ's schema. */
export interface PostgresQueueStore {
  readonly kind: "postgres";
  readonly pool: PgPool;
  /** Said in health checks and start-up lines, e.g. "embedded database (in memory)". */
  readonly description: string;
}

/** A Redis connection (workers need `maxRetriesPerRequest: null`) or a PostgreSQL queue store. */
export type QueueConnection = Redis | PostgresQueueStore;

/** True for a PostgreSQL queue store. */
export function isPostgresQueueStore(
  connection: QueueConnection,
): connection is PostgresQueueStore {
  return (connection as Partial<PostgresQueueStore>).kind === "postgres";
}

/**
 * Opens a queue on either store. The Postgres backend keeps every queue of a store in one
 * schema, so the prefix only applies to Redis; a test wanting isolation uses a store of its own.
 */
export function openQueue<T>(
  name: string,
  connection: QueueConnection,
  options: Omit<QueueOptions, "connection">,
): Queue<T> {
  if (!isPostgresQueueStore(connection)) return new Queue<T>(name, { ...options, connection });
  const { prefix: _prefix, ...rest } = options;
  const postgres = withBackend(createPostgresBackend);
  // The queue API is the same on both backends; only the backend type parameter differs.
  return new postgres.Queue<T>(name, {
    ...rest,
    connection: connection.pool,
  }) as unknown as Queue<T>;
}

/** Starts a worker on either store (see {@link openQueue} about the prefix). */
export function openWorker<T>(
  name: string,
  processor: Processor<T>,
  connection: QueueConnection,
  options: Omit<WorkerOptions, "connection">,
): Worker<T> {
  if (!isPostgresQueueStore(connection)) {
    return new Worker<T>(name, processor, { ...options, connection });
  }
  const { prefix: _prefix, ...rest } = options;
  const postgres = withBackend(createPostgresBackend);
  return new postgres.Worker<T>(name, processor, {
    ...rest,
    connection: connection.pool,
  }) as unknown as Worker<T>;
}

/** Checks the store answers; the detail names it without credentials. */
export async function pingQueueStore(
  connection: QueueConnection,
): Promise<{ readonly ok: boolean; readonly detail: string }> {
  if (isPostgresQueueStore(connection)) {
    const answer = await connection.pool.query<{ one: number }>("select $1::int as one", [1]);
    return { ok: answer.rows.length === 1, detail: connection.description };
  }
  const answer = await connection.ping();
  return { ok: answer === "PONG", detail: "redis" };
}

/**
 * Brings a PostgreSQL queue store's schema up to date: BullMQ's migrations (under its advisory
 * lock, so processes starting together are safe) and the leases table. The pool's connections
 * must already search BullMQ's schema first.
 */
export async function prepareQueueStore(pool: PgPool): Promise<void> {
  const client = await pool.connect();
  try {
    await runMigrations(client);
  } finally {
    client.release();
  }
  await pool.query(LEASE_TABLE_SQL);
}
