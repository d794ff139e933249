import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  changeTradingState,
  ensureBrokerAccount,
  findBrokerAccount,
  loadTradingState,
  recordAccountSync,
} from "../../db/brokerAccounts";
import { readLog } from "../../db/executionLog";
import { loadRiskLimits, saveRiskLimits } from "../../db/riskLimits";
import { dec } from "../../domain/money";
import { DEFAULT_RISK_LIMITS } from "../../domain/riskLimits";
import { nextTradingState, setTradingStateManually } from "../../domain/tradingState";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, T0 } from "./fixtures";

describe.each(TEST_DRIVERS)("broker accounts on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("is created once when processes start together", async () => {
    const input = { environment: "paper" as const, brokerAccountId: "PA-SHARED" };
    const accounts = await Promise.all(
      [1, 2, 3, 4].map(() => ensureBrokerAccount(t.db, input, T0)),
    );
    expect(new Set(accounts.map((a) => a.id)).size).toBe(1);
    expect(accounts[0]?.tradingState).toBe("ACTIVE");
    const created = await readLog(t.db, { accountId: accounts[0]?.id ?? 0 });
    expect(created.map((e) => e.event)).toEqual(["CREATED"]);
  });

  it("keeps the trading state with who set it, why and when, and logs each change", async () => {
    const accountId = await createAccount(t.db);
    const halted = await changeTradingState(
      t.db,
      accountId,
      () => setTradingStateManually("REDUCING", "/reduce by @ann", at(1).getTime()),
      "user:42",
      at(1),
    );
    expect(halted?.changed).toBe(true);
    // The daily-loss rule halts a trader's REDUCING and remembers it for the next open.
    const breach = await changeTradingState(
      t.db,
      accountId,
      (current) =>
        nextTradingState(
          current,
          { level: "BREACHED", message: "Daily loss 3.10% reached the 3% limit" },
          { now: at(2).getTime(), lastSessionOpenAt: T0.getTime() },
        ).state,
      "system:daily-loss",
      at(2),
    );
    expect(breach?.after.mode).toBe("HALTED");
    const stored = await loadTradingState(t.db, accountId);
    expect(stored?.mode).toBe("HALTED");
    expect(stored?.setBy).toBe("AUTO");
    expect(stored?.since).toBe(at(2).getTime());
    expect(stored?.restoresTo?.mode).toBe("REDUCING");
    expect(stored?.restoresTo?.reason).toBe("/reduce by @ann");
    const account = await findBrokerAccount(t.db, accountId);
    expect(account?.tradingStateSetBy).toBe("system:daily-loss");

    const same = await changeTradingState(t.db, accountId, (s) => s, "user:42", at(3));
    expect(same?.changed).toBe(false);
    const log = (await readLog(t.db, { accountId })).filter(
      (e) => e.event === "TRADING_STATE_CHANGED",
    );
    expect(log.map((e) => [e.statusBefore, e.statusAfter, e.source])).toEqual([
      ["ACTIVE", "REDUCING", "user:42"],
      ["REDUCING", "HALTED", "system:daily-loss"],
    ]);
  });

  it("serializes concurrent state changes: none is lost", async () => {
    const accountId = await createAccount(t.db);
    const reasons = ["a", "b", "c", "d", "e"];
    await Promise.all(
      reasons.map((reason, i) =>
        changeTradingState(
          t.db,
          accountId,
          (current) =>
            setTradingStateManually(
              current.mode === "HALTED" ? "ACTIVE" : "HALTED",
              `${current.reason}${reason}`,
              at(10 + i).getTime(),
            ),
          "user:1",
          at(10 + i),
        ),
      ),
    );
    const state = await loadTradingState(t.db, accountId);
    expect(state?.reason.length).toBe("New account".length + reasons.length);
    expect(state?.mode).toBe("HALTED");
  });

  it("records the broker's balances", async () => {
    const accountId = await createAccount(t.db);
    await recordAccountSync(
      t.db,
      accountId,
      {
        equity: dec("100123.45"),
        lastEquity: dec("100000"),
        cash: dec("50000.5"),
        buyingPower: dec("200246.9"),
      },
      at(20),
    );
    const account = await findBrokerAccount(t.db, accountId);
    expect(account?.equity?.toFixed()).toBe("100123.45");
    expect(account?.lastSyncedAt?.toISOString()).toBe(at(20).toISOString());
  });

  it("keeps the newest balances when an older sync is written after a newer one", async () => {
    const accountId = await createAccount(t.db);
    const balances = (equity: string) => ({
      equity: dec(equity),
      lastEquity: dec("100000"),
      cash: dec(equity),
      buyingPower: dec(equity),
    });
    await recordAccountSync(t.db, accountId, balances("97000"), at(31));
    // A valuation that read the broker earlier finishes later: it must not roll the figures back.
    await recordAccountSync(t.db, accountId, balances("100000"), at(30));
    let account = await findBrokerAccount(t.db, accountId);
    expect(account?.equity?.toFixed()).toBe("97000");
    expect(account?.lastSyncedAt?.toISOString()).toBe(at(31).toISOString());
    // The same instant again, and a newer one, are written.
    await recordAccountSync(t.db, accountId, balances("96000"), at(31));
    account = await findBrokerAccount(t.db, accountId);
    expect(account?.equity?.toFixed()).toBe("96000");
    await recordAccountSync(t.db, accountId, balances("95000"), at(32));
    account = await findBrokerAccount(t.db, accountId);
    expect(account?.equity?.toFixed()).toBe("95000");
    expect(account?.lastSyncedAt?.toISOString()).toBe(at(32).toISOString());
  });

  it("stores risk limits per account, refusing invalid ones", async () => {
    const accountId = await createAccount(t.db);
    expect(await loadRiskLimits(t.db, accountId)).toEqual(DEFAULT_RISK_LIMITS);
    const limits = {
      ...DEFAULT_RISK_LIMITS,
      riskPerTradePercent: dec("0.75"),
      maxOpenPositions: 4,
    };
    const saved = await saveRiskLimits(t.db, accountId, limits, "user:42", at(30));
    expect(saved.ok).toBe(true);
    const loaded = await loadRiskLimits(t.db, accountId);
    expect(loaded.riskPerTradePercent.toFixed()).toBe("0.75");
    expect(loaded.maxOpenPositions).toBe(4);
    expect(loaded.duplicateWindowMs).toBe(DEFAULT_RISK_LIMITS.duplicateWindowMs);

    const invalid = await saveRiskLimits(
      t.db,
      accountId,
      { ...limits, riskPerTradePercent: dec("-1") },
      "user:42",
      at(31),
    );
    expect(invalid.ok).toBe(false);
    expect((await loadRiskLimits(t.db, accountId)).riskPerTradePercent.toFixed()).toBe("0.75");
    const changes = (await readLog(t.db, { accountId })).filter(
      (e) => e.event === "RISK_LIMITS_CHANGED",
    );
    expect(changes).toHaveLength(1);
  });
});
