/**
 * The circuit breakers with real PostgreSQL and the simulator: off by default, the drawdown from
 * the peak of the recent daily equity snapshots halts the account (AUTO) with a notice, from the
 * exit-fill pass and from valuation when an open position loses value (once, with the halt
 * response), and a trader's own state is never lifted or overridden by it; /resume beyond the
 * drawdown limit needs a reason.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import {
  changeTradingState,
  findBrokerAccount,
  loadTradingState,
  recordAccountSync,
} from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { readLog } from "../../db/executionLog";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { notificationOutbox } from "../../db/schema";
import { dec } from "../../domain/money";
import { setTradingStateManually } from "../../domain/tradingState";
import { createCircuitBreakers } from "../../jobs/circuitBreakers";
import { createJobDeps } from "../../jobs/context";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createKillSwitchProcessor } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, OWNER_CHAT, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("breakers");
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function snapshot(day: string, equity: string): Promise<void> {
  await recordEquitySnapshot(t.db.db, {
    accountId: t.accountId,
    tradingDay: day,
    equity: dec(equity),
    previousCloseEquity: dec(equity),
    cash: dec(equity),
    realizedPnl: dec(0),
    unrealizedPnl: dec(0),
    openPositions: 0,
    takenAt: new Date(`${day}T21:00:00Z`),
  });
}

async function stateNotices() {
  return t.db.db
    .select()
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.kind, "TRADING_STATE_CHANGED"),
        eq(notificationOutbox.chatId, OWNER_CHAT),
      ),
    );
}

/** Back to trading, as the session open's reset leaves an account. */
async function reactivate(): Promise<void> {
  const now = t.deps.now();
  await changeTradingState(
    t.db.db,
    t.accountId,
    () => ({
      mode: "ACTIVE",
      setBy: "AUTO",
      reason: "Reset at the session open",
      since: now.getTime(),
    }),
    "test",
    now,
  );
}

describe("circuit breakers", () => {
  it("halts on the drawdown from the recent peak, and only once it is reached", async () => {
    const check = createCircuitBreakers(t.deps);
    await snapshot("2026-02-25", "110000");
    await snapshot("2026-02-26", "100000");
    expect((await check(t.accountId)).outcome).toBe("off");

    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("10"), drawdownDays: 5 },
      new Date(),
    );
    // 9.09% below the 110,000 peak.
    expect((await check(t.accountId)).outcome).toBe("clear");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });

    // 10.91% below it.
    await snapshot("2026-02-27", "98000");
    expect((await check(t.accountId)).outcome).toBe("halted");
    const state = await loadTradingState(t.db.db, t.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
    expect(state?.reason).toContain("Drawdown 10.91%");
    const notices = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(
        and(
          eq(notificationOutbox.kind, "TRADING_STATE_CHANGED"),
          eq(notificationOutbox.chatId, OWNER_CHAT),
        ),
      );
    expect(notices).toHaveLength(1);
    // Already halted: nothing more happens.
    expect((await check(t.accountId)).outcome).toBe("unchanged");
  });

  it("refuses /resume while the drawdown is beyond its limit unless a reason is given, logged", async () => {
    const resume = createDailyLossResumeCheck({ db: t.db.db, now: t.deps.now });
    await snapshot("2026-02-25", "110000");
    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("10"), drawdownDays: 5 },
      new Date(),
    );
    const figures = (equity: string) =>
      recordAccountSync(
        t.db.db,
        t.accountId,
        { equity: dec(equity), lastEquity: dec(equity), cash: dec(equity), buyingPower: dec(0) },
        t.deps.now(),
      );
    // No loss today (equity = last equity); 10.91% below the 110,000 peak of the snapshots.
    await figures("98000");
    const refused = await resume({ accountId: t.accountId, reason: null });
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) {
      expect(refused.message).toContain("Drawdown 10.91%");
      expect(refused.message).not.toContain("day's loss");
    }
    expect(await resume({ accountId: t.accountId, reason: "new capital coming" })).toEqual({
      allowed: true,
    });
    const forced = (await readLog(t.db.db, { accountId: t.accountId })).find(
      (e) => e.event === "RESUME_FORCED",
    );
    expect(forced?.details).toMatchObject({
      reason: "new capital coming",
      drawdown: expect.stringContaining("Drawdown 10.91%"),
    });
    // Back within the limit: no reason needed.
    await figures("105000");
    expect(await resume({ accountId: t.accountId, reason: null })).toEqual({ allowed: true });
  });

  it("runs the halt response when the pass after an exit fill halts the account", async () => {
    await reactivate();
    const halted: number[] = [];
    const process = createKillSwitchProcessor(
      createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
      {
        check: createCircuitBreakers(t.deps),
        later: async () => {},
        onHalted: async (accountId) => {
          halted.push(accountId);
        },
        now: t.deps.now,
      },
    );
    const breakers = { data: { action: "breakers", accountId: t.accountId }, attemptsMade: 0 };
    expect(await process(breakers)).toMatchObject({ outcome: "halted" });
    expect(halted).toEqual([t.accountId]);
    expect(await process(breakers)).toMatchObject({ outcome: "unchanged" });
    expect(halted).toEqual([t.accountId]);
  });

  it("halts from valuation when an open position's loss crosses the drawdown limit, once, and leaves a trader's resume alone", async () => {
    const symbol = TEST_SYMBOLS[0] ?? "T00";
    const halts: [number, HaltCause][] = [];
    const value = createValueProcessor(t.deps, {
      onHalted: async (accountId, cause) => {
        halts.push([accountId, cause]);
      },
    });
    // A peak of 11,000,000 two sessions ago; the account holds 10,000,000 now (9.09% below).
    await snapshot("2026-02-27", "11000000");
    await reactivate();
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "drawdown-buy",
      symbol,
      side: "buy",
      qty: dec("50000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 10_000, "position");
    const told = (await stateNotices()).length;

    const calm = await value({ data: { accountId: t.accountId } });
    expect(calm).toMatchObject({ drawdown: "clear", dailyLossLevel: "OK" });
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({ mode: "ACTIVE" });

    // 50,000 x ~2.5 = ~$125,000 lost: 1.25% of the day (under the 3% daily limit), but equity is
    // now ~10.2% below the peak, beyond the 10% drawdown limit.
    await t.sim.control("/sim/quotes", { symbol, bid: "97.49", ask: "97.51" });
    const crossed = await value({ data: { accountId: t.accountId } });
    expect(crossed).toMatchObject({ drawdown: "halted", dailyLossLevel: "OK" });
    const state = await loadTradingState(t.db.db, t.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
    expect(state?.reason).toMatch(/^Drawdown 10\.\d\d% from the peak 11000000\.00/);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingStateSetBy).toBe(
      "system:circuit-breaker",
    );
    expect(halts).toEqual([[t.accountId, "drawdown"]]);
    const notices = await stateNotices();
    expect(notices).toHaveLength(told + 1);
    expect(notices.at(-1)?.payload).toMatchObject({ from: "ACTIVE", to: "HALTED", setBy: "AUTO" });

    // Every later valuation beyond the limit changes nothing: no notice, no second response.
    for (let i = 0; i < 5; i += 1) {
      expect((await value({ data: { accountId: t.accountId } })).drawdown).toBe("unchanged");
    }
    expect(await stateNotices()).toHaveLength(told + 1);
    expect(halts).toHaveLength(1);

    // A trader resumes by hand: the valuations that follow do not halt again this session.
    const now = t.deps.now();
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("ACTIVE", "/resume by @ann: hedged", now.getTime()),
      "user:1",
      now,
    );
    expect((await value({ data: { accountId: t.accountId } })).drawdown).toBe("unchanged");
    expect(await loadTradingState(t.db.db, t.accountId)).toMatchObject({
      mode: "ACTIVE",
      setBy: "MANUAL",
    });
    expect(halts).toHaveLength(1);

    // Back above the line: clear.
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    expect((await value({ data: { accountId: t.accountId } })).drawdown).toBe("clear");
  }, 60_000);

  it("is off on valuation when no drawdown limit is set", async () => {
    await saveKillSwitchSettings(t.db.db, t.accountId, DEFAULT_KILL_SWITCH_SETTINGS, new Date());
    const value = createValueProcessor(t.deps);
    expect((await value({ data: { accountId: t.accountId } })).drawdown).toBe("off");
  });

  it("tells a new session's drawdown halt that replaces the day before's as a halt, for the halt response", async () => {
    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("5"), drawdownDays: 5 },
      new Date(),
    );
    // Halted automatically on Monday; still beyond the limit at Tuesday's open.
    const monday = Date.parse("2026-03-02T16:00:00Z");
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => ({ mode: "HALTED", setBy: "AUTO", reason: "Monday's drawdown", since: monday }),
      "test",
      new Date(monday),
    );
    const tuesdayOpen = new Date("2026-03-03T14:30:05Z");
    const check = createCircuitBreakers(createJobDeps({ ...t.deps, now: () => tuesdayOpen }));
    expect((await check(t.accountId)).outcome).toBe("halted");
    const state = await loadTradingState(t.db.db, t.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "AUTO", since: tuesdayOpen.getTime() });
    expect((await check(t.accountId)).outcome).toBe("unchanged");
  });
});
