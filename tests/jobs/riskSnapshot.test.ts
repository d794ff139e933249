import { describe, expect, it } from "vitest";
import type { Broker } from "../../domain/broker";
import { createInFlightReads } from "../../jobs/riskSnapshot";

/** Two accounts' brokers: only their identity matters to the shared reads. */
const brokerA = {} as Broker;
const brokerB = {} as Broker;

function countingRead() {
  let calls = 0;
  let release: (value: string) => void = () => {};
  const read = () => {
    calls += 1;
    return new Promise<string>((resolve) => {
      release = resolve;
    });
  };
  return { read, calls: () => calls, release: (value: string) => release(value) };
}

describe("broker reads in flight", () => {
  it("are shared by the callers that ask meanwhile, and never kept once answered", async () => {
    const reads = createInFlightReads();
    const account = countingRead();
    const first = reads.share(brokerA, "account", account.read);
    const second = reads.share(brokerA, "account", account.read);
    expect(account.calls()).toBe(1);
    account.release("equity 100");
    expect(await Promise.all([first, second])).toEqual(["equity 100", "equity 100"]);
    // Answered: the next caller reads afresh.
    const third = reads.share(brokerA, "account", account.read);
    expect(account.calls()).toBe(2);
    account.release("equity 90");
    expect(await third).toBe("equity 90");
  });

  it("are not shared across accounts or kinds of read, and a failure is not kept", async () => {
    const reads = createInFlightReads();
    const read = countingRead();
    void reads.share(brokerA, "positions", read.read);
    void reads.share(brokerB, "positions", read.read);
    void reads.share(brokerA, "quote:AAPL", read.read);
    expect(read.calls()).toBe(3);
    let failures = 0;
    const failing = () => {
      failures += 1;
      return Promise.reject(new Error("broker unreachable"));
    };
    await expect(reads.share(brokerA, "account", failing)).rejects.toThrow("broker unreachable");
    await expect(reads.share(brokerA, "account", failing)).rejects.toThrow("broker unreachable");
    expect(failures).toBe(2);
  });
});
