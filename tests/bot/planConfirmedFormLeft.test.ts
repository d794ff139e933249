/**
 * A plan form the process saved before its Confirm and never saved again (it stopped after the
 * decision was stored and the card lost its buttons): the form still waits for a press of a card
 * that has no buttons any more. A message then is answered with what became of the plan, and the
 * form ends, instead of "Use the buttons under the plan".
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decisions } from "../../db/schema";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6901;

describe("a form left open by a stop after its Confirm", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-confirmed-form-left",
      users: { [TRADER]: "trader" },
      planning: { orderFollowMs: 0 },
    });
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  const formKey = () => `${desk.redis.prefix}conversation:${TRADER}`;

  async function answer(user: TestUser, text: string) {
    await user.send(text);
    return user.waitForMessage({ timeoutMs: 10_000 });
  }

  async function savedForm(expect: "saved" | "gone"): Promise<string | null> {
    await desk.idle();
    for (let tries = 0; tries < 100; tries += 1) {
      const saved = await desk.redis.redis.get(formKey());
      if (saved !== null && expect === "saved") return saved;
      if (saved === null && expect === "gone") return null;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the form was never ${expect}`);
  }

  it("says the plan was confirmed as its decision and closes the form", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    await answer(trader, "skip");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");
    expect(card.text).toContain("Confirm within");
    const beforeConfirm = await savedForm("saved");

    await trader.press(card, "Confirm");
    await savedForm("gone");
    const [decision] = await desk.database.db.select().from(decisions);
    expect(decision?.status).toBe("approved");
    // The process stopped before the form's end was saved: the form from before the Confirm.
    await desk.redis.redis.set(formKey(), beforeConfirm ?? "", "EX", 3_600);
    await desk.restartBot();

    const told = await answer(trader, "hello?");
    expect(told.text).not.toContain("Use the buttons");
    expect(told.text).toBe(
      `This plan was already confirmed: decision #${decision?.id} was sent for execution. /orders shows its entry; /plan starts a new plan.`,
    );
    expect(await savedForm("gone")).toBeNull();
  });
});
