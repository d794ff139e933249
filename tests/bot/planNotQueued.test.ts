/**
 * A Confirm whose decision is stored but cannot be handed to the jobs (the queue does not
 * answer): nothing runs it, so the decision must not stay approved as if on its way, and the
 * card, then and after a restart, must not say it was sent for execution.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DecisionSubmitter } from "../../bot/features/planPorts";
import { claimDecisionForExecution, findDecision } from "../../db/decisions";
import { decisions } from "../../db/schema";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6701;

describe("a confirmed plan the jobs could not be handed", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-not-queued",
      users: { [TRADER]: "trader" },
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

  it("withdraws the decision and says so on the card, also after a restart", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");

    const submitter = desk.deps.decisions as DecisionSubmitter;
    Object.assign(desk.deps, {
      decisions: {
        async submit() {
          throw new Error("Connection is closed.");
        },
      } satisfies DecisionSubmitter,
    });
    try {
      await trader.press(card, "Confirm");
      await desk.idle();
    } finally {
      Object.assign(desk.deps, { decisions: submitter });
    }
    const [decision] = await desk.database.db.select().from(decisions);
    expect(decision?.status).toBe("failed");
    const cardText = () =>
      desk.emulator.messagesIn(TRADER).find((m) => m.messageId === card.messageId)?.text ?? "";
    expect(cardText()).toContain(
      `<b>Not sent.</b> The job queue did not answer: decision #${decision?.id} was withdrawn and nothing will be sent. Try again.`,
    );

    await desk.restartBot();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(cardText()).not.toMatch(/sent for execution/);
  });

  it("answers as confirmed when a job took the decision although the hand-off failed", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");
    const submitter = desk.deps.decisions as DecisionSubmitter;
    let claimed = 0;
    Object.assign(desk.deps, {
      decisions: {
        async submit(decisionId: number) {
          // The queue took the job and a worker claimed it; the answer to the add was lost.
          await claimDecisionForExecution(
            desk.database.db,
            decisionId,
            "job:execute",
            desk.deps.now(),
          );
          claimed = decisionId;
          throw new Error("Command timed out");
        },
      } satisfies DecisionSubmitter,
    });
    try {
      await trader.press(card, "Confirm");
      await desk.idle();
    } finally {
      Object.assign(desk.deps, { decisions: submitter });
    }
    expect((await findDecision(desk.database.db, claimed))?.status).toBe("executing");
    const text = desk.emulator.messagesIn(TRADER).find((m) => m.messageId === card.messageId)?.text;
    expect(text).toContain(`<b>Confirmed.</b> Decision #${claimed} sent for execution`);
  });
});
