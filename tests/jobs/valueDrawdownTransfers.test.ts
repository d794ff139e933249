/**
 * The drawdown breaker between two look-ups of the day's cash transfers, against the simulator
 * with real PostgreSQL and Redis: a transfer made since the last look-up is in the equity at once
 * but not in the day's net deposits yet. When the daily-loss rule would not act on it (a
 * withdrawal short of its warning, a deposit beside a loss short of it), the drawdown check must
 * still not halt on the withdrawal, nor let the deposit hide a drawdown.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState, loadTradingState } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import type { Broker } from "../../domain/broker";
import { type Decimal, dec } from "../../domain/money";
import { createJobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const symbol = TEST_SYMBOLS[35] ?? "T35";
let friday: Decimal;

beforeAll(async () => {
  t = await openLifecycle("value-drawdown-lag");
}, 60_000);
afterAll(async () => {
  await t?.close();
});

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
  await changeTradingState(
    t.db.db,
    t.accountId,
    () => ({ mode: "ACTIVE", setBy: "AUTO", reason: "Reset at the session open", since: 0 }),
    "test",
    t.deps.now(),
  );
}

/** How far the tests moved the clock ahead of the bench's (never back between tests). */
let shift = 0;

/** A value processor on a clock the test moves, counting the broker's transfer look-ups. */
function valueCounting() {
  const now = () => new Date(t.deps.now().getTime() + shift);
  const halts: HaltCause[] = [];
  const counted = { lookups: 0 };
  const broker: Broker = {
    ...t.broker,
    listCashTransfers(after) {
      counted.lookups += 1;
      return t.broker.listCashTransfers(after);
    },
  };
  const value = createValueProcessor(createJobDeps({ ...t.deps, brokerFor: () => broker, now }), {
    onHalted: async (_accountId, cause) => {
      halts.push(cause);
    },
  });
  return {
    value: () => value({ data: { accountId: t.accountId } }),
    halts,
    counted,
    later(ms: number) {
      shift += ms;
    },
  };
}

describe("the drawdown breaker between look-ups of the day's transfers", () => {
  it("does not halt on a withdrawal made since the last look-up", async () => {
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    friday = account.value.equity;
    // Friday's close holds the account as it stands; the limit is 2% below it.
    await recordEquitySnapshot(t.db.db, {
      accountId: t.accountId,
      tradingDay: "2026-02-27",
      equity: friday,
      previousCloseEquity: friday,
      cash: friday,
      netDeposits: dec(0),
      realizedPnl: dec(0),
      unrealizedPnl: dec(0),
      openPositions: 0,
      takenAt: new Date("2026-02-27T21:00:00Z"),
    });
    await limitDrawdown("2", 2);
    const { value, halts, counted, later } = valueCounting();
    expect((await value()).drawdown).toBe("clear");
    expect(counted.lookups).toBe(1);

    // 10 s later 2.2% is taken out: short of the daily-loss warning (2.4%), past the drawdown
    // limit were it a loss.
    await t.sim.control("/sim/cash", { amount: friday.times("-0.022").toFixed(2) });
    later(10_000);
    const result = await value();
    expect(result.dailyLossLevel).toBe("OK");
    expect(result.drawdown).toBe("clear");
    expect(halts).toEqual([]);
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });

    // Nothing moved since: no look-up for it.
    const looked = counted.lookups;
    later(10_000);
    expect((await value()).drawdown).toBe("clear");
    expect(counted.lookups).toBe(looked);
  });

  it("halts on a loss a deposit made since the last look-up hides", async () => {
    await limitDrawdown("1", 2);
    await reactivate();
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "value-drawdown-lag-buy",
      symbol,
      side: "buy",
      qty: dec("50000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 10_000, "position");
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    const { value, halts, later } = valueCounting();
    // The day's transfers (the 2.2% taken out) are looked up: about even against Friday.
    expect((await value()).drawdown).toBe("clear");

    // 10 s later 2,000,000 is paid in and the 50,000 shares trade at 97: 150,000 lost, 1.5% of
    // the previous close (short of the daily-loss warning), past the 1% drawdown limit.
    await t.sim.control("/sim/cash", { amount: "2000000" });
    await t.sim.control("/sim/quotes", { symbol, price: "97" });
    later(10_000);
    const result = await value();
    expect(result.dailyLossLevel).toBe("OK");
    expect(result.drawdown).toBe("halted");
    expect(halts).toEqual(["drawdown"]);
    expect((await loadTradingState(t.db.db, t.accountId))?.reason).toMatch(/^Drawdown 1\.\d\d%/);
  }, 60_000);
});
