/**
 * The breaker pass that halts an account runs the halt response; when that response fails, the
 * job's retry runs it again, though the pass itself then finds the account halted already. A
 * trader's resume is left alone. Real PostgreSQL, the pass called as its queue would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { dec } from "../../domain/money";
import { createCircuitBreakers } from "../../jobs/circuitBreakers";
import { createKillSwitch } from "../../jobs/killSwitch";
import { automaticallyHalted, createKillSwitchProcessor } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { type Lifecycle, openLifecycle } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("breakers-halt-retry");
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

describe("the breaker pass's halt response", () => {
  it("runs again on the retry of a pass whose response failed, and not for a trader's resume", async () => {
    await saveKillSwitchSettings(
      t.db.db,
      t.accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("10"), drawdownDays: 5 },
      new Date(),
    );
    await snapshot("2026-02-25", "110000");
    await snapshot("2026-02-26", "98000");
    const responses: number[] = [];
    let failNext = true;
    const process = createKillSwitchProcessor(
      createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
      {
        check: createCircuitBreakers(t.deps),
        later: async () => {},
        onHalted: async (accountId) => {
          responses.push(accountId);
          if (failNext) {
            failNext = false;
            throw new Error("Connection is closed.");
          }
        },
        haltedAutomatically: automaticallyHalted(t.deps),
        now: t.deps.now,
      },
    );
    const data = { action: "breakers", accountId: t.accountId };
    await expect(process({ data, attemptsMade: 0 })).rejects.toThrow(/Connection is closed/);
    expect(await process({ data, attemptsMade: 1 })).toMatchObject({ outcome: "unchanged" });
    expect(responses).toEqual([t.accountId, t.accountId]);

    // A trader resumed the account: the drawdown stands, but no response runs for it.
    const now = t.deps.now();
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => ({ mode: "ACTIVE", setBy: "MANUAL", reason: "resumed", since: now.getTime() }),
      "test",
      now,
    );
    expect(await process({ data, attemptsMade: 2 })).toMatchObject({ outcome: "unchanged" });
    expect(responses).toEqual([t.accountId, t.accountId]);
  });
});
