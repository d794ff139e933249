import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { findDecision } from "../../db/decisions";
import type { BotMessage, TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6301;

describe("/plan to a protected position, with the lifecycle workers", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-exec",
      users: { [TRADER]: "trader" },
      workers: true,
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

  async function waitForText(user: TestUser, message: BotMessage, match: RegExp) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const now = user.messages().find((candidate) => candidate.messageId === message.messageId);
      if (now !== undefined && match.test(now.text)) return now;
      if (Date.now() > deadline) throw new Error(`message never matched ${match}: ${now?.text}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("follows the confirmed order in the plan's message: sent, filled, protected", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");
    await trader.press(card, "Confirm");
    const protectedCard = await waitForText(trader, card, /Protected/);
    expect(protectedCard.text).toMatch(
      /<b>Confirmed\.<\/b> Decision #(\d+) sent for execution: 26 AAPL, risk \$130\.00\.\nFilled 26 @ \$190\.01\.\n<b>Protected:<\/b> stop \$185\.01, target \$200\.01\.$/,
    );
    const decisionId = Number(/Decision #(\d+)/.exec(protectedCard.text)?.[1]);
    const decision = await findDecision(desk.database.db, decisionId);
    expect(decision?.status).toBe("executed");
    // The card is kept on the decision: fill notices answer it even after a restart.
    expect(decision).toMatchObject({ planChatId: card.chatId, planMessageId: card.messageId });
    const state = (await desk.sim.control("/sim/state")) as {
      positions: { symbol: string; qty: string }[];
    };
    expect(state.positions).toEqual([expect.objectContaining({ symbol: "AAPL", qty: "26" })]);
  });
});
