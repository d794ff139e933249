/** The connector suite against the local Alpaca simulator: always runs. */
import { randomUUID } from "node:crypto";
import { type AlpacaBrokerOptions, createAlpacaBroker } from "../../broker/alpaca/client";
import { createRedisRateLimiter, rateLimitBucketFor } from "../../broker/rateLimiter";
import { startSimulator } from "../../sim/server";
import { createTestRedis } from "../support/redis";
import { describeBrokerConnector } from "./connectorSuite";
import { simulatorControl } from "./simulatorControl";

const KEY_ID = "connector-key";
const SECRET_KEY = "connector-secret";

describeBrokerConnector("Alpaca adapter on the simulator", async () => {
  const sim = await startSimulator({
    keyId: KEY_ID,
    secretKey: SECRET_KEY,
    time: "2026-03-02T14:35:00Z",
  });
  const control = simulatorControl(sim.url);
  const testRedis = createTestRedis("broker-sim");
  const options: AlpacaBrokerOptions = {
    keyId: KEY_ID,
    secretKey: SECRET_KEY,
    tradingUrl: sim.url,
    dataUrl: sim.url,
    streamUrl: sim.streamUrl,
    rateLimiter: createRedisRateLimiter({
      redis: testRedis.redis,
      keyPrefix: testRedis.prefix,
      bucket: rateLimitBucketFor(KEY_ID),
    }),
    requestTimeoutMs: 5_000,
    retryDelayMs: 10,
    stream: { connectTimeoutMs: 5_000, initialReconnectMs: 100, maxReconnectMs: 500 },
  };
  return {
    broker: createAlpacaBroker(options),
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
    sim: control,
    prepare: async () => {
      await control.reset({ cash: "100000", time: "2026-03-02T14:35:00Z" });
      await control.setQuote("AAPL", "189.99", "190.01");
    },
    close: async () => {
      await sim.close();
      await testRedis.cleanup();
    },
  };
});
