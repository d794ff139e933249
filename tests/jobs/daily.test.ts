/**
 * The daily jobs against the simulator's calendar and account, with real PostgreSQL and Redis:
 * the session-open reset of automatic halts (a trader's own halt kept, holidays skipped) and the
 * end-of-day summary, each told once.
 */
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announceStateChange } from "../../bot/features/stateAnnouncements";
import {
  changeTradingState,
  ensureBrokerAccount,
  findBrokerAccount,
  recordAccountSync,
} from "../../db/brokerAccounts";
import { listEquitySnapshots, recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { applyFill } from "../../db/orderEvents";
import { markPosition } from "../../db/positions";
import { notificationOutbox } from "../../db/schema";
import { dec } from "../../domain/money";
import {
  nextTradingState,
  setTradingStateManually,
  type TradingState,
} from "../../domain/tradingState";
import { createJobDeps } from "../../jobs/context";
import { createDailyProcessor } from "../../jobs/daily";
import { createValueProcessor } from "../../jobs/value";
import { at, enterLong } from "../db/fixtures";
import { type Lifecycle, OWNER_CHAT, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;
let now = new Date("2026-03-03T14:30:00Z");
let daily: ReturnType<typeof createDailyProcessor>;

beforeAll(async () => {
  t = await openLifecycle("daily");
  daily = createDailyProcessor(createJobDeps({ ...t.deps, now: () => now }));
});
afterAll(async () => {
  await t?.close();
});

async function notices(kind: string) {
  return t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, kind), eq(notificationOutbox.chatId, OWNER_CHAT)));
}

async function setState(accountId: number, state: TradingState): Promise<void> {
  await changeTradingState(t.db.db, accountId, () => state, "test", new Date(state.since));
}

describe("daily jobs", () => {
  it("lifts an automatic halt at the next session open, keeps a trader's own halt, and tells once", async () => {
    const manual = await ensureBrokerAccount(
      t.db.db,
      { environment: "paper", brokerAccountId: "PA-daily-manual" },
      now,
    );
    const yesterday = Date.parse("2026-03-02T18:00:00Z");
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Day's loss 3.10% reached the 3% limit",
      since: yesterday,
    });
    await setState(manual.id, {
      mode: "HALTED",
      setBy: "MANUAL",
      reason: "/halt",
      since: yesterday,
    });

    // Tuesday 09:30 New York.
    now = new Date("2026-03-03T14:30:00Z");
    const result = await daily({ data: { kind: "session-open" } });
    expect(result.accounts).toEqual([
      { accountId: t.accountId, outcome: "reset", to: "ACTIVE" },
      { accountId: manual.id, outcome: "unchanged" },
    ]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("ACTIVE");
    expect((await findBrokerAccount(t.db.db, manual.id))?.tradingState).toBe("HALTED");
    const told = await notices("TRADING_STATE_CHANGED");
    expect(told.map((n) => n.payload)).toEqual([
      expect.objectContaining({
        accountId: t.accountId,
        from: "HALTED",
        to: "ACTIVE",
        setBy: "AUTO",
      }),
    ]);

    expect((await daily({ data: { kind: "session-open" } })).accounts).toEqual([
      { accountId: t.accountId, outcome: "unchanged" },
      { accountId: manual.id, outcome: "unchanged" },
    ]);
    expect(await notices("TRADING_STATE_CHANGED")).toHaveLength(1);
  });

  it("keeps a halt set during the current session, and skips a day without a session", async () => {
    now = new Date("2026-03-03T15:00:00Z");
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Day's loss 3.2% reached the 3% limit",
      since: Date.parse("2026-03-03T14:45:00Z"),
    });
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "unchanged" }]);
    // Good Friday 2026 (3 April): the exchange is closed.
    now = new Date("2026-04-03T13:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "skipped", reason: "no session today" }]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("HALTED");
    expect(
      (await daily({ data: { kind: "end-of-day", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "skipped", reason: "no session today" }]);
  });

  it("sends one end-of-day summary with the day's trades, P&L and open positions", async () => {
    // A winner (target), a loser (stop) and a position still open, all on Monday 2 March.
    const win = await enterLong(t.db.db, t.accountId, { symbol: "T35", bracket: true });
    const lose = await enterLong(t.db.db, t.accountId, { symbol: "T36", bracket: true });
    const open = await enterLong(t.db.db, t.accountId, { symbol: "T37", bracket: true });
    for (const [i, e] of [win, lose, open].entries()) {
      const r = await applyFill(
        t.db.db,
        { orderId: e.entry.id },
        {
          executionId: `d-entry-${i}`,
          quantity: dec("100"),
          price: dec("190.10"),
          at: at(10),
          final: true,
        },
        "stream",
        at(10),
      );
      if (!r.ok) throw new Error(r.message);
    }
    const exits: [typeof win, number, string][] = [
      [win, 1, "205.00"],
      [lose, 0, "184.50"],
    ];
    for (const [e, leg, price] of exits) {
      const order = e.legs[leg];
      if (!order) throw new Error("missing leg");
      const r = await applyFill(
        t.db.db,
        { orderId: order.id },
        {
          executionId: `d-exit-${order.id}`,
          quantity: dec("100"),
          price: dec(price),
          at: at(600),
          final: true,
        },
        "stream",
        at(600),
      );
      if (!r.ok) throw new Error(r.message);
    }
    await markPosition(t.db.db, t.accountId, "T37", dec("191.10"), at(700));

    // Monday 16:20 New York.
    now = new Date("2026-03-02T21:20:00Z");
    const result = await daily({ data: { kind: "end-of-day", accountId: t.accountId } });
    expect(result.accounts).toEqual([
      { accountId: t.accountId, outcome: "summarized", tradingDate: "2026-03-02" },
    ]);
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    const summaries = await notices("DAILY_SUMMARY");
    expect(summaries.map((s) => s.payload)).toEqual([
      {
        kind: "DAILY_SUMMARY",
        accountId: t.accountId,
        tradingDate: "2026-03-02",
        equity: account.value.equity.toFixed(2),
        pnlToday: account.value.equity.minus(account.value.lastEquity).toFixed(2),
        // 100 x (205 - 190.10) + 100 x (184.50 - 190.10)
        realizedPnl: "930.00",
        unrealizedPnl: "100.00",
        tradesClosed: 2,
        wins: 1,
        losses: 1,
        openPositions: 1,
      },
    ]);
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-02", "2026-03-02");
    expect(snapshot?.realizedPnl.toFixed()).toBe("930");
    expect(snapshot?.openPositions).toBe(1);

    await daily({ data: { kind: "end-of-day", accountId: t.accountId } });
    expect(await notices("DAILY_SUMMARY")).toHaveLength(1);
  });

  it("tells the owner at the open that an automatic halt gave way to the reduce-only they had heard of before", async () => {
    // Wednesday 10:00 New York: an admin sets reduce-only; the owner is told.
    const reducedAt = new Date("2026-03-04T15:00:00Z");
    const reduced = await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("REDUCING", "/reduce by admin", reducedAt.getTime()),
      "test",
      reducedAt,
    );
    if (!reduced) throw new Error("no account");
    expect(await announceStateChange(t.db.db, t.accountId, reduced, 9_999, reducedAt)).toBe(1);
    // 11:00: the daily-loss switch halts it, keeping the reduce-only to come back to.
    const haltedAt = Date.parse("2026-03-04T16:00:00Z");
    await changeTradingState(
      t.db.db,
      t.accountId,
      (current) =>
        nextTradingState(
          current,
          { level: "BREACHED", message: "Day's loss 3.10% reached the 3% limit" },
          { now: haltedAt, lastSessionOpenAt: Date.parse("2026-03-04T14:30:00Z") },
        ).state,
      "test",
      new Date(haltedAt),
    );

    // Thursday 09:30: back to reduce-only, and the owner hears of it.
    now = new Date("2026-03-05T14:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "reset", to: "REDUCING" }]);
    const told = (await notices("TRADING_STATE_CHANGED"))
      .filter((n) => n.createdAt >= reducedAt)
      .map((n) => n.payload);
    // The admin's reduce-only (over the halt of the test before), then the reset to it.
    expect(told).toEqual([
      expect.objectContaining({ to: "REDUCING", setBy: "MANUAL", reason: "/reduce by admin" }),
      expect.objectContaining({ from: "HALTED", to: "REDUCING", setBy: "MANUAL" }),
    ]);
  });

  it("makes no summary of a day before its close: a run held past midnight leaves the new day's to its own close", async () => {
    // The summary job of Monday held up (workers down) until 00:30 New York on Tuesday.
    now = new Date("2026-03-03T05:30:00Z");
    expect(
      (await daily({ data: { kind: "end-of-day", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "skipped", reason: "session not closed yet" }]);
    // Tuesday: a trade closed at 13:00 New York, then the summary at 16:20.
    await t.db.db.execute(sql`insert into trades (account_id, symbol, side, status, planned_entry,
        planned_stop, planned_quantity, planned_risk, exit_reason, realized_pnl, opened_at,
        closed_at, last_event_at, created_at, updated_at)
      values (${t.accountId}, 'T38', 'long', 'CLOSED', 100, 99, 100, 100, 'PROFIT_TAKEN', 120,
        '2026-03-03T15:00:00Z', '2026-03-03T18:00:00Z', '2026-03-03T18:00:00Z',
        '2026-03-03T15:00:00Z', '2026-03-03T18:00:00Z')`);
    now = new Date("2026-03-03T21:20:00Z");
    expect(
      (await daily({ data: { kind: "end-of-day", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "summarized", tradingDate: "2026-03-03" }]);
    const tuesday = (await notices("DAILY_SUMMARY"))
      .map((n) => n.payload)
      .filter((p) => p.tradingDate === "2026-03-03");
    expect(tuesday).toEqual([
      expect.objectContaining({ tradesClosed: 1, realizedPnl: "120.00", wins: 1 }),
    ]);
  });

  it("keeps at the open a halt the daily-loss switch set before it that morning, for that day's loss", async () => {
    // Thursday 09:05 New York: the positions gapped down overnight; the day's loss is past the limit.
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Day's loss 3.40% reached the 3% limit",
      since: Date.parse("2026-03-05T14:05:00Z"),
    });
    const told = (await notices("TRADING_STATE_CHANGED")).length;
    now = new Date("2026-03-05T14:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "unchanged" }]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("HALTED");
    expect(await notices("TRADING_STATE_CHANGED")).toHaveLength(told);
  });

  it("measures the day's P&L in the summary from the previous close the day's valuations saw, when the broker rolls its last equity at the close", async () => {
    // Wednesday 4 March: 1,000 shares bought at 100 fall to 90 during the session.
    await t.sim.control("/sim/clock", { time: "2026-03-04T15:00:00Z" });
    await t.sim.control("/sim/quotes", { symbol: "T39", price: "100" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "daily-eod-buy",
      symbol: "T39",
      side: "buy",
      qty: dec("1000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition("T39")).ok, 10_000, "position");
    await t.sim.control("/sim/quotes", { symbol: "T39", price: "90" });
    const before = await t.broker.getAccount();
    if (!before.ok) throw new Error(before.message);
    expect(before.value.equity.minus(before.value.lastEquity).toFixed(2)).toBe("-10000.00");
    // The session's valuations record the day.
    now = new Date("2026-03-04T20:59:00Z");
    await createValueProcessor(createJobDeps({ ...t.deps, now: () => now }))({
      data: { accountId: t.accountId },
    });

    // Past the close the simulator's last equity is Wednesday's own close.
    await t.sim.control("/sim/clock", { time: "2026-03-04T21:10:00Z" });
    const after = await t.broker.getAccount();
    if (!after.ok) throw new Error(after.message);
    expect(after.value.lastEquity.toFixed()).toBe(after.value.equity.toFixed());
    now = new Date("2026-03-04T21:20:00Z");
    await daily({ data: { kind: "end-of-day", accountId: t.accountId } });
    const wednesday = (await notices("DAILY_SUMMARY"))
      .map((n) => n.payload)
      .filter((p) => p.tradingDate === "2026-03-04");
    expect(wednesday).toEqual([expect.objectContaining({ pnlToday: "-10000.00" })]);
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-04", "2026-03-04");
    expect(snapshot?.previousCloseEquity.toFixed()).toBe(before.value.lastEquity.toFixed());
  });

  it("keeps at the open the day before's halt while the morning's figures are past the limit again, for the valuation to renew", async () => {
    // Halted automatically on Thursday; Friday's pre-market valuation found the account 4% down.
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Day's loss 3.40% reached the 3% limit",
      since: Date.parse("2026-03-05T14:05:00Z"),
    });
    const figures = (equity: string) =>
      recordAccountSync(
        t.db.db,
        t.accountId,
        {
          equity: dec(equity),
          lastEquity: dec("10000000"),
          cash: dec(equity),
          buyingPower: dec(equity),
        },
        new Date("2026-03-06T14:25:00Z"),
      );
    await figures("9600000");
    const told = (await notices("TRADING_STATE_CHANGED")).length;
    now = new Date("2026-03-06T14:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "unchanged" }]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("HALTED");
    // Nobody is told trading resumes for the minute until the next valuation halts again.
    expect(await notices("TRADING_STATE_CHANGED")).toHaveLength(told);

    // Within the limit, the open lifts it.
    await figures("9990000");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "reset", to: "ACTIVE" }]);
  });

  it("lifts at the open the day before's halt when the morning's drop is a withdrawal the valuation found", async () => {
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Day's loss 3.40% reached the 3% limit",
      since: Date.parse("2026-03-05T14:05:00Z"),
    });
    // Friday's pre-market valuation: 400,000 below the previous close, all of it taken out.
    const syncedAt = new Date("2026-03-06T14:25:00Z");
    const figures = {
      equity: dec("9600000"),
      lastEquity: dec("10000000"),
      cash: dec("9600000"),
      buyingPower: dec("9600000"),
    };
    await recordAccountSync(t.db.db, t.accountId, figures, syncedAt);
    await recordEquitySnapshot(t.db.db, {
      accountId: t.accountId,
      tradingDay: "2026-03-06",
      equity: figures.equity,
      previousCloseEquity: figures.lastEquity,
      cash: figures.cash,
      netDeposits: dec("-400000"),
      realizedPnl: dec("0"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: syncedAt,
    });
    now = new Date("2026-03-06T14:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "reset", to: "ACTIVE" }]);
  });

  it("keeps at the open the day before's drawdown halt while the morning's equity is still beyond the drawdown limit", async () => {
    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("5"), drawdownDays: 5 },
      new Date("2026-03-06T15:00:00Z"),
    );
    // Halted by the drawdown breaker on Friday; Monday's pre-market equity is 6.25% below the
    // recent peak of about 10,000,000 less the 400,000 taken out on Friday (9,600,000), with no
    // loss on the day itself.
    await setState(t.accountId, {
      mode: "HALTED",
      setBy: "AUTO",
      reason: "Drawdown 5.20% from the peak 10000000.00 reached the 5% limit",
      since: Date.parse("2026-03-06T18:00:00Z"),
    });
    await recordAccountSync(
      t.db.db,
      t.accountId,
      {
        equity: dec("9000000"),
        lastEquity: dec("9000000"),
        cash: dec("9000000"),
        buyingPower: dec("9000000"),
      },
      new Date("2026-03-09T13:25:00Z"),
    );
    // Monday 09:30 New York (daylight time since Sunday).
    now = new Date("2026-03-09T13:30:00Z");
    expect(
      (await daily({ data: { kind: "session-open", accountId: t.accountId } })).accounts,
    ).toEqual([{ accountId: t.accountId, outcome: "unchanged" }]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("HALTED");
  });

  it("does not show a withdrawal during the day as the day's P&L in the summary", async () => {
    // Tuesday 10 March: 5,000 taken out while the 1,000 T39 held since Wednesday stay at 90.
    await t.sim.control("/sim/clock", { time: "2026-03-10T15:00:00Z" });
    await t.sim.control("/sim/cash", { amount: "-5000" });
    now = new Date("2026-03-10T19:59:00Z");
    await createValueProcessor(createJobDeps({ ...t.deps, now: () => now }))({
      data: { accountId: t.accountId },
    });
    await t.sim.control("/sim/clock", { time: "2026-03-10T20:10:00Z" });
    now = new Date("2026-03-10T20:20:00Z");
    await daily({ data: { kind: "end-of-day", accountId: t.accountId } });
    const tuesday = (await notices("DAILY_SUMMARY"))
      .map((n) => n.payload)
      .filter((p) => p.tradingDate === "2026-03-10");
    expect(tuesday).toEqual([expect.objectContaining({ pnlToday: "0.00" })]);
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-10", "2026-03-10");
    expect(snapshot?.netDeposits.toFixed()).toBe("-5000");
  });
});
