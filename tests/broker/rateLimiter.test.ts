import { createHash, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import {
  createLocalRateLimiter,
  createRedisRateLimiter,
  rateLimitBucketFor,
} from "../../broker/rateLimiter";
import { useTestRedis } from "../support/redis";
import { startRedisRelay } from "../support/redisRelay";

const testRedis = useTestRedis("rate-limiter");

/** Acquires `count` slots from the limiters in turn, all at once; returns when each resolved. */
async function acquireTimes(
  limiters: ReadonlyArray<{ acquire(): Promise<void> }>,
  count: number,
): Promise<number[]> {
  const started = performance.now();
  const times = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const limiter = limiters[i % limiters.length];
      if (!limiter) throw new Error("no limiter");
      await limiter.acquire();
      return performance.now() - started;
    }),
  );
  return times.sort((a, b) => a - b);
}

describe("Redis rate limiter", () => {
  it("shares one budget between two processes: never more than the limit in any window", async () => {
    const { prefix } = testRedis.current;
    const options = { keyPrefix: prefix, bucket: "shared", limit: 4, windowMs: 500 };
    // Two connections, as two processes would have.
    const first = createRedisRateLimiter({ ...options, redis: testRedis.current.connect() });
    const second = createRedisRateLimiter({ ...options, redis: testRedis.current.connect() });

    // When each slot was granted, by Redis's clock: read from the budget right after each
    // acquire (a slot stays in it for a window). The times the callers saw come later by however
    // long the machine took to tell them, so the window is judged on these.
    const watcher = testRedis.current.connect();
    const granted = new Map<string, number>();
    const watched = [first, second].map((limiter) => ({
      async acquire() {
        await limiter.acquire();
        const entries = await watcher.zrange(`${prefix}ratelimit:shared`, "0", "-1", "WITHSCORES");
        for (let i = 0; i + 1 < entries.length; i += 2) {
          granted.set(entries[i] ?? "", Number(entries[i + 1]));
        }
      },
    }));

    const times = await acquireTimes(watched, 10);

    expect(times).toHaveLength(10);
    // Never more than four grants in any half second: every fifth a whole window after the one
    // four before it.
    const grants = [...granted.values()].sort((a, b) => a - b);
    expect(grants.length).toBeGreaterThanOrEqual(8);
    for (let i = 4; i < grants.length; i++) {
      expect((grants[i] ?? 0) - (grants[i - 4] ?? 0)).toBeGreaterThanOrEqual(500);
    }
    // The first four go at once.
    expect(times[3] ?? Number.POSITIVE_INFINITY).toBeLessThan(250);
    // Ten requests at four per half second need at least two windows.
    expect(times[9] ?? 0).toBeGreaterThanOrEqual(1000 - 50);
  });

  it("does not hold broker calls while Redis stalls: it keeps the budget in the process", async () => {
    const relay = await startRedisRelay();
    // As the runtime connects: commands wait for Redis however long it takes.
    const redis = new Redis(relay.url, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    try {
      const limiter = createRedisRateLimiter({
        redis,
        keyPrefix: testRedis.current.prefix,
        bucket: "stalled",
        limit: 2,
        windowMs: 60_000,
        redisTimeoutMs: 200,
      });
      await limiter.acquire();
      relay.hold();
      const started = performance.now();
      const answered = await Promise.race([
        limiter.acquire().then(() => "acquired"),
        new Promise((resolve) => setTimeout(() => resolve("still waiting"), 3_000)),
      ]);
      expect(answered).toBe("acquired");
      expect(performance.now() - started).toBeLessThan(1_000);
      // The budget still holds meanwhile: the process's own count stops the next ones.
      await limiter.acquire();
      const third = await Promise.race([
        limiter.acquire().then(() => "acquired"),
        new Promise((resolve) => setTimeout(() => resolve("waiting for a slot"), 1_000)),
      ]);
      expect(third).toBe("waiting for a slot");
    } finally {
      relay.release();
      redis.disconnect();
      await relay.close();
    }
  });

  it("shares one budget between desks of different prefixes using the same key id, not between key ids", async () => {
    const { redis } = testRedis.current;
    // Key ids of their own: the budget of an account is shared by everything on this Redis.
    const keyId = `AK-${randomUUID()}`;
    const otherKeyId = `AK-${randomUUID()}`;
    const budget = { redis, limit: 2, windowMs: 60_000 };
    const paperDesk = createRedisRateLimiter({
      ...budget,
      keyPrefix: `${testRedis.current.prefix}paper:`,
      bucket: rateLimitBucketFor(keyId),
    });
    const secondDesk = createRedisRateLimiter({
      ...budget,
      redis: testRedis.current.connect(),
      keyPrefix: `${testRedis.current.prefix}second:`,
      bucket: rateLimitBucketFor(keyId),
    });
    const otherAccount = createRedisRateLimiter({
      ...budget,
      keyPrefix: `${testRedis.current.prefix}second:`,
      bucket: rateLimitBucketFor(otherKeyId),
    });
    const digest = (id: string) => createHash("sha256").update(id).digest("hex").slice(0, 16);
    const shared = [`ratelimit:alpaca:${digest(keyId)}`, `ratelimit:alpaca:${digest(otherKeyId)}`];
    try {
      await paperDesk.acquire();
      await paperDesk.acquire();
      // The account's two slots are spent: the other desk with the same key waits for them.
      const waiting = new AbortController();
      const third = secondDesk.acquire(waiting.signal);
      setTimeout(() => waiting.abort(new Error("gave up")), 300);
      await expect(third).rejects.toThrow("gave up");
      // Another key id is another account: its slots are there at once.
      const started = performance.now();
      await otherAccount.acquire();
      await otherAccount.acquire();
      expect(performance.now() - started).toBeLessThan(200);

      // Kept under a digest of the key id, never the key id, and left to expire.
      expect(await redis.zcard(shared[0] ?? "")).toBe(2);
      const ttl = await redis.pttl(shared[0] ?? "");
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      for (const id of [keyId, otherKeyId]) {
        expect(await redis.keys(`*${id}*`)).toEqual([]);
      }
    } finally {
      await redis.del(...shared);
    }
  });

  it("keeps a budget named by the caller under its prefix and lets it expire", async () => {
    const { prefix, redis } = testRedis.current;
    const limiter = createRedisRateLimiter({
      redis,
      keyPrefix: prefix,
      bucket: "named",
      windowMs: 5_000,
    });
    await limiter.acquire();
    const key = `${prefix}ratelimit:named`;
    expect(await redis.zcard(key)).toBe(1);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
  });
});

describe("local rate limiter", () => {
  it("lets the limit through in a window, then waits for the oldest request to leave it", async () => {
    let now = 1_000_000;
    const limiter = createLocalRateLimiter({ limit: 3, windowMs: 60, nowMs: () => now });
    for (let i = 0; i < 3; i++) await limiter.acquire();
    let fourth = false;
    const waiting = limiter.acquire().then(() => {
      fourth = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fourth).toBe(false);
    now += 60;
    await waiting;
    expect(fourth).toBe(true);
  });

  it("stops waiting when the signal aborts", async () => {
    const limiter = createLocalRateLimiter({ limit: 1, windowMs: 60_000 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
  });
});
