import { describe, expect, it } from "vitest";
import { renderPnl, renderPositions, tradeLine } from "../../../bot/views/portfolio";
import type { PositionRecord } from "../../../db/positions";
import type { TradeRecord } from "../../../db/trades";
import { dec, ZERO } from "../../../domain/money";

const OPENED = new Date("2026-03-02T14:35:00Z");

describe("average prices in the desk's views", () => {
  it("a position bought at two prices shows its average to four decimals, not forty", () => {
    // 100 at 190.10 and 50 at 190.15: 28,517.50 / 150 = 190.11666...
    const record: PositionRecord = {
      id: 1,
      accountId: 1,
      tradeId: 1,
      position: {
        symbol: "AAPL",
        quantity: dec("150"),
        costBasis: dec("28517.5"),
        realizedPnl: dec("0"),
        commissions: dec("0"),
      },
      averageCost: dec("28517.5").div(150),
      markPrice: null,
      marketValue: null,
      unrealizedPnl: null,
      protectiveOrderIds: [],
      openedAt: OPENED,
      markedAt: null,
      updatedAt: OPENED,
    };
    const text = renderPositions([record], [], "America/New_York");
    expect(text).toContain("<b>AAPL</b> long 150 @ 190.1167\n");
  });

  it("a closed trade's average entry and exit read to four decimals", () => {
    const line = tradeLine(
      {
        id: 7,
        trade: {
          symbol: "AAPL",
          side: "long",
          status: "CLOSED",
          entryQuantity: dec("3"),
          averageEntryPrice: dec("570.05").div(3),
          averageExitPrice: dec("600").div(3),
          exitReason: "PROFIT_TAKEN",
          realizedPnl: dec("29.95"),
          rMultiple: null,
          closedAt: "2026-03-02T15:00:00.000Z",
        },
      } as unknown as TradeRecord,
      "America/New_York",
    );
    expect(line).toContain("3 190.0167 → 200.00 · +$29.95");
  });
});

describe("/pnl's day change", () => {
  const day = {
    tradingDate: "2026-03-02",
    syncedAt: new Date("2026-03-02T16:00:00Z"),
    realizedToday: ZERO,
    realizedOpenToday: ZERO,
    closedToday: 0,
    positions: [],
  };

  it("takes a deposit out of the change and says so", () => {
    // 1,000,000 paid in on a day that lost 4,000.
    const text = renderPnl(
      { ...day, equity: dec("1096000"), lastEquity: dec("100000"), netDeposits: dec("1000000") },
      "America/New_York",
    );
    expect(text).toContain(
      "Equity $1,096,000.00 · day change -$4,000.00 (-4.00%) excluding $1,000,000.00 deposited, as of 2026-03-02 11:00",
    );
  });

  it("says nothing of transfers on a day without any", () => {
    const text = renderPnl(
      { ...day, equity: dec("99000"), lastEquity: dec("100000"), netDeposits: ZERO },
      "America/New_York",
    );
    expect(text).toContain("Equity $99,000.00 · day change -$1,000.00 (-1.00%), as of");
    expect(text).not.toContain("excluding");
  });
});
