import { describe, expect, it } from "vitest";
import {
  categoryOfNotice,
  deliveryOfNotice,
  NOTICE_CATEGORIES,
  type NoticeKind,
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
  });
});
