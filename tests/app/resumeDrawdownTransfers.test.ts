/**
 * /resume's drawdown check beside cash moved in or out: the recent days' equities are weighed
 * against today's as if the money paid in or taken out since each of them had already been
 * there, so a withdrawal is no drawdown and a deposit hides none.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import { recordAccountSync } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { dec } from "../../domain/money";
import { createAccount } from "../db/fixtures";
import { createTestDatabase, type TestDatabase } from "../support/database";

describe("/resume's drawdown check and cash transfers", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  /** An account with a 10% drawdown limit over 5 days and these days' snapshots, oldest first. */
  async function accountWith(
    days: readonly { date: string; equity: string; previousClose: string; netDeposits: string }[],
  ): Promise<{ accountId: number; syncedAt: Date }> {
    const accountId = await createAccount(t.db);
    await saveKillSwitchSettings(
      t.db,
      accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("10"), drawdownDays: 5 },
      new Date("2026-03-01T12:00:00Z"),
    );
    let syncedAt = new Date(0);
    for (const day of days) {
      // 15:00 New York, in the session.
      syncedAt = new Date(`${day.date}T20:00:00Z`);
      await recordEquitySnapshot(t.db, {
        accountId,
        tradingDay: day.date,
        equity: dec(day.equity),
        previousCloseEquity: dec(day.previousClose),
        cash: dec(day.equity),
        netDeposits: dec(day.netDeposits),
        realizedPnl: dec("0"),
        unrealizedPnl: dec("0"),
        openPositions: 0,
        takenAt: syncedAt,
      });
    }
    const last = days.at(-1);
    if (!last) throw new Error("no day");
    await recordAccountSync(
      t.db,
      accountId,
      {
        equity: dec(last.equity),
        lastEquity: dec(last.previousClose),
        cash: dec(last.equity),
        buyingPower: dec(last.equity),
      },
      syncedAt,
    );
    return { accountId, syncedAt };
  }

  const resumeAfter = (syncedAt: Date) =>
    createDailyLossResumeCheck({ db: t.db, now: () => new Date(syncedAt.getTime() + 300_000) });

  it("does not take a withdrawal for a drawdown", async () => {
    // 1,500,000 taken out of a flat 10,000,000 account: 15% below Monday, none of it lost.
    const { accountId, syncedAt } = await accountWith([
      { date: "2026-03-02", equity: "10000000", previousClose: "10000000", netDeposits: "0" },
      { date: "2026-03-03", equity: "8500000", previousClose: "10000000", netDeposits: "-1500000" },
    ]);
    expect(await resumeAfter(syncedAt)({ accountId, reason: null })).toEqual({ allowed: true });
  });

  it("does not let a deposit hide a drawdown", async () => {
    // Tuesday: 2,000,000 paid in beside 1,500,000 lost. Against Monday's 10,000,000 with the
    // deposit, the 10,500,000 of Wednesday is 12.5% down.
    const { accountId, syncedAt } = await accountWith([
      { date: "2026-03-02", equity: "10000000", previousClose: "10000000", netDeposits: "0" },
      { date: "2026-03-03", equity: "10500000", previousClose: "10000000", netDeposits: "2000000" },
      { date: "2026-03-04", equity: "10500000", previousClose: "10500000", netDeposits: "0" },
    ]);
    expect(await resumeAfter(syncedAt)({ accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining("Drawdown 12.50% from the peak 12000000.00"),
    });
  });
});
