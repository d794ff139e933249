/**
 * Valuation through the extended sessions, against the simulator with real PostgreSQL and Redis:
 * the scheduled extended-hours valuation runs on trading days from 04:00 to the open and from
 * the close to 20:00 New York, for an account holding positions, and skips otherwise. A halt it
 * makes while the regular market is closed tells the trader that stops do not trigger and that
 * market orders, a flatten's too, wait for the open.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState, loadTradingState } from "../../db/brokerAccounts";
import { listEquitySnapshots } from "../../db/equitySnapshots";
import { dec } from "../../domain/money";
import { setTradingStateManually } from "../../domain/tradingState";
import { createJobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createValueProcessor, EXTENDED_HOURS_VALUATION, type HaltCause } from "../../jobs/value";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const symbol = TEST_SYMBOLS[36] ?? "T36";

beforeAll(async () => {
  t = await openLifecycle("value-extended");
}, 60_000);
afterAll(async () => {
  await t?.close();
});

function valueAt(iso: string) {
  const halts: HaltCause[] = [];
  const now = new Date(iso);
  const value = createValueProcessor(createJobDeps({ ...t.deps, now: () => now }), {
    onHalted: async (_accountId, cause) => {
      halts.push(cause);
    },
  });
  return {
    halts,
    extended: () => value({ name: EXTENDED_HOURS_VALUATION, data: { accountId: t.accountId } }),
  };
}

describe("the extended-hours valuation", () => {
  it("skips an account without positions", async () => {
    // Monday 2 March 2026, 17:00 New York.
    expect(await valueAt("2026-03-02T22:00:00Z").extended()).toEqual({
      accountId: t.accountId,
      skipped: "NO_POSITIONS",
    });
  });

  it("values positions after the close, keeping the day's previous close", async () => {
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "value-extended-buy",
      symbol,
      side: "buy",
      qty: dec("50000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 10_000, "position");
    await createReconcileProcessor(t.deps, { handler: createOrderReportHandler(t.deps) })({
      data: { accountId: t.accountId, reason: "test" },
    });
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);

    await t.sim.control("/sim/quotes", { symbol, bid: "98.99", ask: "99.01" });
    const result = await valueAt("2026-03-02T22:00:00Z").extended();
    expect(result).toMatchObject({ accountId: t.accountId, positions: 1, dailyLossLevel: "OK" });
    const [monday] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-02", "2026-03-02");
    expect(monday?.takenAt).toEqual(new Date("2026-03-02T22:00:00Z"));
    expect(monday?.previousCloseEquity.toFixed()).toBe(account.value.lastEquity.toFixed());
  }, 60_000);

  it("skips outside the extended sessions and on days without a session", async () => {
    for (const iso of [
      "2026-03-03T01:30:00Z", // Monday 20:30 New York
      "2026-03-03T08:30:00Z", // Tuesday 03:30
      "2026-03-07T15:00:00Z", // Saturday 10:00
    ]) {
      expect(await valueAt(iso).extended(), iso).toEqual({
        accountId: t.accountId,
        skipped: "OUTSIDE_EXTENDED_HOURS",
      });
    }
  });

  it("halts in the pre-market on a loss past the limit, telling the market is closed", async () => {
    // A trader resumed on Monday: that stands for Monday's figure, not Tuesday's.
    const resumedAt = new Date("2026-03-02T20:00:00Z");
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("ACTIVE", "/resume", resumedAt.getTime()),
      "test",
      resumedAt,
    );
    // Tuesday 05:00 New York: the position is 350,000 down, 3.5% of the previous close.
    await t.sim.control("/sim/quotes", { symbol, bid: "92.99", ask: "93.01" });
    const { extended, halts } = valueAt("2026-03-03T10:00:00Z");
    expect(await extended()).toMatchObject({ dailyLossLevel: "BREACHED" });
    expect(halts).toEqual(["daily-loss"]);
    const state = await loadTradingState(t.db.db, t.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
    expect(state?.reason).toContain(
      "Outside regular hours: stops do not trigger and market orders, a flatten's too, wait for the open at 09:30 New York on 2026-03-03",
    );
  }, 30_000);
});
