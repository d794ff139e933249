/**
 * A stalled Redis fails a command on the main connection in bounded time (a trader's /plan or
 * Confirm is answered rather than left hanging), while the workers' connection keeps BullMQ's
 * long blocking reads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMainRedis, openWorkerRedis } from "../../app/redisConnection";
import { createTestRedis, type TestRedis } from "../support/redis";
import { type RedisRelay, startRedisRelay } from "../support/redisRelay";

describe("the desk's Redis connections", () => {
  let relay: RedisRelay;
  let redis: TestRedis;

  beforeAll(async () => {
    relay = await startRedisRelay();
    redis = createTestRedis("redis-connection");
  });

  afterAll(async () => {
    await redis?.cleanup();
    await relay?.close();
  });

  it("fails a command Redis does not answer on the main connection", async () => {
    const main = openMainRedis(relay.url, { commandTimeoutMs: 300 });
    try {
      await main.connect();
      relay.hold();
      const started = Date.now();
      await expect(main.set(`${redis.prefix}k`, "v")).rejects.toThrow(/timed out/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      relay.release();
      main.disconnect();
    }
  });

  it("lets the workers' connection block longer than the main connection's limit", async () => {
    const main = openMainRedis(relay.url, { commandTimeoutMs: 300 });
    const worker = openWorkerRedis(main);
    try {
      // An empty list: BLPOP waits its full second, as BullMQ's blocking reads wait theirs.
      expect(await worker.blpop(`${redis.prefix}empty`, 1)).toBeNull();
    } finally {
      worker.disconnect();
      main.disconnect();
    }
  });
});
