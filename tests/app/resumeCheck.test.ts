/**
 * /resume's daily-loss check on days after the figures it reads: over a weekend (and on Monday
 * before the day's first valuation) the account's figures are still Friday's, so they are judged
 * with Friday's realized P&L and net deposits, not with an empty day's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import { recordAccountSync } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { dec } from "../../domain/money";
import { seedClosedTrades } from "../bot/deskSeeds";
import { createAccount } from "../db/fixtures";
import { createTestDatabase, type TestDatabase } from "../support/database";

// Friday 27 February 2026, 15:59 New York: the session's last valuation.
const FRIDAY_SYNC = new Date("2026-02-27T20:59:00Z");
const FRIDAY_EVENING = new Date("2026-02-27T22:00:00Z");
const SATURDAY = new Date("2026-02-28T16:00:00Z");
// Monday 08:00 New York, before the day's first valuation.
const MONDAY_PRE_MARKET = new Date("2026-03-02T13:00:00Z");

describe("/resume's daily-loss check after the day of its figures", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  /** An account whose Friday the valuation left with these figures. */
  async function fridayAccount(figures: {
    equity: string;
    netDeposits: string;
    realized: string | null;
  }): Promise<number> {
    const accountId = await createAccount(t.db);
    const balances = { equity: dec(figures.equity), lastEquity: dec("10000000") };
    await recordAccountSync(
      t.db,
      accountId,
      { ...balances, cash: balances.equity, buyingPower: balances.equity },
      FRIDAY_SYNC,
    );
    await recordEquitySnapshot(t.db, {
      accountId,
      tradingDay: "2026-02-27",
      equity: balances.equity,
      previousCloseEquity: balances.lastEquity,
      cash: balances.equity,
      netDeposits: dec(figures.netDeposits),
      realizedPnl: dec(figures.realized ?? "0"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: FRIDAY_SYNC,
    });
    if (figures.realized !== null) {
      await seedClosedTrades(t.db, accountId, [
        {
          symbol: "TSLA",
          realizedPnl: figures.realized,
          rMultiple: "-3",
          closedAt: new Date("2026-02-27T18:00:00Z"),
          exitReason: "STOPPED_OUT",
        },
      ]);
    }
    return accountId;
  }

  const resumeAt = (now: Date) => createDailyLossResumeCheck({ db: t.db, now: () => now });

  it("still refuses on Saturday and Monday morning a Friday loss a deposit hid in the equity", async () => {
    // 1,000,000 paid in beside 400,500 lost on a trade of the day: past the 3% (300,000) limit.
    const accountId = await fridayAccount({
      equity: "10599500",
      netDeposits: "1000000",
      realized: "-400500.00",
    });
    const refused = {
      allowed: false,
      message: expect.stringContaining(
        "The day's loss (-400500.00) is still beyond the limit (300000.00).",
      ),
    };
    for (const now of [FRIDAY_EVENING, SATURDAY, MONDAY_PRE_MARKET]) {
      expect(await resumeAt(now)({ accountId, reason: null })).toEqual(refused);
    }
  });

  it("does not take a Friday withdrawal for a loss on Saturday", async () => {
    // 500,000 taken out of a flat account: no loss.
    const accountId = await fridayAccount({
      equity: "9500000",
      netDeposits: "-500000",
      realized: null,
    });
    for (const now of [FRIDAY_EVENING, SATURDAY, MONDAY_PRE_MARKET]) {
      expect(await resumeAt(now)({ accountId, reason: null })).toEqual({ allowed: true });
    }
  });
});
