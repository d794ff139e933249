/**
 * /resume's daily-loss check on days after the figures it reads: over a weekend (and on Monday
 * before the day's first valuation) the account's figures are still Friday's, so they are judged
 * with Friday's realized P&L and net deposits, not with an empty day's. On a market holiday the
 * valuation still syncs the account against the broker's rolled close: the figures are then
 * judged as the valuation judges them, with the last session's realized P&L and the transfers
 * since its close (the broker's calendar and cash activities, from the simulator).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import { createAlpacaBroker } from "../../broker/alpaca/client";
import { createLocalRateLimiter } from "../../broker/rateLimiter";
import { recordAccountSync } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { readLog } from "../../db/executionLog";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { type CalendarCache, createCalendarCache } from "../../jobs/marketCalendar";
import { seedClosedTrades } from "../bot/deskSeeds";
import { createAccount } from "../db/fixtures";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { startTestSimulator, type TestSimulator } from "../support/simulator";

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

// Thursday 2 April 2026, 15:59 New York: the session's last valuation. Good Friday 3 April the
// exchange is closed; the valuation (Monday to Friday) still runs at 10:00.
const THURSDAY_SYNC = new Date("2026-04-02T19:59:00Z");
const GOOD_FRIDAY_SYNC = new Date("2026-04-03T14:00:00Z");
const GOOD_FRIDAY_RESUME = new Date("2026-04-03T14:05:00Z");

describe("/resume's daily-loss check on a market holiday", () => {
  let t: TestDatabase;
  const simulators: TestSimulator[] = [];
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    for (const sim of simulators) await sim.close();
    await t?.close();
  });

  /** A broker on its own simulator, on Good Friday, its previous close Thursday's 10,000,000. */
  async function goodFridayBroker(): Promise<{ broker: Broker; sim: TestSimulator }> {
    const sim = await startTestSimulator({
      keyId: "resume-key",
      secretKey: "resume-secret",
      cash: "10000000",
      time: GOOD_FRIDAY_SYNC.toISOString(),
    });
    simulators.push(sim);
    const broker = createAlpacaBroker({
      keyId: "resume-key",
      secretKey: "resume-secret",
      tradingUrl: sim.url,
      dataUrl: sim.url,
      streamUrl: sim.streamUrl,
      rateLimiter: createLocalRateLimiter(),
      requestTimeoutMs: 5_000,
      retryDelayMs: 10,
    });
    return { broker, sim };
  }

  /**
   * An account whose Thursday the valuation closed with these figures, then synced on Good
   * Friday as the valuation does on a day without a session: the broker's equity and its last
   * equity (by then Thursday's close), no snapshot.
   */
  async function valuedOnGoodFriday(
    broker: Broker,
    thursday: { equity: string; netDeposits: string; realized: string | null },
  ): Promise<number> {
    const accountId = await createAccount(t.db);
    await recordEquitySnapshot(t.db, {
      accountId,
      tradingDay: "2026-04-02",
      equity: dec(thursday.equity),
      previousCloseEquity: dec("9599500"),
      cash: dec(thursday.equity),
      netDeposits: dec(thursday.netDeposits),
      realizedPnl: dec(thursday.realized ?? "0"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: THURSDAY_SYNC,
    });
    if (thursday.realized !== null) {
      await seedClosedTrades(t.db, accountId, [
        {
          symbol: "TSLA",
          realizedPnl: thursday.realized,
          rMultiple: "-3",
          closedAt: new Date("2026-04-02T18:00:00Z"),
          exitReason: "STOPPED_OUT",
        },
      ]);
    }
    const account = await broker.getAccount();
    if (!account.ok) throw new Error(account.message);
    const { equity, lastEquity, cash, buyingPower } = account.value;
    await recordAccountSync(
      t.db,
      accountId,
      { equity, lastEquity, cash, buyingPower },
      GOOD_FRIDAY_SYNC,
    );
    return accountId;
  }

  const resumeWith = (broker: Broker) =>
    createDailyLossResumeCheck({ db: t.db, now: () => GOOD_FRIDAY_RESUME, broker });

  it("refuses without a reason a Thursday realized loss past the limit, and records a forced resume", async () => {
    const { broker } = await goodFridayBroker();
    // Thursday: 1,000,000 paid in beside 400,500 lost on a trade of the day, past the 3% limit
    // (300,000 of the 10,000,000 close); on Good Friday the equity is that close's, unchanged.
    const accountId = await valuedOnGoodFriday(broker, {
      equity: "10000000",
      netDeposits: "1000000",
      realized: "-400500.00",
    });
    const resume = resumeWith(broker);
    expect(await resume({ accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining(
        "The day's loss (-400500.00) is still beyond the limit (300000.00).",
      ),
    });
    expect(await resume({ accountId, reason: "stop was a bad print" })).toEqual({ allowed: true });
    const forced = (await readLog(t.db, { accountId })).filter((e) => e.event === "RESUME_FORCED");
    expect(forced.map((e) => e.details)).toEqual([
      expect.objectContaining({ reason: "stop was a bad print", pnlToday: "-400500.00" }),
    ]);
  });

  it("does not take a withdrawal since Thursday's close for a loss", async () => {
    const { broker, sim } = await goodFridayBroker();
    // 500,000 taken out on Good Friday: 5% below Thursday's close, no loss.
    await sim.control("/sim/cash", { amount: "-500000" });
    const accountId = await valuedOnGoodFriday(broker, {
      equity: "10000000",
      netDeposits: "0",
      realized: null,
    });
    expect(await resumeWith(broker)({ accountId, reason: null })).toEqual({ allowed: true });
  });

  it("does not take a withdrawal since Thursday's close for a drawdown", async () => {
    const { broker, sim } = await goodFridayBroker();
    // 1,500,000 taken out on Good Friday: 15% below Thursday's close, past a 10% drawdown limit.
    await sim.control("/sim/cash", { amount: "-1500000" });
    const accountId = await valuedOnGoodFriday(broker, {
      equity: "10000000",
      netDeposits: "0",
      realized: null,
    });
    await saveKillSwitchSettings(
      t.db,
      accountId,
      { ...DEFAULT_KILL_SWITCH_SETTINGS, maxDrawdownPercent: dec("10"), drawdownDays: 5 },
      GOOD_FRIDAY_SYNC,
    );
    expect(await resumeWith(broker)({ accountId, reason: null })).toEqual({ allowed: true });
  });

  it("does not take a deposit made after the figures' sync for a loss", async () => {
    const { broker, sim } = await goodFridayBroker();
    const accountId = await valuedOnGoodFriday(broker, {
      equity: "10000000",
      netDeposits: "0",
      realized: null,
    });
    // 500,000 paid in at 10:02, after the 10:00 valuation: not in the equity it synced.
    await sim.control("/sim/clock", { time: "2026-04-03T14:02:00Z" });
    await sim.control("/sim/cash", { amount: "500000" });
    expect(await resumeWith(broker)({ accountId, reason: null })).toEqual({ allowed: true });
  });

  it("judges with the last session's realized loss too, and says so, when the calendar cannot be read", async () => {
    const { broker } = await goodFridayBroker();
    const accountId = await valuedOnGoodFriday(broker, {
      equity: "10000000",
      netDeposits: "1000000",
      realized: "-400500.00",
    });
    const warnings: unknown[][] = [];
    const noCalendar: Broker = {
      ...broker,
      async getCalendar() {
        return { ok: false, code: "SERVER_ERROR", message: "calendar down", retryable: true };
      },
    };
    const resume = createDailyLossResumeCheck({
      db: t.db,
      now: () => GOOD_FRIDAY_RESUME,
      broker: noCalendar,
      logger: { warn: (...args: unknown[]) => warnings.push(args) },
    });
    expect(await resume({ accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining(
        "The day's loss (-400500.00) is still beyond the limit (300000.00).",
      ),
    });
    expect(warnings).toEqual([
      [
        expect.objectContaining({ accountId, figuresDate: "2026-04-03" }),
        expect.stringContaining("trading calendar unavailable"),
      ],
    ]);
  });
});

describe("/resume's daily-loss check beside a valuation storing new figures", () => {
  let t: TestDatabase;
  let sim: TestSimulator;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
    sim = await startTestSimulator({
      keyId: "resume-key",
      secretKey: "resume-secret",
      cash: "10000000",
      time: THURSDAY_SYNC.toISOString(),
    });
  });
  afterAll(async () => {
    await sim?.close();
    await t?.close();
  });

  /** Stores a valuation's figures of Thursday as the value job does, in one transaction. */
  async function valuation(
    accountId: number,
    figures: { equity: string; netDeposits: string; at: Date },
  ) {
    await t.db.transaction(async (tx) => {
      const equity = dec(figures.equity);
      await recordAccountSync(
        tx,
        accountId,
        { equity, lastEquity: dec("10000000"), cash: equity, buyingPower: equity },
        figures.at,
      );
      await recordEquitySnapshot(tx, {
        accountId,
        tradingDay: "2026-04-02",
        equity,
        previousCloseEquity: dec("10000000"),
        cash: equity,
        netDeposits: dec(figures.netDeposits),
        realizedPnl: dec("0"),
        unrealizedPnl: dec("0"),
        openPositions: 1,
        takenAt: figures.at,
      });
    });
  }

  it("does not judge the figures it read with the day's transfers of a valuation stored since", async () => {
    const accountId = await createAccount(t.db);
    // 400,500 down on an open position, past the 300,000 limit.
    await valuation(accountId, { equity: "9599500", netDeposits: "0", at: THURSDAY_SYNC });
    const broker = createAlpacaBroker({
      keyId: "resume-key",
      secretKey: "resume-secret",
      tradingUrl: sim.url,
      dataUrl: sim.url,
      streamUrl: sim.streamUrl,
      rateLimiter: createLocalRateLimiter(),
      requestTimeoutMs: 5_000,
      retryDelayMs: 10,
    });
    const cache = createCalendarCache();
    let stored = false;
    // While /resume asks for the calendar, the next valuation stores 1,000,000 taken out.
    const calendars: CalendarCache = {
      async get(id, b, now) {
        if (!stored) {
          stored = true;
          await valuation(accountId, {
            equity: "8599500",
            netDeposits: "-1000000",
            at: new Date(THURSDAY_SYNC.getTime() + 60_000),
          });
        }
        return cache.get(id, b, now);
      },
    };
    const resume = createDailyLossResumeCheck({
      db: t.db,
      now: () => new Date(THURSDAY_SYNC.getTime() + 120_000),
      broker,
      calendars,
    });
    expect(await resume({ accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining(
        "The day's loss (-400500.00) is still beyond the limit (300000.00).",
      ),
    });
  });
});
