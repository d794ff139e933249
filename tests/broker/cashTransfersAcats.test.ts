/**
 * Cash moved in or out between brokers (an ACATS transfer of cash, activity ACATC) is a cash
 * transfer like a deposit or a withdrawal: the simulator books it, and the broker lists it with
 * its sign, so the valuation takes it out of the day's P&L.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAlpacaBroker } from "../../broker/alpaca/client";
import { createLocalRateLimiter } from "../../broker/rateLimiter";
import type { Broker } from "../../domain/broker";
import { netCashTransferred } from "../../domain/valuation";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

let sim: TestSimulator;
let broker: Broker;

beforeAll(async () => {
  sim = await startTestSimulator({ keyId: "acatc-key", secretKey: "acatc-secret", cash: "100000" });
  broker = createAlpacaBroker({
    keyId: "acatc-key",
    secretKey: "acatc-secret",
    tradingUrl: sim.url,
    dataUrl: sim.url,
    streamUrl: sim.streamUrl,
    rateLimiter: createLocalRateLimiter(),
    requestTimeoutMs: 5_000,
    retryDelayMs: 10,
  });
});
afterAll(async () => {
  await sim?.close();
});

describe("cash moved between brokers", () => {
  it("is listed among the cash transfers with its sign, and moves the equity by it", async () => {
    const before = await broker.getAccount();
    if (!before.ok) throw new Error(before.message);
    await sim.control("/sim/cash", { amount: "-40000", type: "ACATC" });
    await sim.control("/sim/cash", { amount: "2500.25", type: "ACATC" });

    const transfers = await broker.listCashTransfers(new Date(0));
    if (!transfers.ok) throw new Error(transfers.message);
    expect(transfers.value.map((x) => [x.kind, x.amount.toFixed(), x.canceled])).toEqual([
      ["journal", "-40000", false],
      ["journal", "2500.25", false],
    ]);
    expect(netCashTransferred(transfers.value, 0, Number.POSITIVE_INFINITY).toFixed()).toBe(
      "-37499.75",
    );
    const after = await broker.getAccount();
    if (!after.ok) throw new Error(after.message);
    expect(after.value.equity.minus(before.value.equity).toFixed()).toBe("-37499.75");
    expect(after.value.lastEquity.toFixed()).toBe(before.value.lastEquity.toFixed());
  });
});
