/**
 * /pnl on days without a session: a weekend or a market holiday shows the last trading day's
 * result (its realized P&L and its equity change together), not an empty day beside the broker's
 * figures; a trading day shows its own.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { recordAccountSync } from "../../db/brokerAccounts";
import { recordEquitySnapshot } from "../../db/equitySnapshots";
import { applyFill, applyOrderUpdate } from "../../db/orderEvents";
import { dec } from "../../domain/money";
import { enterLong } from "../db/fixtures";
import { type DeskBot, startDeskBot } from "./deskBot";
import { seedClosedTrades } from "./deskSeeds";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 7102;
// Saturday; Friday 2026-02-13 was the last session, Monday 2026-02-16 is Presidents' Day.
const SATURDAY = new Date("2026-02-14T15:00:00Z");
const FRIDAY_CLOSE = new Date("2026-02-13T20:59:00Z");
const HOUR_MS = 3_600_000;

describe("/pnl's trading day", () => {
  let desk: DeskBot;

  beforeAll(async () => {
    desk = await startDeskBot({
      name: "pnl-day",
      users: { [TRADER]: "trader" },
      startAt: SATURDAY,
    });
    const db = desk.database.db;
    const friday = { equity: dec("101000"), lastEquity: dec("100000") };
    await recordAccountSync(
      db,
      desk.accountId,
      { ...friday, cash: dec("101000"), buyingPower: dec("202000") },
      FRIDAY_CLOSE,
    );
    await recordEquitySnapshot(db, {
      accountId: desk.accountId,
      tradingDay: "2026-02-13",
      equity: friday.equity,
      previousCloseEquity: friday.lastEquity,
      cash: dec("101000"),
      realizedPnl: dec("75"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: FRIDAY_CLOSE,
    });
    await seedClosedTrades(db, desk.accountId, [
      {
        symbol: "TSLA",
        realizedPnl: "75.00",
        rMultiple: "1.5",
        closedAt: new Date("2026-02-13T18:00:00Z"),
        exitReason: "PROFIT_TAKEN",
      },
      {
        symbol: "META",
        realizedPnl: "-25.00",
        rMultiple: "-0.5",
        closedAt: new Date("2026-02-12T18:00:00Z"),
        exitReason: "STOPPED_OUT",
      },
    ]);
  }, 60_000);

  afterAll(async () => {
    await desk?.stop();
  });

  it("on a Saturday is Friday: Friday's realized P&L beside Friday's equity change", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-13</b>");
    expect(reply.text).toContain("Realized: +$75.00 from 1 closed trade");
    expect(reply.text).toContain("day change +$1,000.00 (+1.00%)");
  });

  it("on a market holiday is the last trading day, though the broker has rolled its previous close", async () => {
    // Monday's valuation synced the account and, with no session, wrote no snapshot.
    desk.advanceClock(48 * HOUR_MS + 30 * 60_000);
    await recordAccountSync(
      desk.database.db,
      desk.accountId,
      {
        equity: dec("101000"),
        lastEquity: dec("101000"),
        cash: dec("101000"),
        buyingPower: dec("202000"),
      },
      new Date("2026-02-16T15:00:00Z"),
    );
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-13</b>");
    expect(reply.text).toContain("Realized: +$75.00 from 1 closed trade");
    expect(reply.text).toContain("day change +$1,000.00 (+1.00%)");
  });

  it("on a trading day is that day", async () => {
    desk.advanceClock(24 * HOUR_MS);
    const at = desk.now();
    const db = desk.database.db;
    const balances = { equity: dec("100990"), lastEquity: dec("101000") };
    await recordAccountSync(
      db,
      desk.accountId,
      { ...balances, cash: dec("100990"), buyingPower: dec("201980") },
      at,
    );
    await recordEquitySnapshot(db, {
      accountId: desk.accountId,
      tradingDay: "2026-02-17",
      equity: balances.equity,
      previousCloseEquity: balances.lastEquity,
      cash: dec("100990"),
      realizedPnl: dec("-10"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: at,
    });
    await seedClosedTrades(db, desk.accountId, [
      {
        symbol: "AMD",
        realizedPnl: "-10.00",
        rMultiple: "-0.2",
        closedAt: new Date(at.getTime() - 10 * 60_000),
        exitReason: "MANUAL_EXIT",
      },
    ]);
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-17</b>");
    expect(reply.text).toContain("Realized: -$10.00 from 1 closed trade");
    expect(reply.text).toContain("day change -$10.00 (-0.01%)");
  });

  it("counts what a partial exit of a trade still open realized today", async () => {
    const db = desk.database.db;
    const now = desk.now().getTime();
    const { entry, legs } = await enterLong(db, desk.accountId, { bracket: true });
    const target = legs[1];
    if (!target) throw new Error("bracket legs missing");
    const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000);
    await applyOrderUpdate(
      db,
      { orderId: entry.id },
      { event: "new", brokerOrderId: "pnl-entry", at: minutesAgo(40).toISOString() },
      { source: "stream", recordedAt: minutesAgo(40) },
    );
    const filled = await applyFill(
      db,
      { brokerOrderId: "pnl-entry" },
      { executionId: "pnl-1", quantity: dec("100"), price: dec("190"), at: minutesAgo(30) },
      "stream",
      minutesAgo(30),
    );
    if (!filled.ok) throw new Error(filled.message);
    await applyOrderUpdate(
      db,
      { orderId: target.id },
      { event: "new", brokerOrderId: "pnl-target", at: minutesAgo(30).toISOString() },
      { source: "stream", recordedAt: minutesAgo(30) },
    );
    // 40 of 100 at the target: (195 - 190) x 40 - 1.00 commission.
    const partial = await applyFill(
      db,
      { brokerOrderId: "pnl-target" },
      {
        executionId: "pnl-2",
        quantity: dec("40"),
        price: dec("195"),
        at: minutesAgo(20),
        commission: dec("1.00"),
      },
      "stream",
      minutesAgo(20),
    );
    if (!partial.ok) throw new Error(partial.message);
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-17</b>");
    expect(reply.text).toContain(
      "Realized: +$189.00 from 1 closed trade and partial exits of open trades (+$199.00)",
    );
  });

  it("before the day's first valuation shows no day change: the broker figures are the day before's", async () => {
    // Wednesday 08:00 New York: the last sync was Tuesday's.
    desk.advanceClock(24 * HOUR_MS - 150 * 60_000);
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-18</b>");
    expect(reply.text).not.toContain("day change");
    expect(reply.text).toContain(
      "Equity $100,990.00 as of 2026-02-17 10:30; today's change comes with its first valuation",
    );
  });

  it("counts on the close's day only what the close realized, not the day before's partial exit", async () => {
    // Wednesday 10:00 New York: the other 60 of Tuesday's trade go at the target, +$300.00; the
    // trade's total is +$499.00, of which Tuesday's +$199.00 was Tuesday's.
    desk.advanceClock(120 * 60_000);
    const at = desk.now();
    const closed = await applyFill(
      desk.database.db,
      { brokerOrderId: "pnl-target" },
      { executionId: "pnl-3", quantity: dec("60"), price: dec("195"), at },
      "stream",
      at,
    );
    if (!closed.ok) throw new Error(closed.message);
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-18</b>");
    expect(reply.text).toContain("Realized: +$300.00 from 1 closed trade\n");
  });

  it("does not show a withdrawal as the day's change, and says it is taken out", async () => {
    // Wednesday 10:30: $5,000.00 taken out of a flat account; the valuation found it.
    desk.advanceClock(30 * 60_000);
    const at = desk.now();
    const db = desk.database.db;
    const balances = { equity: dec("96290"), lastEquity: dec("101290") };
    await recordAccountSync(
      db,
      desk.accountId,
      { ...balances, cash: dec("96290"), buyingPower: dec("192580") },
      at,
    );
    await recordEquitySnapshot(db, {
      accountId: desk.accountId,
      tradingDay: "2026-02-18",
      equity: balances.equity,
      previousCloseEquity: balances.lastEquity,
      cash: dec("96290"),
      netDeposits: dec("-5000"),
      realizedPnl: dec("300"),
      unrealizedPnl: dec("0"),
      openPositions: 0,
      takenAt: at,
    });
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-02-18</b>");
    expect(reply.text).toContain(
      "Equity $96,290.00 · day change $0.00 (0.00%) excluding $5,000.00 withdrawn, as of",
    );
  });
});
