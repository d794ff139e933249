/**
 * Leases: a name held by one holder at a time, lapsing unless renewed, so a dead holder's work
 * is taken over. Kept where the queues are: in Redis (`SET NX PX`, a Lua compare-and-extend, a
 * compare-and-delete) or in the PostgreSQL queue store (one row per name, timed by the
 * database's clock so processes with skewed clocks agree).
 */
import type { Redis } from "ioredis";
import {
  isPostgresQueueStore,
  type PostgresQueueStore,
  type QueueConnection,
} from "./queueConnection";

/** A lease on a name, held by one holder at a time. */
export interface Lease {
  /** Takes the lease if nobody holds it; true when this holder has it. */
  acquire(): Promise<boolean>;
  /** Extends this holder's lease; false when it was lost (lapsed, or taken by another). */
  renew(): Promise<boolean>;
  /** Gives the lease up if this holder has it. */
  release(): Promise<void>;
}

// KEYS[1] lease; ARGV: holder, ttl ms. Extends only the holder's own lease.
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

// KEYS[1] lease; ARGV: holder. Deletes only the holder's own lease.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** The table of leases in a PostgreSQL queue store (created by `prepareQueueStore`). */
export const LEASE_TABLE_SQL = `create table if not exists desk_lease (
  name text primary key,
  holder text not null,
  expires_at_ms bigint not null
)`;

const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/** A lease on `name` for `holder`, lasting `ttlMs` unless renewed, where the queues are kept. */
export function createLease(
  connection: QueueConnection,
  name: string,
  holder: string,
  ttlMs: number,
): Lease {
  return isPostgresQueueStore(connection)
    ? createPostgresLease(connection, name, holder, ttlMs)
    : createRedisLease(connection, name, holder, ttlMs);
}

/** Who holds the lease on `name` now, or null when nobody does (never taken, released, lapsed). */
export async function leaseHolder(
  connection: QueueConnection,
  name: string,
): Promise<string | null> {
  if (!isPostgresQueueStore(connection)) return connection.get(name);
  const held = await connection.pool.query<{ holder: string }>(
    `select holder from desk_lease where name = $1 and expires_at_ms >= ${NOW_MS}`,
    [name],
  );
  return held.rows[0]?.holder ?? null;
}

function createRedisLease(redis: Redis, key: string, holder: string, ttlMs: number): Lease {
  return {
    async acquire() {
      const set = await redis.set(key, holder, "PX", ttlMs, "NX");
      if (set === "OK") return true;
      // Ours already (a renewal was late but the lease survived): keep it, for a whole lease
      // time from now, as a fresh take would (the holder counts on that long).
      const renewed = await redis.eval(RENEW_SCRIPT, 1, key, holder, String(ttlMs));
      return renewed === 1;
    },
    async renew() {
      const renewed = await redis.eval(RENEW_SCRIPT, 1, key, holder, String(ttlMs));
      return renewed === 1;
    },
    async release() {
      await redis.eval(RELEASE_SCRIPT, 1, key, holder);
    },
  };
}

function createPostgresLease(
  store: PostgresQueueStore,
  name: string,
  holder: string,
  ttlMs: number,
): Lease {
  const params = [name, holder, String(ttlMs)];
  return {
    async acquire() {
      // Taken when free or lapsed; kept when already ours.
      const taken = await store.pool.query(
        `insert into desk_lease (name, holder, expires_at_ms) values ($1, $2, ${NOW_MS} + $3::bigint)
         on conflict (name) do update set holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
         where desk_lease.expires_at_ms < ${NOW_MS} or desk_lease.holder = excluded.holder
         returning holder`,
        params,
      );
      return taken.rows.length === 1;
    },
    async renew() {
      const renewed = await store.pool.query(
        `update desk_lease set expires_at_ms = ${NOW_MS} + $3::bigint
         where name = $1 and holder = $2 and expires_at_ms >= ${NOW_MS}
         returning name`,
        params,
      );
      return renewed.rows.length === 1;
    },
    async release() {
      await store.pool.query("delete from desk_lease where name = $1 and holder = $2", [
        name,
        holder,
      ]);
    },
  };
}
