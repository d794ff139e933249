/**
 * The desk's Redis connections. The main one (queue producers, saved /plan forms, the prefix
 * claim, health checks) gives up on a command Redis has not answered in time, so a stalled Redis
 * makes a trader's command fail with an answer instead of hanging; the workers' own connection
 * has no such limit, because BullMQ blocks on it for longer by design.
 */
import { Redis } from "ioredis";

/** How long a command on the main connection waits for Redis before it fails. */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;

export interface RedisConnectionOptions {
  /** Overrides {@link REDIS_COMMAND_TIMEOUT_MS}. */
  readonly commandTimeoutMs?: number;
}

/** The main connection (not yet connected: `connect()` it). */
export function openMainRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: 5_000,
    commandTimeout: options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
  });
  // ioredis reconnects by itself; errors are visible through /healthz rather than crashes.
  redis.on("error", () => {});
  return redis;
}

/** The workers' connection to the main one's Redis: BullMQ's blocking reads have no time limit. */
export function openWorkerRedis(main: Redis): Redis {
  const redis = main.duplicate({ maxRetriesPerRequest: null, commandTimeout: undefined });
  redis.on("error", () => {});
  return redis;
}
