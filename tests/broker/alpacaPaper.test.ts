/**
 * The connector suite against Alpaca's paper environment, when ALPACA_KEY_ID and
 * ALPACA_SECRET_KEY are set. It places, replaces and cancels orders on the paper account, cancels
 * all its open orders and, while the market is open, buys and closes small positions.
 */
import { randomUUID } from "node:crypto";
import { describe, it } from "vitest";
import {
  type AlpacaBrokerOptions,
  alpacaUrls,
  createAlpacaBroker,
} from "../../broker/alpaca/client";
import { createRedisRateLimiter, rateLimitBucketFor } from "../../broker/rateLimiter";
import { createTestRedis } from "../support/redis";
import { describeBrokerConnector } from "./connectorSuite";

const keyId = process.env.ALPACA_KEY_ID ?? "";
const secretKey = process.env.ALPACA_SECRET_KEY ?? "";

if (keyId !== "" && secretKey !== "") {
  describeBrokerConnector("Alpaca paper", async () => {
    const urls = alpacaUrls(true);
    const testRedis = createTestRedis("broker-paper");
    const options: AlpacaBrokerOptions = {
      keyId,
      secretKey,
      ...urls,
      // Shared with any other process using this account, so the suite never pushes it past
      // Alpaca's limit; the prefix is the test's own, so its keys are removed afterwards.
      rateLimiter: createRedisRateLimiter({
        redis: testRedis.redis,
        keyPrefix: testRedis.prefix,
        bucket: rateLimitBucketFor(keyId),
      }),
      requestTimeoutMs: 15_000,
    };
    const broker = createAlpacaBroker(options);
    return {
      broker,
      brokerWith: (overrides: Partial<AlpacaBrokerOptions>) =>
        createAlpacaBroker({ ...options, ...overrides }),
      limiterWith: (budget: { limit: number; windowMs: number }) =>
        createRedisRateLimiter({
          redis: testRedis.redis,
          keyPrefix: testRedis.prefix,
          bucket: `budget-${randomUUID()}`,
          ...budget,
        }),
      symbol: "AAPL",
      sim: null,
      prepare: async () => {
        await broker.cancelAllOrders();
      },
      close: async () => {
        await broker.cancelAllOrders();
        await testRedis.cleanup();
      },
    };
  });
} else {
  describe.skip("broker connector: Alpaca paper", () => {
    it("runs when ALPACA_KEY_ID and ALPACA_SECRET_KEY are set", () => {});
  });
  console.info(
    "broker connector on Alpaca paper skipped: set ALPACA_KEY_ID and ALPACA_SECRET_KEY (a paper account) to run it",
  );
}
