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

    const times = await acquireTimes([first, second], 10);

    expect(times).toHaveLength(10);
    // The first four go at once; every fifth must wait a whole window after the one four before.
    for (let i = 4; i < times.length; i++) {
      const earlier = times[i - 4] ?? 0;
      expect((times[i] ?? 0) - earlier).toBeGreaterThanOrEqual(500 - 25);
    }
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

  it("keeps separate budgets for separate accounts", async () => {
    const { prefix, redis } = testRedis.current;
    const options = { redis, keyPrefix: prefix, limit: 2, windowMs: 60_000 };
    const accountA = createRedisRateLimiter({ ...options, bucket: rateLimitBucketFor("KEY-A") });
    const accountB = createRedisRateLimiter({ ...options, bucket: rateLimitBucketFor("KEY-B") });

    await accountA.acquire();
    await accountA.acquire();
    // A is spent for a minute; B still has its two slots right away.
    const started = performance.now();
    await accountB.acquire();
    await accountB.acquire();
    expect(performance.now() - started).toBeLessThan(200);

    const waiting = new AbortController();
    const third = accountA.acquire(waiting.signal);
    setTimeout(() => waiting.abort(new Error("gave up")), 100);
    await expect(third).rejects.toThrow("gave up");
  });

  it("keeps its keys under the prefix, without the key id, and lets them expire", async () => {
    const { prefix, redis } = testRedis.current;
    const bucket = rateLimitBucketFor("AKSECRETLOOKINGKEY");
    expect(bucket).not.toContain("AKSECRETLOOKINGKEY");
    const limiter = createRedisRateLimiter({ redis, keyPrefix: prefix, bucket, windowMs: 5_000 });
    await limiter.acquire();
    const key = `${prefix}ratelimit:${bucket}`;
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
