/**
 * A request budget shared by every process that talks to the same broker account, kept in
 * Redis. An account's budget is named by a digest of its API key id, outside any desk's prefix:
 * Alpaca counts requests per key, so two desks with prefixes of their own on one Redis (each on
 * its own database) that use one key share it. It is a sliding window log (a sorted set of
 * request times) checked and updated atomically by one Lua script, timed by the Redis server's
 * clock so processes with skewed clocks agree. Callers wait for a slot rather than fail. While
 * Redis does not answer, each process keeps the budget on its own, so broker calls (kill-switch
 * cancels and closes too) never wait on Redis.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

/** Waits until one more request may be sent. */
export interface RateLimiter {
  /** Resolves when a slot is taken; rejects only if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void>;
}

/** Alpaca allows 200 requests per minute per account; keep a margin for clock edges. */
export const ALPACA_REQUESTS_PER_MINUTE = 190;

/** A broker account's budget, named by a digest of its key id (see `rateLimitBucketFor`). */
export interface AccountBucket {
  readonly account: string;
}

export interface RedisRateLimiterOptions {
  readonly redis: Redis;
  /** Key prefix (e.g. "desk:") of a named bucket: its key is `${prefix}ratelimit:${bucket}`. */
  readonly keyPrefix: string;
  /**
   * Which budget: a broker account's (`rateLimitBucketFor`), kept at `ratelimit:alpaca:<digest>`
   * whatever the prefix, or a name of the caller's own under the prefix.
   */
  readonly bucket: AccountBucket | string;
  /** Requests per window (default 190). */
  readonly limit?: number;
  /** Window length in ms (default 60 000). */
  readonly windowMs?: number;
  /** Longest single sleep between tries, so a freed slot is noticed soon (default 1000). */
  readonly maxSleepMs?: number;
  /**
   * How long one try waits for Redis before the process counts alone (default 2000); it then
   * counts alone for a while before asking Redis again.
   */
  readonly redisTimeoutMs?: number;
}

/** How long the process counts alone after Redis failed to answer, before asking it again. */
const LOCAL_AFTER_REDIS_FAILURE_MS = 5_000;

class RedisNoAnswer extends Error {
  override readonly name = "RedisNoAnswer";
}

// KEYS[1] bucket; ARGV: window ms, limit, unique member.
// Returns { 1, 0 } when a slot was taken, { 0, ms until the oldest entry leaves } otherwise.
const ACQUIRE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait}
`;

const ACQUIRE_SCRIPT_SHA = createHash("sha1").update(ACQUIRE_SCRIPT).digest("hex");

/**
 * The budget of the account of an API key id, shared by every limiter on the Redis with the same
 * key id: a digest of the key id, so no credential lands in Redis.
 */
export function rateLimitBucketFor(keyId: string): AccountBucket {
  return { account: createHash("sha256").update(keyId).digest("hex").slice(0, 16) };
}

/** The Redis key of a budget. */
function bucketKey(options: RedisRateLimiterOptions): string {
  return typeof options.bucket === "string"
    ? `${options.keyPrefix}ratelimit:${options.bucket}`
    : `ratelimit:alpaca:${options.bucket.account}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Builds a limiter whose budget is shared by every instance with the same bucket key. */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const key = bucketKey(options);
  const limit = options.limit ?? ALPACA_REQUESTS_PER_MINUTE;
  const windowMs = options.windowMs ?? 60_000;
  const maxSleepMs = options.maxSleepMs ?? 1000;
  const redisTimeoutMs = options.redisTimeoutMs ?? 2_000;
  // Over budget, Alpaca answers 429 and the broker backs off: a count that is only this
  // process's during an outage is safer than broker calls hanging on Redis.
  const local = createLocalRateLimiter({ limit, windowMs });
  let localUntil = 0;
  const tryRedis = async (): Promise<[number, number]> => {
    const args = [1, key, String(windowMs), String(limit), randomUUID()] as const;
    // By digest (the script is sent only when the server does not have it yet).
    const call = options.redis.evalsha(ACQUIRE_SCRIPT_SHA, ...args).catch((error: unknown) => {
      if (!String(error).includes("NOSCRIPT")) throw error;
      return options.redis.eval(ACQUIRE_SCRIPT, ...args);
    });
    call.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RedisNoAnswer()), redisTimeoutMs);
    });
    try {
      return (await Promise.race([call, timeout])) as [number, number];
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    async acquire(signal?: AbortSignal): Promise<void> {
      for (;;) {
        signal?.throwIfAborted();
        if (Date.now() < localUntil) return local.acquire(signal);
        let answer: [number, number];
        try {
          answer = await tryRedis();
        } catch {
          localUntil = Date.now() + LOCAL_AFTER_REDIS_FAILURE_MS;
          return local.acquire(signal);
        }
        if (answer[0] === 1) return;
        // Small random spread so waiting processes do not all retry in the same instant.
        const wait = Math.min(answer[1], maxSleepMs) + Math.floor(Math.random() * 20);
        await sleep(wait, signal);
      }
    },
  };
}

export interface LocalRateLimiterOptions {
  /** Requests per window (default 190). */
  readonly limit?: number;
  /** Window length in ms (default 60 000). */
  readonly windowMs?: number;
  /** The clock in ms (default `Date.now`). */
  readonly nowMs?: () => number;
}

/**
 * A limiter for one process alone (the sandbox, whose queues need no Redis): the same sliding
 * window, kept in memory. Never use it where several processes share a broker account.
 */
export function createLocalRateLimiter(options: LocalRateLimiterOptions = {}): RateLimiter {
  const limit = options.limit ?? ALPACA_REQUESTS_PER_MINUTE;
  const windowMs = options.windowMs ?? 60_000;
  const nowMs = options.nowMs ?? Date.now;
  const sent: number[] = [];
  return {
    async acquire(signal?: AbortSignal): Promise<void> {
      for (;;) {
        signal?.throwIfAborted();
        const now = nowMs();
        while (sent.length > 0 && (sent[0] ?? now) <= now - windowMs) sent.shift();
        if (sent.length < limit) {
          sent.push(now);
          return;
        }
        await sleep((sent[0] ?? now) + windowMs - now, signal);
      }
    },
  };
}
