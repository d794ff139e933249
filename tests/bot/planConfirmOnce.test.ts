import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createAlertNotifier } from "../../bot/features/alerts";
import { findAlert, recordAlert } from "../../db/alerts";
import { decisions } from "../../db/schema";
import { dec } from "../../domain/money";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6301;
/** How long one update holds its chat: a press held longer lets the chat's next update go ahead. */
const UPDATE_TIMEOUT_MS = 1_500;
/** Flood control's wait for the held press's answer, past the chat's timeout. */
const HELD_SECONDS = 3;

/** A plan card's Confirm makes one decision, whatever the timing of the presses. */
describe("a plan card confirmed twice", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-once",
      users: { [TRADER]: "trader" },
      planning: { orderFollowMs: 0 },
      // Short, so a press held up by flood control outlives it.
      updateTimeoutMs: UPDATE_TIMEOUT_MS,
    });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function answer(user: TestUser, text: string) {
    await user.send(text);
    return user.waitForMessage({ timeoutMs: 10_000 });
  }

  async function fillPlan(user: TestUser) {
    await answer(user, "/plan AAPL");
    await answer(user, "long");
    await answer(user, "market");
    await answer(user, "185.01");
    await answer(user, "skip");
    await answer(user, "skip");
    return answer(user, "skip");
  }

  it("makes one decision when the first press is held past the chat's timeout", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    expect(card.buttons.flat().map((button) => button.text)).toContain("Confirm");
    // Flood control holds the first press's answer (auto-retry waits it out) past the timeout,
    // and the double tap's second press goes ahead meanwhile.
    desk.emulator.failNext("answerCallbackQuery", {
      status: 429,
      times: 1,
      retryAfter: HELD_SECONDS,
    });
    const first = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    const second = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    await Promise.all([first, second]);
    // Both presses have run to their end.
    await desk.idle();

    const rows = await desk.database.db.select().from(decisions);
    expect(rows.map((row) => `${row.symbol} ${row.side} ${row.quantity.toString()}`)).toEqual([
      "AAPL buy 26",
    ]);
    expect(await desk.queues.execute.getJobCounts()).toMatchObject({ waiting: 1 });
    const shown = trader.messages().find((message) => message.messageId === card.messageId);
    expect(shown?.text).toMatch(
      new RegExp(`<b>Confirmed\\.</b> Decision #${rows[0]?.id} sent for execution: 26 AAPL`),
    );
  }, 60_000);

  it("makes one decision and shows it when an alert's adjusted plan is confirmed twice", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await desk.sim.control("/sim/quotes", { symbol: "MSFT", bid: "189.99", ask: "190.01" });
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: "scan-MSFT-once",
        symbol: "MSFT",
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: "scan-MSFT-once" },
        expiresAt: null,
      },
      desk.deps.now(),
    );
    await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert);
    const message = await trader.waitForMessage({ match: "Pattern alert: MSFT" });
    await trader.press(message, "Adjust");
    const card = await trader.waitForMessage({ match: "Plan: MSFT long" });
    const before = (await desk.database.db.select().from(decisions)).length;
    desk.emulator.failNext("answerCallbackQuery", {
      status: 429,
      times: 1,
      retryAfter: HELD_SECONDS,
    });
    const first = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    const second = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    await Promise.all([first, second]);
    await desk.idle();

    const rows = (await desk.database.db.select().from(decisions)).slice(before);
    expect(rows.map((row) => `${row.symbol} ${row.alertId}`)).toEqual([`MSFT ${alert.id}`]);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("approved");
    // The card says what happened, whichever press ended last.
    const shown = trader.messages().find((candidate) => candidate.messageId === card.messageId);
    expect(shown?.text).toMatch(new RegExp(`<b>Confirmed\\.</b> Decision #${rows[0]?.id} `));
  }, 60_000);
});
