/**
 * Redis for tests: each test file gets its own key prefix on TEST_REDIS_URL (default
 * redis://127.0.0.1:6379) and deletes its keys afterwards, so files run side by side, twice in a
 * row, and next to a running instance.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface TestRedis {
  /** A connection for the test file. */
  readonly redis: Redis;
  /** Every key the test writes must start with this (e.g. "test:rate-limiter:1a2b3c4d:"). */
  readonly prefix: string;
  /** Opens another connection to the same server, closed by `cleanup` (a second "process"). */
  connect(): Redis;
  /** Deletes the prefix's keys and closes every connection. */
  cleanup(): Promise<void>;
}

/** Deletes every key that starts with `prefix`. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** Opens a test Redis with a fresh prefix built from `name`. */
export function createTestRedis(name: string): TestRedis {
  const prefix = `test:${name}:${randomUUID().slice(0, 8)}:`;
  const connections: Redis[] = [];
  const connect = (): Redis => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
    connections.push(connection);
    return connection;
  };
  const redis = connect();
  return {
    redis,
    prefix,
    connect,
    async cleanup() {
      await deleteKeysWithPrefix(redis, prefix);
      await Promise.all(connections.map((connection) => connection.quit()));
    },
  };
}

/**
 * Wires a test Redis into the current test file: opened before all tests, cleaned up after.
 * Read `.current` inside tests and hooks.
 */
export function useTestRedis(name: string): { readonly current: TestRedis } {
  const holder: { current: TestRedis | undefined } = { current: undefined };
  beforeAll(() => {
    holder.current = createTestRedis(name);
  });
  afterAll(async () => {
    await holder.current?.cleanup();
  });
  return {
    get current(): TestRedis {
      if (!holder.current) throw new Error("test Redis is used outside a test");
      return holder.current;
    },
  };
}
