/**
 * A second Confirm of a card, pressed after the card expired while the first press (made in time)
 * is still held: the first press stored the decision and is sending it, so the second must not
 * tell the trader the plan expired and nothing was done.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DecisionSubmitter } from "../../bot/features/planPorts";
import { findDecision } from "../../db/decisions";
import { type BotMessage, type TestUser, waitFor } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6601;
const UPDATE_TIMEOUT_MS = 1_500;

describe("a Confirm pressed again after the card expired", () => {
  let desk: PlanDesk;
  let submitter: DecisionSubmitter;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-expired-press",
      users: { [TRADER]: "trader" },
      planning: { orderFollowMs: 0 },
      updateTimeoutMs: UPDATE_TIMEOUT_MS,
    });
    const { decisions: queue } = desk.deps;
    if (queue === undefined) throw new Error("the desk hands no decisions to the jobs");
    submitter = queue;
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

  it("says the plan was confirmed, not that it expired", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");

    // The first Confirm stores its decision and is held handing it to the jobs.
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
    try {
      const first = await trader.press(card, "Confirm");
      expect(first.text).toBeUndefined();
      const decisionId = await held;
      // Past the card's two minutes and the chat's timeout: the second press is handled.
      desk.advanceClock(3 * 60_000);
      await new Promise((resolve) => setTimeout(resolve, UPDATE_TIMEOUT_MS + 200));
      const second = await trader.press(card, "Confirm", { timeoutMs: 10_000 });
      expect(second.text).toBe(
        `Already confirmed: decision #${decisionId} was sent for execution before the plan expired.`,
      );
      expect(
        desk.emulator.messagesIn(TRADER).find((m) => m.messageId === card.messageId)?.text,
      ).not.toMatch(/Expired/);
      release();
      await cardReading(trader, card, /<b>Confirmed\.<\/b> Decision #\d+/);
      await desk.idle();
      expect((await findDecision(desk.database.db, decisionId))?.status).toBe("approved");
      expect(
        desk.emulator.messagesIn(TRADER).find((m) => m.messageId === card.messageId)?.text,
      ).toMatch(/<b>Confirmed\.<\/b> Decision #\d+/);
    } finally {
      release();
      Object.assign(desk.deps, { decisions: submitter });
    }
  }, 60_000);
});
