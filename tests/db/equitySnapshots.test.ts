import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listEquitySnapshots, recordEquitySnapshot } from "../../db/equitySnapshots";
import { dec } from "../../domain/money";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount } from "./fixtures";

describe.each(TEST_DRIVERS)("equity snapshots on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("keeps one snapshot per account and trading day, the latest winning", async () => {
    const accountId = await createAccount(t.db);
    const snapshot = (day: string, equity: string, seconds: number) => ({
      accountId,
      tradingDay: day,
      equity: dec(equity),
      previousCloseEquity: dec("100000"),
      cash: dec("40000"),
      realizedPnl: dec("0"),
      unrealizedPnl: dec(equity).minus("100000"),
      openPositions: 2,
      takenAt: at(seconds),
    });
    await recordEquitySnapshot(t.db, snapshot("2026-03-02", "100500.25", 0));
    await recordEquitySnapshot(t.db, snapshot("2026-03-02", "99800.10", 60));
    await recordEquitySnapshot(t.db, snapshot("2026-03-03", "101000", 86_400));
    const days = await listEquitySnapshots(t.db, accountId, "2026-03-01", "2026-03-31");
    expect(days.map((d) => [d.tradingDay, d.equity.toFixed(2)])).toEqual([
      ["2026-03-02", "99800.10"],
      ["2026-03-03", "101000.00"],
    ]);
    expect(days[0]?.unrealizedPnl.toFixed(2)).toBe("-199.90");
  });

  it("keeps the newer snapshot when an older one is recorded after it (valuations finishing out of order)", async () => {
    const accountId = await createAccount(t.db);
    const snapshot = (equity: string, seconds: number) => ({
      accountId,
      tradingDay: "2026-03-02",
      equity: dec(equity),
      previousCloseEquity: dec("100000"),
      cash: dec("40000"),
      realizedPnl: dec("0"),
      unrealizedPnl: dec(equity).minus("100000"),
      openPositions: 2,
      takenAt: at(seconds),
    });
    await recordEquitySnapshot(t.db, snapshot("99800.10", 60));
    const kept = await recordEquitySnapshot(t.db, snapshot("100300", 30));
    expect(kept.equity.toFixed(2)).toBe("99800.10");
    const [day] = await listEquitySnapshots(t.db, accountId, "2026-03-02", "2026-03-02");
    expect([day?.equity.toFixed(2), day?.takenAt]).toEqual(["99800.10", at(60)]);
  });
});
