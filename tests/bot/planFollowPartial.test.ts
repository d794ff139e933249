/**
 * A confirmed plan's message while its entry fills in parts: the first part filled and protected
 * is not the end of it. The message must not show the part as the whole, nor stop following while
 * the rest of the entry is still working at the broker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOrderProgress } from "../../bot/features/planFollow";
import { findDecision } from "../../db/decisions";
import { findTradeByDecision } from "../../db/trades";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "../jobs/harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("plan-follow-partial");
  await startStreamingRuntime(t);
});
afterAll(async () => {
  await t?.close();
});

describe("a plan's message while the entry fills in parts", () => {
  it("shows how much of the entry filled and keeps following until it is done", async () => {
    const symbol = TEST_SYMBOLS[5] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const decision = await t.decide({
      symbol,
      entry: "100.05",
      stop: "95.00",
      target: "110.00",
      quantity: "10",
    });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    await waitFor(
      async () => (await findTradeByDecision(t.db.db, decision.id))?.trade.status === "POSITION",
    );
    const part = await waitFor(async () => {
      const progress = await readOrderProgress({ db: t.db.db }, decision.id);
      return /stop/.test(progress.line) && progress;
    });
    expect(part.line).toMatch(/^Filled 4 of 10 @ \$100\.\d\d; the rest of the entry is working\./);
    expect(part.done).toBe(false);

    // The rest fills: then it is the whole entry, protected.
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "100" });
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const whole = await waitFor(async () => {
      const progress = await readOrderProgress({ db: t.db.db }, decision.id);
      return progress.done && progress;
    });
    expect(whole.line).toMatch(/^Filled 10 @ \$100\.\d+\.\n<b>Protected:<\/b> stop \$95\.00/);
  });
});
