import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createAlertNotifier } from "../../bot/features/alerts";
import type { DecisionSubmitter } from "../../bot/features/planPorts";
import { findAlert, recordAlert } from "../../db/alerts";
import { decisions } from "../../db/schema";
import { dec } from "../../domain/money";
import { type BotMessage, type TestUser, waitFor } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6401;
/** How long one update holds its chat: a press held longer lets the chat's next update go ahead. */
const UPDATE_TIMEOUT_MS = 1_500;
/** Flood control's wait for the held Confirm's answer, past the chat's timeout. */
const HELD_SECONDS = 3;

/**
 * Cancel (the card's button or /cancel) and a Confirm of the same card still in flight: whichever
 * claims the card first decides, and the trader is told what really happened.
 */
describe("a plan card cancelled while its Confirm is in flight", () => {
  let desk: PlanDesk;
  let submitter: DecisionSubmitter;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-cancel-race",
      users: { [TRADER]: "trader" },
      planning: { orderFollowMs: 0 },
      updateTimeoutMs: UPDATE_TIMEOUT_MS,
    });
    const { decisions: queue } = desk.deps;
    if (queue === undefined) throw new Error("the desk hands no decisions to the jobs");
    submitter = queue;
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
    Object.assign(desk.deps, { decisions: submitter });
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
    const card = await answer(user, "skip");
    expect(card.buttons.flat().map((button) => button.text)).toEqual(["Confirm", "Edit", "Cancel"]);
    return card;
  }

  /** The card as it reads once it matches `match` (it is edited in place). */
  function cardReading(user: TestUser, card: BotMessage, match: RegExp) {
    return waitFor(
      () =>
        user
          .messages()
          .find((message) => message.messageId === card.messageId && match.test(message.text)),
      15_000,
      () =>
        `card reads: ${user.messages().find((message) => message.messageId === card.messageId)?.text}`,
    );
  }

  /** Holds every hand-over to the jobs (a slow queue) until released; says when one is held. */
  function holdSubmits() {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: (decisionId: number) => void = () => {};
    const held = new Promise<number>((resolve) => {
      entered = resolve;
    });
    Object.assign(desk.deps, {
      decisions: {
        async submit(decisionId: number) {
          entered(decisionId);
          await released;
          await submitter.submit(decisionId);
        },
      } satisfies DecisionSubmitter,
    });
    return { held, release };
  }

  async function decisionCount() {
    return (await desk.database.db.select().from(decisions)).filter(
      (row) => row.status === "approved",
    ).length;
  }

  it("sends nothing when the card's Cancel claims it before a held Confirm", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    const approvedBefore = await decisionCount();
    const jobsBefore = (await desk.queues.execute.getJobCounts()).waiting ?? 0;
    // Flood control holds the Confirm's answer past the chat's timeout; Cancel goes ahead.
    desk.emulator.failNext("answerCallbackQuery", {
      status: 429,
      times: 1,
      retryAfter: HELD_SECONDS,
    });
    const confirm = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    const cancel = await trader.press(card, "Cancel", { timeoutMs: 20_000 });
    expect(cancel.text).toBe("Cancelled.");
    await confirm;

    // The late Confirm finds the card cancelled and says nothing went out.
    const shown = await cardReading(trader, card, /<b>Confirmed\.<\/b>|Nothing was sent/);
    expect(shown.text).toMatch(/<b>Cancelled\.<\/b> Nothing was sent/);
    // Every press has run to its end before nothing sent is checked.
    await desk.idle();
    expect(await decisionCount()).toBe(approvedBefore);
    expect((await desk.queues.execute.getJobCounts()).waiting ?? 0).toBe(jobsBefore);
  }, 60_000);

  it("sends nothing when /cancel claims the card before a held Confirm", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    const approvedBefore = await decisionCount();
    const jobsBefore = (await desk.queues.execute.getJobCounts()).waiting ?? 0;
    desk.emulator.failNext("answerCallbackQuery", {
      status: 429,
      times: 1,
      retryAfter: HELD_SECONDS,
    });
    const confirm = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    expect((await answer(trader, "/cancel")).text).toBe("Cancelled. Nothing was sent.");
    await confirm;

    const shown = await cardReading(trader, card, /<b>Confirmed\.<\/b>|Nothing was sent/);
    expect(shown.text).toMatch(/<b>Cancelled\.<\/b> Nothing was sent/);
    // Every press has run to its end before nothing sent is checked.
    await desk.idle();
    expect(await decisionCount()).toBe(approvedBefore);
    expect((await desk.queues.execute.getJobCounts()).waiting ?? 0).toBe(jobsBefore);
  }, 60_000);

  it("does not say nothing was sent when the Confirm claimed the card before its Cancel", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    const jobsBefore = (await desk.queues.execute.getJobCounts()).waiting ?? 0;
    const submits = holdSubmits();
    await trader.press(card, "Confirm", { timeoutMs: 20_000 });
    // The decision is stored; its hand-over to the jobs is slow.
    const decisionId = await submits.held;
    const cancel = await trader.press(card, "Cancel", { timeoutMs: 20_000 });
    expect(cancel.text).not.toMatch(/Cancelled|Nothing/);
    expect(cancel.text).toContain(`already confirmed (decision #${decisionId})`);
    expect(cancel.text).toContain("/orders");
    const told = await trader.waitForMessage({ timeoutMs: 10_000 });
    expect(told.text).toContain(`already confirmed as decision #${decisionId}`);
    expect(told.text).toContain("/orders");
    submits.release();

    const shown = await cardReading(trader, card, /<b>Confirmed\.<\/b>|Nothing was/);
    expect(shown.text).toContain(`<b>Confirmed.</b> Decision #${decisionId} sent for execution`);
    const stored = await desk.database.db.select().from(decisions);
    expect(stored.find((row) => row.id === decisionId)?.status).toBe("approved");
    expect((await desk.queues.execute.getJobCounts()).waiting ?? 0).toBe(jobsBefore + 1);
  }, 60_000);

  it("answers /cancel with the decision when the Confirm claimed the card first", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    const jobsBefore = (await desk.queues.execute.getJobCounts()).waiting ?? 0;
    const submits = holdSubmits();
    await trader.press(card, "Confirm", { timeoutMs: 20_000 });
    const decisionId = await submits.held;
    const told = await answer(trader, "/cancel");
    expect(told.text).not.toMatch(/Nothing was sent/);
    expect(told.text).toContain(`already confirmed as decision #${decisionId}`);
    expect(told.text).toContain("/orders");
    submits.release();

    const shown = await cardReading(trader, card, /<b>Confirmed\.<\/b>|Nothing was/);
    expect(shown.text).toContain(`<b>Confirmed.</b> Decision #${decisionId} sent for execution`);
    expect((await desk.queues.execute.getJobCounts()).waiting ?? 0).toBe(jobsBefore + 1);
  }, 60_000);

  it("leaves an alert open when its adjusted plan is cancelled before a held Confirm", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await desk.sim.control("/sim/quotes", { symbol: "MSFT", bid: "189.99", ask: "190.01" });
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: "scan-MSFT-cancel-race",
        symbol: "MSFT",
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: "scan-MSFT-cancel-race" },
        expiresAt: null,
      },
      desk.deps.now(),
    );
    await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert);
    const message = await trader.waitForMessage({ match: "Pattern alert: MSFT" });
    await trader.press(message, "Adjust");
    const card = await trader.waitForMessage({ match: "Plan: MSFT long" });
    desk.emulator.failNext("answerCallbackQuery", {
      status: 429,
      times: 1,
      retryAfter: HELD_SECONDS,
    });
    const confirm = trader.press(card, "Confirm", { timeoutMs: 20_000 });
    expect((await trader.press(card, "Cancel", { timeoutMs: 20_000 })).text).toBe("Cancelled.");
    await confirm;

    const shown = await cardReading(trader, card, /<b>Confirmed\.<\/b>|Nothing was sent/);
    expect(shown.text).toMatch(/<b>Cancelled\.<\/b> Nothing was sent/);
    await desk.idle();
    // The late Confirm took the alert and gave it back with its decision: the others may still
    // approve it.
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("sent");
    const rows = await desk.database.db.select().from(decisions);
    expect(rows.filter((row) => row.alertId === alert.id)).toEqual([]);
  }, 60_000);
});
