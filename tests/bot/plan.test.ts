import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { findDecision } from "../../db/decisions";
import { executeJobId } from "../../jobs/client";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6101;
const SECOND_TRADER = 6102;
const VIEWER = 6103;

describe("/plan end to end", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan",
      users: { [TRADER]: "trader", [SECOND_TRADER]: "trader", [VIEWER]: "viewer" },
      // No workers here: the order is not followed (planExecution.test.ts follows it).
      planning: { orderFollowMs: 0 },
    });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  /** Sends an answer and returns the bot's next message. */
  async function answer(user: TestUser, text: string) {
    await user.send(text);
    return user.waitForMessage({ timeoutMs: 10_000 });
  }

  async function fillPlan(user: TestUser, symbol = "AAPL") {
    expect((await answer(user, `/plan ${symbol}`)).text).toBe("AAPL: long or short?");
    expect((await answer(user, "long")).text).toBe(
      "Entry: <b>market</b> or a limit price.\nAAPL: bid $189.99, ask $190.01",
    );
    expect((await answer(user, "market")).text).toMatch(/^Stop: a price/);
    expect((await answer(user, "185.01")).text).toMatch(/^Target:/);
    expect((await answer(user, "skip")).text).toMatch(/^Risk per trade/);
    expect((await answer(user, "skip")).text).toMatch(/^Sizing:/);
    return answer(user, "skip");
  }

  it("asks step by step, explains wrong answers, and confirms into a decision and an execute job", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan")).text).toBe("Which symbol? (for example AAPL)");
    expect((await answer(trader, "12$%")).text).toBe(
      "That is not a symbol. Send a ticker such as AAPL or BRK.B.",
    );
    expect((await trader.waitForMessage()).text).toBe("Which symbol? (for example AAPL)");
    expect((await answer(trader, "ZZZZ")).text).toBe(
      "The broker does not know ZZZZ. Send another symbol, or /cancel.",
    );
    expect((await trader.waitForMessage()).text).toBe("Which symbol? (for example AAPL)");
    expect((await answer(trader, "aapl")).text).toBe("AAPL: long or short?");
    expect((await answer(trader, "sideways")).text).toBe("Send long or short.");
    expect((await answer(trader, "long")).text).toContain("AAPL: bid $189.99, ask $190.01");
    expect((await answer(trader, "cheap")).text).toBe(
      "The limit price must be a price such as 190.10. Or send market.",
    );
    expect((await answer(trader, "190.001")).text).toMatch(/not on the broker's price grid/);
    expect((await answer(trader, "market")).text).toMatch(/^Stop:/);
    expect((await answer(trader, "195")).text).toBe(
      "For a long the stop must be below the entry (about $190.01).",
    );
    expect((await answer(trader, "150%")).text).toBe(
      "A stop distance in percent must be above 0% and below 100%.",
    );
    expect((await answer(trader, "185.01")).text).toMatch(/^Target:/);
    expect((await answer(trader, "180")).text).toBe(
      "For a long the target must be above the entry (about $190.01).",
    );
    expect((await answer(trader, "skip")).text).toMatch(/^Risk per trade/);
    expect((await answer(trader, "25")).text).toMatch(/^Send the risk as a percent/);
    expect((await answer(trader, "skip")).text).toMatch(/^Sizing:/);
    expect((await answer(trader, "9")).text).toMatch(/^Send 1 \(risk %\)/);
    const card = await answer(trader, "1");

    expect(card.text).toBe(
      [
        "<b>Plan: AAPL long</b>",
        "Entry: market ≈ $190.01",
        "Stop: $185.01   Target: $200.01 (reward:risk 2.00)",
        "Quantity: <b>26</b> shares, $4,940.26 (4.94% of equity)",
        "Risk: $130.00 (0.13% of equity)   Reward: $260.00",
        "Break-even: $190.01",
        "Sizing: risk % at 1% risk; size set by the max position size",
        "",
        "Confirm within 2 minutes; after that it expires and nothing is done.",
      ].join("\n"),
    );
    expect(card.buttons.flat().map((button) => button.text)).toEqual(["Confirm", "Edit", "Cancel"]);

    const pressed = await trader.press(card, "Confirm");
    expect(pressed.text).toBeUndefined();
    const confirmed = await waitForEdit(trader, card.messageId, /Confirmed/);
    expect(confirmed.text).toMatch(
      /<b>Confirmed\.<\/b> Decision #\d+ sent for execution: 26 AAPL, risk \$130\.00\.$/,
    );
    expect(confirmed.buttons).toEqual([]);

    const decisionId = Number(/#(\d+)/.exec(confirmed.text)?.[1]);
    const decision = await findDecision(desk.database.db, decisionId);
    expect(decision).toMatchObject({
      accountId: desk.accountId,
      source: "manual",
      symbol: "AAPL",
      side: "buy",
      entryType: "market",
      status: "approved",
      createdBy: `user:${TRADER}`,
    });
    expect(decision?.quantity.toString()).toBe("26");
    expect(decision?.stopPrice.toString()).toBe("185.01");
    expect(decision?.targetPrice?.toString()).toBe("200.01");
    expect(decision?.riskAmount.toString()).toBe("130");
    const job = await desk.queues.execute.getJob(executeJobId(decisionId));
    expect(job?.data).toMatchObject({ decisionId });

    // A second press of the answered card does nothing.
    const again = await trader.press(card, "Confirm");
    expect(again.text).toBe("This plan is no longer open. /plan starts a new one.");
    expect(await desk.queues.execute.getJobCounts()).toMatchObject({ waiting: 1 });
  });

  it("refuses a confirmation pressed after it expired", async () => {
    const trader = desk.emulator.user({ userId: SECOND_TRADER });
    const card = await fillPlan(trader);
    expect(card.text).toContain("Confirm within 2 minutes");
    desk.advanceClock(2 * 60_000 + 1_000);
    const pressed = await trader.press(card, "Confirm");
    expect(pressed).toMatchObject({ text: "Too late: this plan expired.", showAlert: true });
    const expired = await waitForEdit(trader, card.messageId, /Expired/);
    expect(expired.text).toMatch(/<b>Expired\.<\/b> Nothing was done\.$/);
    expect(expired.buttons).toEqual([]);
  });

  it("edits a field, then cancels from the card", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const card = await fillPlan(trader);
    await trader.press(card, "Edit");
    expect((await trader.waitForMessage()).text).toBe(
      "What do you want to change? symbol, side, entry, stop, target, risk, method",
    );
    expect((await answer(trader, "quantity")).text).toBe(
      "Send one of: symbol, side, entry, stop, target, risk, method.",
    );
    expect((await answer(trader, "risk")).text).toMatch(/^Risk per trade/);
    const edited = await answer(trader, "0.1");
    // $100 at risk over $5.00 a share.
    expect(edited.text).toContain("Quantity: <b>20</b> shares");
    expect(edited.text).toContain("size set by the risk budget");
    await trader.press(edited, "Cancel");
    const cancelled = await waitForEdit(trader, edited.messageId, /Cancelled/);
    expect(cancelled.text).toMatch(/<b>Cancelled\.<\/b> Nothing was done\.$/);
  });

  it("shows every violation and offers no Confirm", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "long");
    await answer(trader, "market");
    await answer(trader, "185.01");
    // 1.2R is below the minimum reward:risk of 1.5.
    await answer(trader, "196.01");
    await answer(trader, "skip");
    const card = await answer(trader, "skip");
    expect(card.text).toContain("<b>Cannot be confirmed:</b>");
    expect(card.text).toContain("• BELOW_MIN_REWARD_TO_RISK: The reward:risk is 1.20");
    expect(card.buttons.flat().map((button) => button.text)).toEqual(["Edit", "Cancel"]);
    await answer(trader, "/cancel");
  });

  it("refuses half Kelly without a trading record, and says why", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    await answer(trader, "short");
    await answer(trader, "market");
    await answer(trader, "2%");
    await answer(trader, "3R");
    await answer(trader, "skip");
    const card = await answer(trader, "2");
    // A short at the bid, the stop 2% above on the tick, the target 3R below.
    expect(card.text).toContain("<b>Plan: AAPL short</b>\nEntry: market ≈ $189.99");
    expect(card.text).toContain("Stop: $193.78   Target: $178.62 (reward:risk 3.00)");
    expect(card.text).toContain(
      "• NO_WIN_RATE: Half Kelly needs a win rate from at least 10 closed trades",
    );
    expect(card.buttons.flat().map((button) => button.text)).toEqual(["Edit", "Cancel"]);
    await answer(trader, "/cancel");
  });

  it("leaves the form with /cancel at any step, and says so when nothing is open", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await answer(trader, "/plan AAPL");
    expect((await answer(trader, "/cancel")).text).toBe("Cancelled. Nothing was sent.");
    expect((await answer(trader, "/cancel")).text).toBe(
      "Nothing to cancel: no form is open. /orders lists working orders.",
    );
    // The form is gone: "long" is no answer to anything now, /help still works.
    const before = trader.messages().length;
    await trader.send("long");
    expect((await answer(trader, "/help")).text).toMatch(/^<b>Commands<\/b>/);
    const after = trader.messages().slice(before);
    expect(after.map((message) => message.text.slice(0, 10))).toEqual(["<b>Command"]);
  });

  it("lets other commands through an open form, and a new /plan replaces it", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await desk.sim.control("/sim/quotes", { symbol: "MSFT", bid: "409.99", ask: "410.01" });
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    expect((await answer(trader, "/help")).text).toMatch(/^<b>Commands<\/b>/);
    // Still at the side question.
    expect((await answer(trader, "long")).text).toMatch(/^Entry:/);
    expect((await answer(trader, "/plan MSFT")).text).toBe("MSFT: long or short?");
    expect((await answer(trader, "long")).text).toContain("MSFT: bid $409.99, ask $410.01");
    expect((await answer(trader, "/cancel")).text).toBe("Cancelled. Nothing was sent.");
  });

  it("says when the broker does not answer, and asks again", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await desk.sim.control("/sim/faults", {
      method: "GET",
      path: "/v2/assets/AAPL",
      status: 500,
      times: 20,
    });
    expect((await answer(trader, "/plan AAPL")).text).toBe(
      "The broker could not be reached to check the symbol. Send it again, or /cancel.",
    );
    expect((await trader.waitForMessage()).text).toBe("Which symbol? (for example AAPL)");
    await desk.sim.control("/sim/faults", { clear: true });
    expect((await answer(trader, "AAPL")).text).toBe("AAPL: long or short?");
    expect((await answer(trader, "/cancel")).text).toBe("Cancelled. Nothing was sent.");
  });

  it("keeps an open form in Redis across a restart of the bot", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "long");
    const keys = await desk.redis.redis.keys(`${desk.redis.prefix}conversation:*`);
    expect(keys).toEqual([`${desk.redis.prefix}conversation:${TRADER}`]);
    await desk.restartBot();
    // The new process picks the form up where it was: the entry question.
    expect((await answer(trader, "market")).text).toMatch(/^Stop:/);
    await answer(trader, "/cancel");
  });

  it("is refused to a viewer", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    expect((await answer(viewer, "/plan AAPL")).text).toBe("/plan is not for your role (viewer).");
  });

  /** Waits until the message with this id reads as `match` (it is edited in place). */
  async function waitForEdit(user: TestUser, messageId: number, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const message = user.messages().find((candidate) => candidate.messageId === messageId);
      if (message !== undefined && match.test(message.text)) return message;
      if (Date.now() > deadline) throw new Error(`message ${messageId} never matched ${match}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});
