import { describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import { DEFAULT_RISK_LIMITS } from "../../domain/riskLimits";
import {
  allowsOrder,
  cancelsWorkingEntries,
  checkLossLimits,
  equitiesNetOfLaterTransfers,
  evaluateDailyLoss,
  initialTradingState,
  nextTradingState,
  setTradingStateManually,
  type TradingState,
} from "../../domain/tradingState";

const at = (iso: string): number => Date.parse(iso);
const MON_OPEN = at("2026-03-09T13:30:00Z");
const TUE_OPEN = at("2026-03-10T13:30:00Z");
const MON_1100 = at("2026-03-09T15:00:00Z");
const MON_1500 = at("2026-03-09T19:00:00Z");
const TUE_0800 = at("2026-03-10T12:00:00Z");
const TUE_0931 = at("2026-03-10T13:31:00Z");

const loss = (lastEquity: string, equity: string, realized = "0", deposited = "0") =>
  evaluateDailyLoss(
    {
      lastEquity: dec(lastEquity),
      equity: dec(equity),
      realizedPnlToday: dec(realized),
      netDepositsToday: dec(deposited),
    },
    DEFAULT_RISK_LIMITS,
  );

describe("what each trading mode allows", () => {
  const opening = { reducesPosition: false, isCancel: false };
  const reducing = { reducesPosition: true, isCancel: false };
  const cancel = { reducesPosition: false, isCancel: true };

  it("ACTIVE allows everything", () => {
    expect(allowsOrder("ACTIVE", opening)).toBe(true);
    expect(allowsOrder("ACTIVE", reducing)).toBe(true);
    expect(allowsOrder("ACTIVE", cancel)).toBe(true);
  });

  it("REDUCING and HALTED allow only reducing orders and cancels", () => {
    for (const mode of ["REDUCING", "HALTED"] as const) {
      expect(allowsOrder(mode, opening)).toBe(false);
      expect(allowsOrder(mode, reducing)).toBe(true);
      expect(allowsOrder(mode, cancel)).toBe(true);
    }
  });

  it("takes a whole state as well as a mode", () => {
    const halted = setTradingStateManually("HALTED", "/halt", 1);
    expect(allowsOrder(halted, opening)).toBe(false);
    expect(allowsOrder(initialTradingState(1), opening)).toBe(true);
    expect(cancelsWorkingEntries(halted)).toBe(true);
  });

  it("only HALTED cancels working entries", () => {
    expect(cancelsWorkingEntries("HALTED")).toBe(true);
    expect(cancelsWorkingEntries("REDUCING")).toBe(false);
    expect(cancelsWorkingEntries("ACTIVE")).toBe(false);
  });
});

describe("the daily-loss rule (3% limit, warned at 80%)", () => {
  it("is OK on a winning day and on a flat one", () => {
    const win = loss("100000", "101500", "700");
    expect(win.level).toBe("OK");
    expect(win.lossAmount.toString()).toBe("0");
    expect(win.limitAmount.toString()).toBe("3000");
    expect(win.remainingAmount.toString()).toBe("3000");
    expect(loss("100000", "100000").level).toBe("OK");
  });

  it("is OK just under the warning and WARNING exactly at 80% of the limit", () => {
    expect(loss("100000", "97600.01").level).toBe("OK");
    const warned = loss("100000", "97600");
    expect(warned.level).toBe("WARNING");
    expect(warned.lossAmount.toString()).toBe("2400");
    expect(warned.lossPercent?.toString()).toBe("2.4");
    expect(warned.warningAmount.toString()).toBe("2400");
    expect(warned.remainingAmount.toString()).toBe("600");
    expect(warned.message).toContain("$600.00 left");
  });

  it("is WARNING one cent short of the limit and BREACHED exactly at it", () => {
    expect(loss("100000", "97000.01").level).toBe("WARNING");
    const breached = loss("100000", "97000");
    expect(breached.level).toBe("BREACHED");
    expect(breached.lossPercent?.toString()).toBe("3");
    expect(breached.remainingAmount.toString()).toBe("0");
    expect(breached.message).toContain("3.00%");
    expect(loss("100000", "96000").level).toBe("BREACHED");
  });

  it("counts realized losses a deposit would hide", () => {
    // A $10,000 deposit lifts equity above the previous close, but $3,100 was lost in trades.
    const e = loss("100000", "106900", "-3100");
    expect(e.level).toBe("BREACHED");
    expect(e.pnlToday.toString()).toBe("-3100");
    expect(e.lossAmount.toString()).toBe("3100");
  });

  it("counts open losses when realized P&L is positive", () => {
    const e = loss("100000", "96500", "500");
    expect(e.level).toBe("BREACHED");
    expect(e.lossAmount.toString()).toBe("3500");
  });

  it("halts on any loss without a previous close to measure against", () => {
    const none = loss("0", "0");
    expect(none.level).toBe("OK");
    expect(none.lossPercent).toBeNull();
    const lost = loss("0", "5000", "-10");
    expect(lost.level).toBe("BREACHED");
    expect(lost.lossPercent).toBeNull();
    expect(lost.limitAmount.toString()).toBe("0");
  });

  it("does not count a withdrawal during the day as a loss, nor a deposit as a gain", () => {
    // 5,000 taken out of a 100,000 account that lost 1,000 trading: a 1% loss, not 6%.
    const withdrawn = loss("100000", "94000", "0", "-5000");
    expect(withdrawn.level).toBe("OK");
    expect(withdrawn.pnlToday.toString()).toBe("-1000");
    // 10,000 paid in while the positions lost 4,000: the deposit does not hide the loss.
    const deposited = loss("100000", "106000", "0", "10000");
    expect(deposited.level).toBe("BREACHED");
    expect(deposited.pnlToday.toString()).toBe("-4000");
  });

  it("follows the account's own limits", () => {
    const e = evaluateDailyLoss(
      {
        lastEquity: dec("50000"),
        equity: dec("49000"),
        realizedPnlToday: dec("0"),
        netDepositsToday: dec("0"),
      },
      { maxDailyLossPercent: dec("2"), dailyLossWarningFraction: dec("0.5") },
    );
    expect(e.level).toBe("BREACHED");
    expect(e.limitAmount.toString()).toBe("1000");
    expect(e.warningAmount.toString()).toBe("500");
  });
});

describe("the next trading state", () => {
  const breached = loss("100000", "96000");
  const ok = loss("100000", "100000");
  const warning = loss("100000", "97500");

  it("halts an active account on a breach, set automatically, with the loss as the reason", () => {
    const step = nextTradingState(initialTradingState(0), breached, {
      now: MON_1100,
      lastSessionOpenAt: MON_OPEN,
    });
    expect(step.changed).toBe(true);
    expect(step.state).toMatchObject({ mode: "HALTED", setBy: "AUTO", since: MON_1100 });
    expect(step.state.reason).toContain("4.00%");
  });

  it("keeps an active account active on OK and WARNING", () => {
    const active = initialTradingState(0);
    for (const e of [ok, warning]) {
      const step = nextTradingState(active, e, { now: MON_1100, lastSessionOpenAt: MON_OPEN });
      expect(step).toEqual({ state: active, changed: false });
    }
  });

  it("keeps an automatic halt for the rest of the session even when the loss recovers", () => {
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: MON_1100,
      lastSessionOpenAt: MON_OPEN,
    }).state;
    const later = nextTradingState(halted, ok, { now: MON_1500, lastSessionOpenAt: MON_OPEN });
    expect(later).toEqual({ state: halted, changed: false });
    const premarket = nextTradingState(halted, ok, { now: TUE_0800, lastSessionOpenAt: MON_OPEN });
    expect(premarket.state.mode).toBe("HALTED");
  });

  it("resets an automatic halt at the next session open", () => {
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: MON_1100,
      lastSessionOpenAt: MON_OPEN,
    }).state;
    const step = nextTradingState(halted, ok, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
    expect(step.changed).toBe(true);
    expect(step.state).toMatchObject({ mode: "ACTIVE", setBy: "AUTO", since: TUE_0931 });
  });

  it("keeps a halt set before the open of its own day: the open of that day does not reset it", () => {
    // Tuesday 08:00: the positions gapped down overnight and Tuesday's loss is past the limit.
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: TUE_0800,
      lastSessionOpenAt: MON_OPEN,
    }).state;
    expect(halted).toMatchObject({ mode: "HALTED", setBy: "AUTO", since: TUE_0800 });
    for (const e of [ok, breached]) {
      const step = nextTradingState(halted, e, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
      expect(step).toEqual({ state: halted, changed: false });
    }
    // A trader's resume before the open stands for that day's session.
    const resumed = setTradingStateManually("ACTIVE", "/resume: hedged", TUE_0800 + 60_000);
    const step = nextTradingState(resumed, breached, {
      now: TUE_0931,
      lastSessionOpenAt: TUE_OPEN,
    });
    expect(step).toEqual({ state: resumed, changed: false });
  });

  it("keeps a halt set at exactly the open: that open does not reset it", () => {
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: TUE_OPEN,
      lastSessionOpenAt: TUE_OPEN,
    }).state;
    const step = nextTradingState(halted, ok, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
    expect(step).toEqual({ state: halted, changed: false });
  });

  it("halts again at once if the new session is already breached", () => {
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: MON_1100,
      lastSessionOpenAt: MON_OPEN,
    }).state;
    const step = nextTradingState(halted, breached, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
    expect(step.state).toMatchObject({ mode: "HALTED", setBy: "AUTO", since: TUE_0931 });
  });

  it("never lifts a manual halt or reduce-only, at the open or otherwise", () => {
    for (const mode of ["HALTED", "REDUCING"] as const) {
      const manual = setTradingStateManually(mode, "/halt by trader", MON_1100);
      for (const e of [ok, warning]) {
        const step = nextTradingState(manual, e, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
        expect(step).toEqual({ state: manual, changed: false });
      }
    }
  });

  it("keeps a manual halt as it is on a breach (still the trader's)", () => {
    const manual = setTradingStateManually("HALTED", "/halt", MON_1100);
    const step = nextTradingState(manual, breached, { now: MON_1500, lastSessionOpenAt: MON_OPEN });
    expect(step).toEqual({ state: manual, changed: false });
  });

  it("halts over a manual reduce-only and restores it, not ACTIVE, at the next open", () => {
    const reducing = setTradingStateManually("REDUCING", "reduce-only by trader", MON_1100);
    const halted = nextTradingState(reducing, breached, {
      now: MON_1500,
      lastSessionOpenAt: MON_OPEN,
    }).state;
    expect(halted).toMatchObject({ mode: "HALTED", setBy: "AUTO", restoresTo: reducing });
    const next = nextTradingState(halted, ok, { now: TUE_0931, lastSessionOpenAt: TUE_OPEN });
    expect(next).toEqual({ state: reducing, changed: true });
  });

  it("lets a trader's resume override a breach for the rest of that session only", () => {
    const resumed = setTradingStateManually("ACTIVE", "/resume", MON_1500);
    const same = nextTradingState(resumed, breached, {
      now: MON_1500 + 60_000,
      lastSessionOpenAt: MON_OPEN,
    });
    expect(same).toEqual({ state: resumed, changed: false });
    const nextDay = nextTradingState(resumed, breached, {
      now: TUE_0931,
      lastSessionOpenAt: TUE_OPEN,
    });
    expect(nextDay.state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
  });

  it("does not let a trader's resume override the next day's breach in its pre-market", () => {
    const resumed = setTradingStateManually("ACTIVE", "/resume", MON_1500);
    // Monday after hours (17:00 New York) the day's figure is still Monday's: the resume stands.
    const afterHours = nextTradingState(resumed, breached, {
      now: at("2026-03-09T21:00:00Z"),
      lastSessionOpenAt: MON_OPEN,
      tradingDate: "2026-03-09",
    });
    expect(afterHours).toEqual({ state: resumed, changed: false });
    // Tuesday 08:00 the latest open is still Monday's, but the loss is Tuesday's against
    // Monday's close, which the trader never saw.
    const preMarket = nextTradingState(resumed, breached, {
      now: TUE_0800,
      lastSessionOpenAt: MON_OPEN,
      tradingDate: "2026-03-10",
    });
    expect(preMarket.state).toMatchObject({ mode: "HALTED", setBy: "AUTO", since: TUE_0800 });
  });

  it("lets a trader's resume stand through the weekend or holiday that follows its day", () => {
    // Thursday 2 April 2026, 15:00; Good Friday the market is closed: its figures are Thursday's.
    const resumed = setTradingStateManually("ACTIVE", "/resume", at("2026-04-02T19:00:00Z"));
    const holiday = nextTradingState(resumed, breached, {
      now: at("2026-04-03T15:00:00Z"),
      lastSessionOpenAt: at("2026-04-02T13:30:00Z"),
      tradingDate: "2026-04-02",
    });
    expect(holiday).toEqual({ state: resumed, changed: false });
  });

  it("never resets without a known session open", () => {
    const halted = nextTradingState(initialTradingState(0), breached, {
      now: MON_1100,
      lastSessionOpenAt: null,
    }).state;
    expect(halted.mode).toBe("HALTED");
    const step = nextTradingState(halted, ok, { now: TUE_0931, lastSessionOpenAt: null });
    expect(step.state).toBe(halted);
  });

  it("without a known session open, lets a trader's resume override a breach on its New York date only", () => {
    const resumed = setTradingStateManually("ACTIVE", "/resume", MON_1500);
    const same = nextTradingState(resumed, breached, {
      now: MON_1500 + 60_000,
      lastSessionOpenAt: null,
    });
    expect(same).toEqual({ state: resumed, changed: false });
    // Monday's resume does not stand in for Tuesday's limit while the calendar is unavailable.
    const nextDay = nextTradingState(resumed, breached, { now: TUE_0931, lastSessionOpenAt: null });
    expect(nextDay.state).toMatchObject({ mode: "HALTED", setBy: "AUTO" });
  });

  it("records who set a manual state", () => {
    const s: TradingState = setTradingStateManually("HALTED", "/halt by @ann", 42);
    expect(s).toEqual({ mode: "HALTED", setBy: "MANUAL", reason: "/halt by @ann", since: 42 });
  });
});

describe("whether the account is still past a loss limit", () => {
  const figures = (equity: string, lastEquity = "100000", deposited = "0") => ({
    lastEquity: dec(lastEquity),
    equity: dec(equity),
    realizedPnlToday: dec("0"),
    netDepositsToday: dec(deposited),
  });
  const off = { settings: { maxDrawdownPercent: null }, recentEquities: [] };
  const fivePercent = (...peaks: string[]) => ({
    settings: { maxDrawdownPercent: dec("5") },
    recentEquities: peaks.map((p) => dec(p)),
  });

  it("is past the daily-loss limit at 3% down, not at 1%, and not for a withdrawal", () => {
    expect(checkLossLimits(figures("97000"), DEFAULT_RISK_LIMITS, off)).toMatchObject({
      breached: true,
      dailyLoss: { level: "BREACHED" },
      drawdown: { tripped: false },
    });
    expect(checkLossLimits(figures("99000"), DEFAULT_RISK_LIMITS, off).breached).toBe(false);
    expect(
      checkLossLimits(figures("94000", "100000", "-5000"), DEFAULT_RISK_LIMITS, off).breached,
    ).toBe(false);
  });

  it("is past the drawdown limit only when the breaker is on", () => {
    // No loss on the day, 6% below the peak of the recent days.
    const flat = figures("94000", "94000");
    expect(checkLossLimits(flat, DEFAULT_RISK_LIMITS, off).breached).toBe(false);
    const tripped = checkLossLimits(flat, DEFAULT_RISK_LIMITS, fivePercent("100000", "96000"));
    expect(tripped.breached).toBe(true);
    expect(tripped.dailyLoss.level).toBe("OK");
    expect(tripped.drawdown).toMatchObject({ tripped: true, code: "MAX_DRAWDOWN" });
    expect(
      checkLossLimits(figures("97000", "97000"), DEFAULT_RISK_LIMITS, fivePercent("100000"))
        .breached,
    ).toBe(false);
  });
});

describe("equitiesNetOfLaterTransfers", () => {
  it("adds to each day's equity the net deposits of the days after it", () => {
    const days = [
      { equity: dec("8500000"), netDeposits: dec("-1500000") },
      { equity: dec("10000000"), netDeposits: dec("2000000") },
      { equity: dec("7000000"), netDeposits: dec("0") },
    ];
    expect(equitiesNetOfLaterTransfers(days).map((e) => e.toFixed())).toEqual([
      "8500000",
      "8500000",
      "7500000",
    ]);
    expect(equitiesNetOfLaterTransfers([])).toEqual([]);
  });

  it("counts once a transfer booked after a day's close, in that day's snapshot and the next day's net deposits", () => {
    // 1,000,000 flat. Thursday 17:00: 50,000 deposited, the snapshot rewritten at 17:02 holds it;
    // Friday 17:00: 20,000 withdrawn, likewise. Monday counts from Friday's close.
    const days = [
      { equity: dec("1030000"), netDeposits: dec("-20000") },
      {
        equity: dec("1030000"),
        netDeposits: dec("30000"),
        depositsAfterClose: dec("-20000"),
      },
      {
        equity: dec("1050000"),
        netDeposits: dec("50000"),
        depositsAfterClose: dec("50000"),
      },
    ];
    // Each as of the newest day's (Monday's) close: every transfer in, once.
    expect(equitiesNetOfLaterTransfers(days).map((e) => e.toFixed())).toEqual([
      "1030000",
      "1030000",
      "1030000",
    ]);
    // As of Friday's close: its own after-close withdrawal left out (a caller adds those since).
    expect(equitiesNetOfLaterTransfers(days.slice(1)).map((e) => e.toFixed())).toEqual([
      "1050000",
      "1050000",
    ]);
  });
});
