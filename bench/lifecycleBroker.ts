/**
 * The Alpaca adapter as the lifecycle bench builds it for one simulator: the bench's keys, a
 * request budget that never binds, and short retry delays. The bench process and its worker
 * processes build the same one.
 */
import type { Redis } from "ioredis";
import { createAlpacaBroker } from "../broker/alpaca/client";
import { createRedisRateLimiter } from "../broker/rateLimiter";
import type { Broker } from "../domain/broker";

export const BENCH_KEY = "bench-key";
export const BENCH_SECRET = "bench-secret";

/** Where one bench account's simulator listens. */
export interface BenchSimulatorUrls {
  readonly url: string;
  readonly streamUrl: string;
}

/** The broker of one bench account, rate limited through `redis` under `prefix`. */
export function createBenchBroker(redis: Redis, prefix: string, sim: BenchSimulatorUrls): Broker {
  return createAlpacaBroker({
    keyId: BENCH_KEY,
    secretKey: BENCH_SECRET,
    tradingUrl: sim.url,
    dataUrl: sim.url,
    streamUrl: sim.streamUrl,
    rateLimiter: createRedisRateLimiter({
      redis,
      keyPrefix: `${prefix}:`,
      bucket: "bench",
      limit: 100_000_000,
    }),
    requestTimeoutMs: 20_000,
    retryDelayMs: 10,
  });
}
