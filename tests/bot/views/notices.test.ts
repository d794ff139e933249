import { describe, expect, it } from "vitest";
import { noticeOfRow, renderFills, renderNotice } from "../../../bot/views/notices";
import type { Notice, OrderFilledNotice } from "../../../domain/notifications";
import { parseTelegramHtml } from "../../support/telegram";

const fill = (index: number, complete = false): OrderFilledNotice => ({
  kind: "ORDER_FILLED",
  tradeId: 7,
  symbol: "AAPL",
  side: "buy",
  role: "ENTRY",
  executionId: `e${index}`,
  fillQuantity: "10",
  fillPrice: "190.10",
  filledQuantity: String((index + 1) * 10),
  orderQuantity: "30",
  complete,
  clientOrderId: "dec-7-entry",
});

const EVERY_KIND: readonly Notice[] = [
  {
    kind: "ENTRY_SUBMITTED",
    decisionId: 7,
    tradeId: 7,
    symbol: "AAPL",
    side: "buy",
    quantity: "30",
    orderType: "market",
    limitPrice: null,
    stopPrice: "184.50",
    targetPrice: null,
    clientOrderId: "dec-7-entry",
  },
  fill(0),
  {
    kind: "PROTECTION_PLACED",
    tradeId: 7,
    symbol: "AAPL",
    quantity: "30",
    stopPrice: "184.50",
    targetPrice: "205.00",
  },
  {
    kind: "TRADE_CLOSED",
    tradeId: 7,
    symbol: "AAPL",
    exitReason: "PROFIT_TAKEN",
    quantity: "30",
    averageEntryPrice: "190.10",
    averageExitPrice: "205.00",
    realizedPnl: "447.00",
    rMultiple: "2.66",
  },
  {
    kind: "ORDER_REJECTED",
    decisionId: 8,
    tradeId: null,
    symbol: "TSLA",
    code: "INSUFFICIENT_BUYING_POWER",
    reason: "needs $12,000 <more> than buying power & margin",
  },
  {
    kind: "ORDER_CANCELED",
    tradeId: 9,
    symbol: "MSFT",
    role: "ENTRY",
    clientOrderId: "dec-9-entry",
    filledQuantity: "0",
    reason: "Cancelled from /orders",
  },
  {
    kind: "TRADING_STATE_CHANGED",
    accountId: 1,
    from: "HALTED",
    to: "ACTIVE",
    setBy: "MANUAL",
    reason: "/resume by @bo",
    pnlToday: null,
    lossLimit: null,
  },
  {
    kind: "DAILY_LOSS_WARNING",
    accountId: 1,
    pnlToday: "-2500.00",
    lossLimit: "3000.00",
    remaining: "500.00",
  },
  {
    kind: "RECONCILIATION_INCIDENT",
    accountId: 1,
    symbol: "NVDA",
    incident: "MANUAL_CLOSE_FOUND",
    detail: "Closed outside the desk at 870.10; journal closed as MANUAL_EXIT",
  },
  {
    kind: "POSITION_CLOSE_RESULT",
    accountId: 1,
    symbol: "NVDA",
    action: "flatten",
    outcome: "failed",
    quantity: null,
    price: null,
    code: "FORBIDDEN",
    reason: "insufficient qty <held> & available",
    nextStep: "Its stop stays in place and the desk retries the close.",
    requestedBy: "user:42",
  },
  {
    kind: "DAILY_SUMMARY",
    accountId: 1,
    tradingDate: "2026-03-02",
    equity: "101250.00",
    pnlToday: "1250.00",
    realizedPnl: "1030.00",
    unrealizedPnl: "220.00",
    tradesClosed: 4,
    wins: 3,
    losses: 1,
    openPositions: 2,
  },
];

describe("notice views", () => {
  it("renders every kind as HTML Telegram accepts, escaping what came from outside", () => {
    for (const notice of EVERY_KIND) {
      const html = renderNotice(notice);
      expect(() => parseTelegramHtml(html)).not.toThrow();
    }
    const rejected = renderNotice(EVERY_KIND[4] as Notice);
    expect(rejected).toBe(
      "<b>Rejected</b> <b>TSLA</b>: needs $12,000 &lt;more&gt; than buying power &amp; margin (<code>INSUFFICIENT_BUYING_POWER</code>)",
    );
    expect(renderNotice(EVERY_KIND[3] as Notice)).toBe(
      "<b>Target hit</b> <b>AAPL</b> 30\n190.10 → 205.00 · +$447.00 (+2.66R)",
    );
    expect(renderNotice(EVERY_KIND[8] as Notice)).toBe(
      "<b>Manual close found</b> <b>NVDA</b>: Closed outside the desk at 870.10; journal closed as MANUAL_EXIT",
    );
  });

  it("renders a kill switch's close result as its own notice, never as a reconciliation incident", () => {
    const failed = EVERY_KIND.find((n) => n.kind === "POSITION_CLOSE_RESULT") as Notice;
    expect(renderNotice(failed)).toBe(
      [
        "<b>Flatten failed</b> <b>NVDA</b>: insufficient qty &lt;held&gt; &amp; available (<code>FORBIDDEN</code>) · asked by user 42",
        "Its stop stays in place and the desk retries the close.",
      ].join("\n"),
    );
    const closing = {
      kind: "POSITION_CLOSE_RESULT",
      accountId: 1,
      symbol: "AAPL",
      action: "flatten",
      outcome: "closed",
      quantity: "100",
      price: null,
      code: null,
      reason: null,
      nextStep: null,
      requestedBy: "system:daily-loss",
    } as const;
    expect(renderNotice(closing)).toBe(
      "<b>Flatten</b> <b>AAPL</b>: closing 100 at market · automatic, after the daily-loss halt",
    );
    expect(renderNotice({ ...closing, price: "190.1", requestedBy: "system:drawdown" })).toBe(
      "<b>Flatten</b> <b>AAPL</b>: closed 100 @ 190.10 · automatic, after the drawdown halt",
    );
    expect(
      renderNotice({ ...closing, action: "close", quantity: null, requestedBy: "api:<desk>" }),
    ).toBe("<b>Close</b> <b>AAPL</b>: closing at market · asked by api:&lt;desk&gt;");
    for (const html of [renderNotice(failed), renderNotice(closing)]) {
      expect(html).not.toContain("Reconciliation");
      expect(() => parseTelegramHtml(html)).not.toThrow();
    }
  });

  it("shows a trade's average prices to the sub-penny, not every digit of the division", () => {
    const closed = EVERY_KIND[3] as Extract<Notice, { kind: "TRADE_CLOSED" }>;
    // Three fills: 1 @ 190.00 and 2 @ 190.01 average 570.02 / 3.
    expect(
      renderNotice({
        ...closed,
        averageEntryPrice: "190.0066666666666666666666666666666666667",
        averageExitPrice: "205",
      }),
    ).toBe("<b>Target hit</b> <b>AAPL</b> 30\n190.0067 → 205.00 · +$447.00 (+2.66R)");
  });

  it("merges fills of one order into one block with a line per execution", () => {
    expect(renderFills([fill(0), fill(1), fill(2, true)])).toBe(
      [
        "<b>3 fills</b> <b>AAPL</b> buy · entry · complete",
        "10 @ 190.10 · 10/30",
        "10 @ 190.10 · 20/30",
        "10 @ 190.10 · 30/30 · complete",
      ].join("\n"),
    );
    expect(renderNotice(fill(2, true))).toBe(
      "<b>Entry filled</b> <b>AAPL</b> buy · entry\n10 @ 190.10 · 30/30 · complete",
    );
  });

  it("reads outbox rows whose kind and payload agree, and nothing else", () => {
    const notice = EVERY_KIND[2] as Notice;
    expect(noticeOfRow(notice.kind, notice as unknown as Record<string, unknown>)).toEqual(notice);
    expect(noticeOfRow("ORDER_FILLED", notice as unknown as Record<string, unknown>)).toBeNull();
    expect(noticeOfRow("NEW_KIND", { kind: "NEW_KIND" })).toBeNull();
  });
});
