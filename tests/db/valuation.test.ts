import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listStopOutTimes } from "../../db/circuitBreakerFacts";
import { listTradesClosedBetween } from "../../db/journalQueries";
import { applyFill, applyOrderUpdate } from "../../db/orderEvents";
import { summarizeClosedTrades } from "../../db/valuation";
import { dec } from "../../domain/money";
import { createTestDatabase, openRowsReadCounter, type TestDatabase } from "../support/database";
import { at, createAccount, enterLong, insertClosedTradeHistory } from "./fixtures";

const MINUTE_MS = 60_000;

describe("the day's closed trades", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("are read without walking the journal: realized P&L, stop-outs and the day's list", async () => {
    const accountId = await createAccount(t.db);
    // Two losses closed in the last quarter hour, behind 3,000 closed two days ago.
    await insertClosedTradeHistory(t.db, accountId, 2, 10);
    await insertClosedTradeHistory(t.db, accountId, 3000, 48 * 60);
    const now = Date.now();
    const from = new Date(now - 60 * MINUTE_MS);
    const to = new Date(now + MINUTE_MS);

    const counter = await openRowsReadCounter(t, "trades");
    try {
      const before = await counter.read();
      const realized = await summarizeClosedTrades(counter.db, accountId, from, to);
      const stopOuts = await listStopOutTimes(counter.db, accountId, from);
      const closed = await listTradesClosedBetween(counter.db, accountId, from, to);
      expect((await counter.read()) - before).toBeLessThan(50);
      expect(realized.realizedPnl.toFixed()).toBe("-2");
      expect([realized.tradesClosed, realized.wins, realized.losses]).toEqual([2, 0, 2]);
      expect(stopOuts).toHaveLength(2);
      expect(closed.map((record) => record.trade.exitReason)).toEqual([
        "STOPPED_OUT",
        "STOPPED_OUT",
      ]);
    } finally {
      await counter.close();
    }
  });
});

describe("the loss streak's stop-outs", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("leave out stops that closed at or above break-even (a stop moved past the entry)", async () => {
    const accountId = await createAccount(t.db);
    await insertClosedTradeHistory(t.db, accountId, 2, 10);
    // Two stop-outs of the same quarter hour that locked in a profit and one at break-even.
    await t.db.execute(sql`update trades set realized_pnl = 40
      where id in (select id from trades where account_id = ${accountId} order by id limit 1)`);
    await insertClosedTradeHistory(t.db, accountId, 2, 10);
    await t.db.execute(sql`update trades set realized_pnl = 0
      where id in (select id from trades where account_id = ${accountId} order by id desc limit 1)`);
    const stopOuts = await listStopOutTimes(t.db, accountId, new Date(Date.now() - 60 * MINUTE_MS));
    expect(stopOuts).toHaveLength(2);
  });
});

/**
 * A bracket entry of 100 AAPL filled at 190 at `at(2)`, then 40 of them taken off at the target
 * (195, 1.00 commission) at `at(partialAt)`: +199 realized, 60 still held. Answers how to fill
 * the rest of the target.
 */
async function enterAndTakePartial(
  db: TestDatabase["db"],
  accountId: number,
  prefix: string,
  partialAt: number,
) {
  const { entry, legs } = await enterLong(db, accountId, { bracket: true });
  const target = legs[1];
  if (!target) throw new Error("bracket legs missing");
  await applyOrderUpdate(
    db,
    { orderId: entry.id },
    { event: "new", brokerOrderId: `${prefix}-entry`, at: at(1).toISOString() },
    { source: "stream", recordedAt: at(1) },
  );
  const filled = await applyFill(
    db,
    { brokerOrderId: `${prefix}-entry` },
    { executionId: `${prefix}-1`, quantity: dec("100"), price: dec("190"), at: at(2), final: true },
    "stream",
    at(2),
  );
  if (!filled.ok) throw new Error(filled.message);
  await applyOrderUpdate(
    db,
    { orderId: target.id },
    { event: "new", brokerOrderId: `${prefix}-target`, at: at(3).toISOString() },
    { source: "stream", recordedAt: at(3) },
  );
  const partial = await applyFill(
    db,
    { brokerOrderId: `${prefix}-target` },
    {
      executionId: `${prefix}-2`,
      quantity: dec("40"),
      price: dec("195"),
      at: at(partialAt),
      commission: dec("1.00"),
    },
    "stream",
    at(partialAt),
  );
  if (!partial.ok) throw new Error(partial.message);
  expect(partial.value.trade?.trade.status).toBe("POSITION");
  return async (closeAt: number) => {
    const rest = await applyFill(
      db,
      { brokerOrderId: `${prefix}-target` },
      {
        executionId: `${prefix}-3`,
        quantity: dec("60"),
        price: dec("195"),
        at: at(closeAt),
        final: true,
      },
      "stream",
      at(closeAt),
    );
    if (!rest.ok) throw new Error(rest.message);
    expect(rest.value.trade?.trade.status).toBe("CLOSED");
  };
}

describe("the day's realized P&L", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("counts what a partial exit of a trade still open realized in the period", async () => {
    const accountId = await createAccount(t.db);
    const { entry, legs } = await enterLong(t.db, accountId, { bracket: true });
    const target = legs[1];
    if (!target) throw new Error("bracket legs missing");
    await applyOrderUpdate(
      t.db,
      { orderId: entry.id },
      { event: "new", brokerOrderId: "p-entry", at: at(1).toISOString() },
      { source: "stream", recordedAt: at(1) },
    );
    const filled = await applyFill(
      t.db,
      { brokerOrderId: "p-entry" },
      { executionId: "p-1", quantity: dec("100"), price: dec("190"), at: at(2), final: true },
      "stream",
      at(2),
    );
    if (!filled.ok) throw new Error(filled.message);
    await applyOrderUpdate(
      t.db,
      { orderId: target.id },
      { event: "new", brokerOrderId: "p-target", at: at(3).toISOString() },
      { source: "stream", recordedAt: at(3) },
    );
    // 40 of 100 taken off at the target: (195 - 190) x 40 - 1.00 commission; 60 still held.
    const partial = await applyFill(
      t.db,
      { brokerOrderId: "p-target" },
      {
        executionId: "p-2",
        quantity: dec("40"),
        price: dec("195"),
        at: at(60),
        commission: dec("1.00"),
      },
      "stream",
      at(60),
    );
    if (!partial.ok) throw new Error(partial.message);
    expect(partial.value.trade?.trade.status).toBe("POSITION");

    const day = await summarizeClosedTrades(t.db, accountId, at(-3600), at(3600));
    expect(day.realizedPnl.toFixed()).toBe("199");
    expect([day.tradesClosed, day.wins, day.losses]).toEqual([0, 0, 0]);
    // Realized before the period is not the period's.
    const later = await summarizeClosedTrades(t.db, accountId, at(61), at(7200));
    expect(later.realizedPnl.toFixed()).toBe("0");
  });

  it("counts partial exits of a trade opened in the period as the period's own (the daily-loss rule's figure)", async () => {
    const accountId = await createAccount(t.db);
    await enterAndTakePartial(t.db, accountId, "q", 60);

    const day = await summarizeClosedTrades(t.db, accountId, at(-3600), at(3600));
    expect(day.realizedPnl.toFixed()).toBe("199");
    expect(day.openedInPeriodPnl.toFixed()).toBe("199");
    // Opened before the period: its P&L moved earlier equity, so it is not the period's own.
    const later = await summarizeClosedTrades(t.db, accountId, at(30), at(3600));
    expect(later.realizedPnl.toFixed()).toBe("199");
    expect(later.openedInPeriodPnl.toFixed()).toBe("0");
  });
  it("counts on the close's day only what the close realized, not an earlier day's partial exit", async () => {
    const accountId = await createAccount(t.db);
    const closeRest = await enterAndTakePartial(t.db, accountId, "r", 60);
    // The next day the other 60 go at the target: (195 - 190) x 60.
    const nextDay = 24 * 3600;
    await closeRest(nextDay);

    const first = await summarizeClosedTrades(t.db, accountId, at(-3600), at(3600));
    expect(first.realizedPnl.toFixed()).toBe("199");
    const second = await summarizeClosedTrades(
      t.db,
      accountId,
      at(nextDay - 3600),
      at(nextDay + 3600),
    );
    expect(second.realizedPnl.toFixed()).toBe("300");
    expect(second.openedInPeriodPnl.toFixed()).toBe("0");
    // The trade's result, as a win, is still its whole.
    expect([second.tradesClosed, second.wins, second.losses]).toEqual([1, 1, 0]);
    // Both days in one period: the whole trade.
    const both = await summarizeClosedTrades(t.db, accountId, at(-3600), at(nextDay + 3600));
    expect(both.realizedPnl.toFixed()).toBe("499");
    expect(both.openedInPeriodPnl.toFixed()).toBe("499");
  });
});
