/**
 * Valuation against the simulator, with real PostgreSQL and Redis: marks from the broker's
 * quotes (mid) or from quotes handed to the job, unchanged marks not rewritten, the equity
 * snapshot of the New York trading date, and the daily-loss rule (a warning once a day, a halt
 * with its notice and the halt hook).
 */
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState, findBrokerAccount } from "../../db/brokerAccounts";
import { listEquitySnapshots, recordEquitySnapshot } from "../../db/equitySnapshots";
import { findPosition } from "../../db/positions";
import { notificationOutbox } from "../../db/schema";
import { tradingDayOf } from "../../domain/calendar";
import { dec } from "../../domain/money";
import type { DailyLossEvaluation } from "../../domain/tradingState";
import { createJobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createQuoteBatcher, createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, OWNER_CHAT, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const halted: [number, string][] = [];
let value: ReturnType<typeof createValueProcessor>;
const symbol = TEST_SYMBOLS[34] ?? "T34";

beforeAll(async () => {
  t = await openLifecycle("value");
  value = createValueProcessor(t.deps, {
    onHalted: async (accountId, cause) => {
      halted.push([accountId, cause]);
    },
  });
});
afterAll(async () => {
  await t?.close();
});

async function quote(bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

async function notices(kind: string) {
  return t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, kind), eq(notificationOutbox.chatId, OWNER_CHAT)));
}

describe("valuation on the simulator", () => {
  it("marks positions at the quote's mid and records the day's equity snapshot", async () => {
    // A 60,000-share position, opened at the broker and adopted into the books.
    await quote("99.99", "100.01");
    const bought = await t.broker.submitOrder({
      clientOrderId: "value-test-buy",
      symbol,
      side: "buy",
      qty: dec("60000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => {
      const p = await t.broker.getPosition(symbol);
      return p.ok;
    });
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect((await findPosition(t.db.db, t.accountId, symbol))?.averageCost.toFixed()).toBe(
      "100.01",
    );

    await quote("101.99", "102.01");
    const result = await value({ data: { accountId: t.accountId } });
    expect(result).toMatchObject({ positions: 1, marked: 1, unmarked: 0, dailyLossLevel: "OK" });
    const marked = await findPosition(t.db.db, t.accountId, symbol);
    expect(marked?.markPrice?.toFixed()).toBe("102");
    expect(marked?.marketValue?.toFixed()).toBe("6120000");
    // 60,000 x (102 - 100.01)
    expect(marked?.unrealizedPnl?.toFixed()).toBe("119400");
    expect(marked?.markedAt).not.toBeNull();

    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    const day = tradingDayOf(null, t.deps.now()).date;
    expect(day).toBe("2026-03-02");
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, day, day);
    expect(snapshot?.equity.toFixed()).toBe(account.value.equity.toFixed());
    expect(snapshot?.previousCloseEquity.toFixed()).toBe(account.value.lastEquity.toFixed());
    expect(snapshot?.unrealizedPnl.toFixed()).toBe("119400");
    expect(snapshot?.realizedPnl.toFixed()).toBe("0");
    expect(snapshot?.openPositions).toBe(1);
    expect(result.pnlToday).toBe(account.value.equity.minus(account.value.lastEquity).toFixed());
    const stored = await findBrokerAccount(t.db.db, t.accountId);
    expect(stored?.equity?.toFixed()).toBe(account.value.equity.toFixed());
    expect(stored?.lastEquity?.toFixed()).toBe(account.value.lastEquity.toFixed());

    // The same quote again: nothing to write.
    expect((await value({ data: { accountId: t.accountId } })).marked).toBe(0);
    expect(await listEquitySnapshots(t.db.db, t.accountId, day, day)).toHaveLength(1);
  });

  it("takes quotes handed to the job (a last trade when no side is quoted), never an older one", async () => {
    const later = new Date(t.deps.now().getTime() + 60_000).toISOString();
    const earlier = new Date(t.deps.now().getTime() - 3_600_000).toISOString();
    const fresh = await value({
      data: {
        accountId: t.accountId,
        quotes: [{ symbol, bid: null, ask: null, last: "101.50", at: later }],
      },
    });
    expect(fresh.marked).toBe(1);
    expect((await findPosition(t.db.db, t.accountId, symbol))?.markPrice?.toFixed()).toBe("101.5");
    const stale = await value({
      data: {
        accountId: t.accountId,
        quotes: [{ symbol, bid: "90", ask: "90.02", last: null, at: earlier }],
      },
    });
    expect(stale.marked).toBe(0);
    expect((await findPosition(t.db.db, t.accountId, symbol))?.markPrice?.toFixed()).toBe("101.5");

    // The same price a minute later is no new mark, but /positions shows the mark as of then.
    const confirmedAt = new Date(Date.parse(later) + 60_000).toISOString();
    const unchanged = await value({
      data: {
        accountId: t.accountId,
        quotes: [{ symbol, bid: null, ask: null, last: "101.50", at: confirmedAt }],
      },
    });
    expect(unchanged.marked).toBe(0);
    const confirmed = await findPosition(t.db.db, t.accountId, symbol);
    expect(confirmed?.markPrice?.toFixed()).toBe("101.5");
    expect(confirmed?.markedAt?.toISOString()).toBe(confirmedAt);
  });

  it("warns once a day near the daily loss limit, and halts the account when it is reached", async () => {
    // About 2.5% of the 10,000,000 previous close: past the 80% warning of the 3% limit.
    await quote("95.89", "95.91");
    const warned = await value({ data: { accountId: t.accountId } });
    expect(warned.dailyLossLevel).toBe("WARNING");
    await value({ data: { accountId: t.accountId } });
    const warnings = await notices("DAILY_LOSS_WARNING");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.payload).toMatchObject({ accountId: t.accountId, lossLimit: "300000.00" });
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("ACTIVE");
    expect(halted).toEqual([]);

    // About 3.1%: halted, told, and the hook called once.
    await quote("94.89", "94.91");
    const breached = await value({ data: { accountId: t.accountId } });
    expect(breached.dailyLossLevel).toBe("BREACHED");
    const account = await findBrokerAccount(t.db.db, t.accountId);
    expect(account?.tradingState).toBe("HALTED");
    expect(account?.tradingStateSource).toBe("AUTO");
    expect(account?.tradingStateSetBy).toBe("system:daily-loss");
    const changes = await notices("TRADING_STATE_CHANGED");
    expect(changes).toHaveLength(1);
    expect(changes[0]?.payload).toMatchObject({
      from: "ACTIVE",
      to: "HALTED",
      setBy: "AUTO",
      lossLimit: "300000.00",
    });
    expect(halted).toEqual([[t.accountId, "daily-loss"]]);
    // The drawdown breaker is off by default: it neither halts nor tells anything more.
    expect(breached.drawdown).toBe("off");

    await value({ data: { accountId: t.accountId } });
    expect(await notices("TRADING_STATE_CHANGED")).toHaveLength(1);
    expect(halted).toEqual([[t.accountId, "daily-loss"]]);
  });

  it("coalesces a burst of streamed quotes into one valuation job carrying the latest of each symbol", async () => {
    await t.queues.value.drain(true);
    const batcher = createQuoteBatcher(t.jobs);
    const base = t.deps.now().getTime() + 3_600_000;
    for (let i = 1; i <= 5_000; i++) {
      const mid = dec(100).plus(dec(i).div(1000));
      batcher.push(t.accountId, {
        symbol,
        bid: mid.minus("0.005").toFixed(3),
        ask: mid.plus("0.005").toFixed(3),
        last: null,
        at: new Date(base + i).toISOString(),
      });
    }
    // Out of order on the wire: older than what was kept, so dropped.
    batcher.push(t.accountId, {
      symbol,
      bid: "1",
      ask: "1",
      last: null,
      at: new Date(base).toISOString(),
    });
    expect(await batcher.flush()).toBe(1);
    expect(await batcher.flush()).toBe(0);
    const queued = await t.queues.value.getJobs(["waiting", "delayed", "prioritized"]);
    expect(queued).toHaveLength(1);
    const job = queued[0];
    if (!job) throw new Error("no valuation job");
    expect(job.data.quotes).toEqual([
      {
        symbol,
        bid: "104.995",
        ask: "105.005",
        last: null,
        at: new Date(base + 5_000).toISOString(),
      },
    ]);
    // A job of the session's schedule or a batch of quotes is never skipped.
    expect(await value(job)).toMatchObject({ marked: 1 });
    expect((await findPosition(t.db.db, t.accountId, symbol))?.markPrice?.toFixed()).toBe("105");
    await batcher.stop();
  });

  it("marks a symbol quoted on one side only at its last trade, not at the side quoted", async () => {
    // Past the streamed quotes above (an hour ahead), so the broker's quotes are the newest.
    await t.sim.control("/sim/clock", { advanceSeconds: 7_200 });
    // Trades at 104; then only an offer, far above, with nobody bidding.
    await t.sim.control("/sim/quotes", { symbol, price: "104" });
    await value({ data: { accountId: t.accountId } });
    expect((await findPosition(t.db.db, t.accountId, symbol))?.markPrice?.toFixed()).toBe("104");
    await t.sim.control("/sim/quotes", { symbol, ask: "250", last: "104" });
    await value({ data: { accountId: t.accountId } });
    const marked = await findPosition(t.db.db, t.accountId, symbol);
    expect(marked?.markPrice?.toFixed()).toBe("104");
    // 60,000 x (104 - 100.01), not 60,000 x (250 - 100.01)
    expect(marked?.unrealizedPnl?.toFixed()).toBe("239400");
  });

  it("counts against the day's loss limit what trades opened today realized, not the loss a swing trade took on earlier days", async () => {
    const evaluations: DailyLossEvaluation[] = [];
    const valueSeen = createValueProcessor(t.deps, {
      dailyLoss: async (context) => {
        evaluations.push(context.evaluation);
      },
    });
    const now = t.deps.now();
    const closedAt = new Date(now.getTime() - 60_000);
    const openedToday = new Date(now.getTime() - 1_800_000);
    // Bought on Friday and stopped out today: 350,000 below its entry, most of it lost on
    // Friday (already out of Friday's equity); and a trade in and out today losing 50,000.
    await t.db.db.execute(sql`insert into trades (account_id, symbol, side, status, planned_entry,
        planned_stop, planned_quantity, planned_risk, exit_reason, realized_pnl, opened_at,
        closed_at, last_event_at, created_at, updated_at)
      values
        (${t.accountId}, 'SWING', 'long', 'CLOSED', 100, 90, 35000, 350000, 'STOPPED_OUT',
          -350000, '2026-02-27T15:00:00Z', ${closedAt.toISOString()}, ${closedAt.toISOString()},
          '2026-02-27T15:00:00Z', ${closedAt.toISOString()}),
        (${t.accountId}, 'INTRA', 'long', 'CLOSED', 100, 95, 10000, 50000, 'STOPPED_OUT',
          -50000, ${openedToday.toISOString()}, ${closedAt.toISOString()},
          ${closedAt.toISOString()}, ${openedToday.toISOString()}, ${closedAt.toISOString()})`);
    const account = await t.broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    // The account is up on the day (the 60,000-share long).
    expect(account.value.equity.gt(account.value.lastEquity)).toBe(true);

    const result = await valueSeen({ data: { accountId: t.accountId } });
    expect(evaluations.map((e) => e.pnlToday.toFixed())).toEqual(["-50000"]);
    expect(result.dailyLossLevel).toBe("OK");
    // The day's summary figures still hold every trade closed today.
    const day = tradingDayOf(null, now).date;
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, day, day);
    expect(snapshot?.realizedPnl.toFixed()).toBe("-400000");
  });

  it("runs the halt response for a new day's halt that replaces the day before's in one step", async () => {
    // Halted automatically on Monday; at Tuesday's open the account is already past the limit
    // again (the position gapped down overnight), and the valuation runs before the open's reset.
    const monday = Date.parse("2026-03-02T16:00:00Z");
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => ({ mode: "HALTED", setBy: "AUTO", reason: "Monday's loss", since: monday }),
      "test",
      new Date(monday),
    );
    await quote("94.89", "94.91");
    const tuesdayOpen = new Date("2026-03-03T14:30:05Z");
    const responses: [number, HaltCause][] = [];
    const valueTuesday = createValueProcessor(
      createJobDeps({ ...t.deps, now: () => tuesdayOpen }),
      {
        onHalted: async (accountId, cause) => {
          responses.push([accountId, cause]);
        },
      },
    );
    const result = await valueTuesday({ data: { accountId: t.accountId } });
    expect(result.dailyLossLevel).toBe("BREACHED");
    const account = await findBrokerAccount(t.db.db, t.accountId);
    expect(account?.tradingState).toBe("HALTED");
    expect(account?.tradingStateSince.getTime()).toBe(tuesdayOpen.getTime());
    // Tuesday's halt cancels what works and, with flattenOnHalt, closes what is held.
    expect(responses).toEqual([[t.accountId, "daily-loss"]]);
  });

  it("leaves the last trading day's snapshot as it closed when valuing on a holiday", async () => {
    // Thursday 2 April closed 200 up on the day; Good Friday the exchange is closed, and the
    // broker's previous close is by then Thursday's own.
    const thursday = {
      accountId: t.accountId,
      tradingDay: "2026-04-02",
      equity: dec("9000200"),
      previousCloseEquity: dec("9000000"),
      cash: dec("1000"),
      realizedPnl: dec("0"),
      unrealizedPnl: dec("0"),
      openPositions: 1,
      takenAt: new Date("2026-04-02T20:20:00Z"),
    };
    await recordEquitySnapshot(t.db.db, thursday);
    const goodFriday = new Date("2026-04-03T15:00:00Z");
    const valueOnHoliday = createValueProcessor(
      createJobDeps({ ...t.deps, now: () => goodFriday }),
    );
    await valueOnHoliday({ data: { accountId: t.accountId } });
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, "2026-04-02", "2026-04-03");
    expect(snapshot).toMatchObject({ tradingDay: "2026-04-02", takenAt: thursday.takenAt });
    expect(snapshot?.previousCloseEquity.toFixed()).toBe("9000000");
    expect(snapshot?.equity.toFixed()).toBe("9000200");
  });

  it("keeps the day's previous close past the close, when the broker rolls its last equity then", async () => {
    const during = await t.broker.getAccount();
    if (!during.ok) throw new Error(during.message);
    const previousClose = during.value.lastEquity;
    // Monday's session valuations recorded the day; the simulator's close makes its last equity
    // Monday's own close.
    await t.sim.control("/sim/clock", { time: "2026-03-02T21:10:00Z" });
    const after = await t.broker.getAccount();
    if (!after.ok) throw new Error(after.message);
    expect(after.value.lastEquity.toFixed()).toBe(after.value.equity.toFixed());
    expect(after.value.equity.eq(previousClose)).toBe(false);

    // An exit fill after the close asks for a valuation.
    const afterClose = new Date("2026-03-02T21:15:00Z");
    const valueAfterClose = createValueProcessor(
      createJobDeps({ ...t.deps, now: () => afterClose }),
    );
    const result = await valueAfterClose({ data: { accountId: t.accountId } });
    expect(result.pnlToday).toBe(after.value.equity.minus(previousClose).toFixed());
    const [monday] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-02", "2026-03-02");
    expect(monday?.takenAt).toEqual(afterClose);
    expect(monday?.previousCloseEquity.toFixed()).toBe(previousClose.toFixed());
    expect((await findBrokerAccount(t.db.db, t.accountId))?.lastEquity?.toFixed()).toBe(
      previousClose.toFixed(),
    );
  });
});
