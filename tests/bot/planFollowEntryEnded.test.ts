/**
 * A confirmed plan's message when its entry ends at the broker without a fill and without the
 * trader cancelling it: the broker rejected it after taking it, or the day ended with it unfilled.
 * The message must say which, not that it was cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOrderProgress } from "../../bot/features/planFollow";
import { findDecision } from "../../db/decisions";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "../jobs/harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("plan-follow-entry-ended");
  await startStreamingRuntime(t);
});
afterAll(async () => {
  await t?.close();
});

async function endedLine(decisionId: number): Promise<string> {
  await waitFor(async () => (await findDecision(t.db.db, decisionId))?.status === "executed");
  const progress = await waitFor(async () => {
    const read = await readOrderProgress({ db: t.db.db }, decisionId);
    return read.done && read;
  });
  return progress.line;
}

describe("a plan's message when the entry ends unfilled at the broker", () => {
  it("says the broker rejected it", async () => {
    const symbol = TEST_SYMBOLS[6] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    // The stream's word comes after the execute job is done with the entry.
    await t.sim.control("/sim/faults", { rejectOrders: 1, streamDelayMs: 500 });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    const line = await endedLine(decision.id);
    await t.sim.control("/sim/faults", { streamDelayMs: 0 });
    expect(line).toBe("<b>Entry rejected by the broker.</b> Nothing was filled.");
  });

  it("says the day ended with it unfilled", async () => {
    const symbol = TEST_SYMBOLS[7] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    await t.sim.control("/sim/clock", { time: "2026-03-02T21:10:00Z" });
    const line = await endedLine(decision.id);
    expect(line).toBe("<b>Entry expired</b> at the broker, unfilled.");
  });
});
