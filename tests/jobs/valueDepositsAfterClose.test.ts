/**
 * A transfer booked after the session's close, against the simulator with real PostgreSQL and
 * Redis: the day's snapshot, rewritten by an after-hours valuation, holds it in its equity, and
 * the next trading day's net deposits, counted from that close, hold it too. The drawdown breaker
 * must count it once: an evening deposit is no drawdown the next morning (which would halt and,
 * with flattenOnHalt, flatten the account before the open).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTradingState } from "../../db/brokerAccounts";
import { listEquitySnapshots } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { dec } from "../../domain/money";
import { createJobDeps } from "../../jobs/context";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, openLifecycle } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("value-deposits-after-close");
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** One valuation of the account at `iso` (the desk's clock), the halts it made. */
async function valueAt(iso: string) {
  const halts: HaltCause[] = [];
  const now = new Date(iso);
  const value = createValueProcessor(createJobDeps({ ...t.deps, now: () => now }), {
    onHalted: async (_accountId, cause) => {
      halts.push(cause);
    },
  });
  const result = await value({ data: { accountId: t.accountId } });
  return { result, halts };
}

describe("a deposit booked after the close", () => {
  it("is counted once by the drawdown breaker, that evening and the next morning", async () => {
    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      {
        ...DEFAULT_KILL_SWITCH_SETTINGS,
        maxDrawdownPercent: dec("2"),
        drawdownDays: 2,
        flattenOnHalt: true,
      },
      new Date(),
    );
    // Monday 2 March 2026, 15:00 New York: the day's snapshot as the session values it.
    await t.sim.control("/sim/clock", { time: "2026-03-02T20:00:00Z" });
    expect((await valueAt("2026-03-02T20:00:00Z")).result).toMatchObject({
      drawdown: "clear",
    });
    const before = await t.broker.getAccount();
    if (!before.ok) throw new Error(before.message);
    const deposit = before.value.equity.times("0.05").toDecimalPlaces(2);

    // 16:30: 5% paid in. 17:00: the after-hours valuation rewrites Monday's snapshot with it.
    await t.sim.control("/sim/clock", { time: "2026-03-02T21:30:00Z" });
    await t.sim.control("/sim/cash", { amount: deposit.toFixed(2) });
    const evening = await valueAt("2026-03-02T22:00:00Z");
    expect(evening.result).toMatchObject({ drawdown: "clear" });
    const [monday] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-02", "2026-03-02");
    expect(monday?.netDeposits.toFixed(2)).toBe(deposit.toFixed(2));
    expect(monday?.depositsAfterClose.toFixed(2)).toBe(deposit.toFixed(2));

    // Tuesday 08:00: the day's net deposits count from Monday's close, the deposit among them.
    await t.sim.control("/sim/clock", { time: "2026-03-03T13:00:00Z" });
    const morning = await valueAt("2026-03-03T13:00:00Z");
    expect(morning.result).toMatchObject({ drawdown: "clear" });
    expect(morning.halts).toEqual([]);
    const [tuesday] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-03", "2026-03-03");
    expect(tuesday?.netDeposits.toFixed(2)).toBe(deposit.toFixed(2));
    expect(tuesday?.depositsAfterClose.toFixed()).toBe("0");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
  }, 60_000);
});
