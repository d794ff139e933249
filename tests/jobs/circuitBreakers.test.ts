/**
 * The circuit-breaker pass with real PostgreSQL: off by default, the drawdown from the peak of the
 * recent daily equity snapshots halts the account (AUTO) with a notice, and a trader's own state
 * is never lifted by it.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTradingState } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { notificationOutbox } from "../../db/schema";
import { dec } from "../../domain/money";
import { createCircuitBreakers } from "../../jobs/circuitBreakers";
import { type Lifecycle, OWNER_CHAT, openLifecycle } from "./harness";

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
});
