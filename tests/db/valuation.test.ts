import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listStopOutTimes } from "../../db/circuitBreakerFacts";
import { listTradesClosedBetween } from "../../db/journalQueries";
import { summarizeClosedTrades } from "../../db/valuation";
import { createTestDatabase, openRowsReadCounter, type TestDatabase } from "../support/database";
import { createAccount, insertClosedTradeHistory } from "./fixtures";

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
