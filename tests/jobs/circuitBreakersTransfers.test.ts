/**
 * The drawdown breaker beside cash moved in or out, against the simulator with real PostgreSQL:
 * a withdrawal is no drawdown (no halt from valuation, so no halt response), and a deposit hides
 * none (the exit-fill pass and valuation halt on the loss under it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState, loadTradingState } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { dec } from "../../domain/money";
import { createCircuitBreakers, createDrawdownBreaker } from "../../jobs/circuitBreakers";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { MARKET_OPEN_TIME } from "../support/simulator";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const symbol = TEST_SYMBOLS[36] ?? "T36";

beforeAll(async () => {
  t = await openLifecycle("breakers-cash");
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function snapshot(day: string, equity: string, netDeposits = "0"): Promise<void> {
  await recordEquitySnapshot(t.db.db, {
    accountId: t.accountId,
    tradingDay: day,
    equity: dec(equity),
    previousCloseEquity: dec(equity),
    cash: dec(equity),
    netDeposits: dec(netDeposits),
    realizedPnl: dec(0),
    unrealizedPnl: dec(0),
    openPositions: 0,
    takenAt: new Date(`${day}T21:00:00Z`),
  });
}

async function limitDrawdown(percent: string, days: number): Promise<void> {
  await saveKillSwitchSettings(
    t.db.db,
    t.accountId,
    {
      ...DEFAULT_KILL_SWITCH_SETTINGS,
      maxDrawdownPercent: dec(percent),
      drawdownDays: days,
      flattenOnHalt: true,
    },
    new Date(),
  );
}

async function reactivate(): Promise<void> {
  const now = t.deps.now();
  await changeTradingState(
    t.db.db,
    t.accountId,
    () => ({ mode: "ACTIVE", setBy: "AUTO", reason: "Reset at the session open", since: 0 }),
    "test",
    now,
  );
}

function valueRecordingHalts() {
  const halts: HaltCause[] = [];
  const value = createValueProcessor(t.deps, {
    onHalted: async (_accountId, cause) => {
      halts.push(cause);
    },
  });
  return { value, halts };
}

describe("the drawdown breaker and cash transfers", () => {
  it("does not take the days' net deposits for a drawdown in the exit-fill pass, nor let them hide one", async () => {
    await limitDrawdown("10", 5);
    // 2,000,000 paid in on the 26th beside 1,500,000 lost: 12.5% below the 12,000,000 the 25th's
    // 10,000,000 is worth with it, though the raw equities never fell.
    await snapshot("2026-02-24", "10000000");
    await snapshot("2026-02-25", "10000000");
    await snapshot("2026-02-26", "10500000", "2000000");
    const check = createCircuitBreakers(t.deps);
    expect((await check(t.accountId)).outcome).toBe("halted");
    expect((await loadTradingState(t.db.db, t.accountId))?.reason).toContain(
      "Drawdown 12.50% from the peak 12000000.00",
    );

    // 1,500,000 taken out on the 27th of the 10,500,000, nothing lost: 14.3% below the raw peak
    // of the last two days.
    await limitDrawdown("10", 2);
    await reactivate();
    await snapshot("2026-02-27", "9000000", "-1500000");
    expect((await check(t.accountId)).outcome).toBe("clear");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
  });

  it("does not halt from valuation on a withdrawal larger than the drawdown limit", async () => {
    await limitDrawdown("10", 2);
    await reactivate();
    // The account's 10,000,000 at Friday's close.
    await snapshot("2026-02-27", "10000000");
    const { value, halts } = valueRecordingHalts();
    expect((await value({ data: { accountId: t.accountId } })).drawdown).toBe("clear");

    // 1,500,000 taken out: 15% below Friday's equity, but nothing was lost.
    await t.sim.control("/sim/cash", { amount: "-1500000" });
    const result = await value({ data: { accountId: t.accountId } });
    expect(result.equity).toBe("8500000");
    expect(result.drawdown).toBe("clear");
    expect(halts).toEqual([]);
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
  });

  it("halts from valuation on a loss a deposit of the day would hide", async () => {
    await limitDrawdown("1", 2);
    await reactivate();
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "breakers-cash-buy",
      symbol,
      side: "buy",
      qty: dec("50000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 10_000, "position");
    // The day so far: the earlier withdrawal, and the 8,500,000 left as Friday's base with it.
    expect((await valueRecordingHalts().value({ data: { accountId: t.accountId } })).drawdown).toBe(
      "clear",
    );

    // 50,000 x ~2.5 = ~125,000 lost (1.47%, beyond the 1% limit) while 2,000,000 is paid in.
    await t.sim.control("/sim/quotes", { symbol, bid: "97.49", ask: "97.51" });
    await t.sim.control("/sim/cash", { amount: "2000000" });
    const { value, halts } = valueRecordingHalts();
    const result = await value({ data: { accountId: t.accountId } });
    expect(result.drawdown).toBe("halted");
    expect(halts).toEqual(["drawdown"]);
    const state = await loadTradingState(t.db.db, t.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
    expect(state?.reason).toMatch(/^Drawdown 1\.\d\d% from the peak 10500000\.\d\d/);
  }, 60_000);
});

describe("a valuation a newer one of the day superseded", () => {
  it("does not weigh its older equity against the newer one's transfers", async () => {
    await limitDrawdown("10", 1);
    await reactivate();
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    const equity = account.value.equity;
    const today = "2026-03-02";
    await snapshot("2026-02-27", equity.toFixed());
    // A newer valuation stored today's figures with 20% paid in since this one read the account.
    const deposit = equity.times("0.2");
    await recordEquitySnapshot(t.db.db, {
      accountId: t.accountId,
      tradingDay: today,
      equity: equity.plus(deposit),
      previousCloseEquity: equity,
      cash: equity.plus(deposit),
      netDeposits: deposit,
      realizedPnl: dec(0),
      unrealizedPnl: dec(0),
      openPositions: 0,
      takenAt: new Date(t.deps.now().getTime() + 3600_000),
    });
    const { value, halts } = valueRecordingHalts();
    const result = await value({ data: { accountId: t.accountId } });
    expect(result.drawdown).not.toBe("halted");
    expect(halts).toEqual([]);
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
  });
});

describe("the drawdown breaker on a day without a session", () => {
  it("weighs the equity valued with the transfers since the last snapshot, which none holds yet", async () => {
    await limitDrawdown("10", 1);
    await reactivate();
    // Friday's close, the last snapshot; on Saturday 1,500,000 is taken out and nothing is lost.
    await snapshot("2026-03-06", "10000000");
    const fridayOpen = Date.parse("2026-03-06T14:30:00Z");
    const check = createDrawdownBreaker(t.deps);
    expect(
      await check(t.accountId, {
        equity: dec("8500000"),
        transfersSinceSnapshot: dec("-1500000"),
        lastSessionOpenAt: fridayOpen,
      }),
    ).toBe("clear");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
    // 2,000,000 paid in beside 1,500,000 lost: 15% below Friday's close with it.
    expect(
      await check(t.accountId, {
        equity: dec("10500000"),
        transfersSinceSnapshot: dec("2000000"),
        lastSessionOpenAt: fridayOpen,
      }),
    ).toBe("halted");
    expect((await loadTradingState(t.db.db, t.accountId))?.reason).toContain(
      "Drawdown 12.50% from the peak 12000000.00",
    );
  });
});

describe("a valuation on a day without a session", () => {
  it("does not halt on a withdrawal larger than the drawdown limit", async () => {
    await limitDrawdown("10", 1);
    await reactivate();
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    // Friday's close holds the account as it stands; on Saturday 15% of it is taken out.
    await snapshot("2026-03-06", account.value.equity.toFixed());
    const saturday = "2026-03-07T15:00:00Z";
    await t.sim.control("/sim/clock", { time: saturday });
    try {
      await t.sim.control("/sim/cash", {
        amount: account.value.equity.times("-0.15").toFixed(2),
      });
      const halts: HaltCause[] = [];
      const value = createValueProcessor(
        { ...t.deps, now: () => new Date(saturday) },
        {
          onHalted: async (_accountId, cause) => {
            halts.push(cause);
          },
        },
      );
      const result = await value({ data: { accountId: t.accountId } });
      expect(result.drawdown).toBe("clear");
      expect(halts).toEqual([]);
      expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });
    } finally {
      await t.sim.control("/sim/clock", { time: MARKET_OPEN_TIME });
    }
  });
});
