/**
 * A plan card whose Confirm stored and sent its decision but never showed it (the process stopped,
 * or the edit failed, between the two): the card said "Working…" for good. The decision keeps the
 * card and its message, so the started bot brings the card up to date from it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { BotDeps } from "../../bot/feature";
import { findDecision } from "../../db/decisions";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6501;

describe("a confirmed card the bot stopped before showing", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-card-restart",
      users: { [TRADER]: "trader" },
      // No workers: the decision waits in its queue, the card follows it.
      planning: { orderFollowMs: 60_000 },
    });
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

  async function waitForCard(user: TestUser, messageId: number, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const message = user.messages().find((candidate) => candidate.messageId === messageId);
      if (message !== undefined && match.test(message.text)) return message;
      if (Date.now() > deadline) {
        throw new Error(`card never matched ${match}: ${message?.text ?? "(none)"}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("shows it confirmed, with where the order stands, once the bot starts again", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");
    expect(card.text).toContain("Confirm within");

    // The decision is stored and sent; the edit that would show it is refused.
    const decisions = desk.deps.decisions as NonNullable<BotDeps["decisions"]>;
    const submitted: number[] = [];
    Object.assign(desk.deps, {
      decisions: {
        async submit(decisionId: number) {
          submitted.push(decisionId);
          desk.emulator.failNext("editMessageText", { status: 409, times: 1 });
          await decisions.submit(decisionId);
        },
      },
    });
    try {
      await trader.press(card, "Confirm");
      await desk.idle();
    } finally {
      Object.assign(desk.deps, { decisions });
    }
    const [decisionId] = submitted;
    expect((await findDecision(desk.database.db, decisionId ?? 0))?.status).toBe("approved");
    await waitForCard(trader, card.messageId, /<i>Working…<\/i>$/);

    await desk.restartBot();
    const shown = await waitForCard(trader, card.messageId, /Sending to the broker…$/);
    expect(shown.text).toContain(
      `<b>Confirmed.</b> Decision #${decisionId} sent for execution: 26 AAPL, risk $130.00.\nSending to the broker…`,
    );
    // The card itself is still the plan the trader confirmed.
    expect(shown.text.startsWith(card.text.split("\n")[0] ?? "")).toBe(true);
  });
});
