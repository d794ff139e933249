import { describe, expect, it } from "vitest";
import {
  categoryOfNotice,
  deliveryOfNotice,
  NOTICE_CATEGORIES,
  type NoticeKind,
  positionCloseResultNotice,
  tradingStateChangedNotice,
} from "../../domain/notifications";

const KINDS: readonly NoticeKind[] = [
  "ENTRY_SUBMITTED",
  "ORDER_FILLED",
  "PROTECTION_PLACED",
  "TRADE_CLOSED",
  "ORDER_REJECTED",
  "ORDER_CANCELED",
  "TRADING_STATE_CHANGED",
  "DAILY_LOSS_WARNING",
  "RECONCILIATION_INCIDENT",
  "POSITION_CLOSE_RESULT",
  "DAILY_SUMMARY",
];

describe("notice delivery", () => {
  it("puts every notice in a settings category", () => {
    for (const kind of KINDS) expect(NOTICE_CATEGORIES).toContain(categoryOfNotice(kind));
  });

  it("delivers by default and follows the trader's choice", () => {
    expect(deliveryOfNotice("ORDER_FILLED", {})).toBe("on");
    expect(deliveryOfNotice("ORDER_FILLED", { fills: "silent" })).toBe("silent");
    expect(deliveryOfNotice("DAILY_SUMMARY", { dailySummary: "off" })).toBe("off");
  });

  it("never switches kill-switch notices off completely", () => {
    expect(deliveryOfNotice("TRADING_STATE_CHANGED", { killSwitch: "off" })).toBe("silent");
    expect(deliveryOfNotice("DAILY_LOSS_WARNING", { killSwitch: "off" })).toBe("silent");
    expect(deliveryOfNotice("POSITION_CLOSE_RESULT", { killSwitch: "off" })).toBe("silent");
  });
});

describe("tradingStateChangedNotice", () => {
  const since = Date.parse("2026-03-02T16:05:00Z");
  const halted = {
    mode: "HALTED" as const,
    setBy: "AUTO" as const,
    reason: "Day's loss 3.10% reached the 3% limit",
    since,
  };

  const before = Date.parse("2026-03-02T14:00:00Z");

  it("keys a change by account, time and mode, so every path writes it once", () => {
    const told = tradingStateChangedNotice(7, { mode: "ACTIVE", since: before }, halted, {
      pnlToday: "-3100.00",
      lossLimit: "3000.00",
    });
    expect(told).toEqual({
      key: `state-7-${before}-${since}-HALTED`,
      notice: {
        kind: "TRADING_STATE_CHANGED",
        accountId: 7,
        from: "ACTIVE",
        to: "HALTED",
        setBy: "AUTO",
        reason: "Day's loss 3.10% reached the 3% limit",
        pnlToday: "-3100.00",
        lossLimit: "3000.00",
      },
    });
    const manual = tradingStateChangedNotice(7, { mode: "REDUCING", since: before }, halted);
    expect(manual.key).toBe(told.key);
    expect(manual.notice).toMatchObject({ from: "REDUCING", pnlToday: null, lossLimit: null });
    expect(tradingStateChangedNotice(8, { mode: "ACTIVE", since: before }, halted).key).not.toBe(
      told.key,
    );
    expect(
      tradingStateChangedNotice(7, { mode: "HALTED", since: before }, { ...halted, mode: "ACTIVE" })
        .key,
    ).not.toBe(told.key);
  });

  it("keys a state that comes back apart from its first arrival", () => {
    // A trader's reduce-only, then restored as it was when an automatic halt over it resets.
    const reducing = {
      mode: "REDUCING" as const,
      setBy: "MANUAL" as const,
      reason: "/reduce",
      since,
    };
    const set = tradingStateChangedNotice(7, { mode: "ACTIVE", since: before }, reducing);
    const haltedAt = since + 3_600_000;
    const restored = tradingStateChangedNotice(7, { mode: "HALTED", since: haltedAt }, reducing);
    expect(restored.key).not.toBe(set.key);
  });
});

describe("positionCloseResultNotice", () => {
  const request = {
    accountId: 7,
    action: "flatten" as const,
    requestId: "flatten-7-99",
    requestedBy: "user:42",
    willRetry: true,
  };
  const refused = { symbol: "AAPL", ok: false as const, code: "FORBIDDEN", message: "held" };

  it("keys a symbol's close once per request, and its failure once while retried, once when given up", () => {
    const closed = positionCloseResultNotice({
      ...request,
      outcome: { symbol: "AAPL", ok: true, quantity: "100", price: null },
    });
    expect(closed).toEqual({
      key: "flatten-flatten-7-99-AAPL-closed",
      notice: {
        kind: "POSITION_CLOSE_RESULT",
        accountId: 7,
        symbol: "AAPL",
        action: "flatten",
        outcome: "closed",
        quantity: "100",
        price: null,
        code: null,
        reason: null,
        nextStep: null,
        requestedBy: "user:42",
      },
    });
    const retried = positionCloseResultNotice({ ...request, outcome: refused });
    expect(retried.key).toBe("flatten-flatten-7-99-AAPL-failed");
    expect(retried.notice).toMatchObject({ outcome: "failed", code: "FORBIDDEN", reason: "held" });
    expect(retried.notice.nextStep).toContain("retries");
    const givenUp = positionCloseResultNotice({ ...request, willRetry: false, outcome: refused });
    expect(givenUp.key).toBe("flatten-flatten-7-99-AAPL-failed-final");
    expect(givenUp.notice.nextStep).toContain("/close AAPL");
    expect(
      positionCloseResultNotice({ ...request, action: "close", outcome: refused }).key,
    ).not.toBe(retried.key);
  });
});
