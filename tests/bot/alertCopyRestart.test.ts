/**
 * The approver's copy of an alert follows the order it made. A bot that stops while it follows
 * (or before it started) leaves the copy at "sent for execution" for good; the started bot takes
 * up the follow of each alert approved in the last hour, as it does for plan cards.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { startFeature } from "../../bot/features/start";
import { recordAlert } from "../../db/alerts";
import { dec } from "../../domain/money";
import type { BotMessage, TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ANN = 6901;
const BOB = 6902;
const FOLLOW = { orderFollowMs: 60_000 };

describe("an approved alert's copy after a restart", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-alert-copy-restart",
      users: { [ANN]: "trader", [BOB]: "trader" },
      features: [startFeature, alertsFeature],
      // No workers: the decision waits in its queue, the copy follows it.
      planning: FOLLOW,
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function waitForText(user: TestUser, message: BotMessage, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = user.messages().find((candidate) => candidate.messageId === message.messageId);
      if (now !== undefined && match.test(now.text)) return now;
      if (Date.now() > deadline) {
        throw new Error(`message never matched ${match}: ${now?.text ?? "(none)"}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("follows the approver's copy again once the bot starts", async () => {
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: "copy-restart-aapl",
        symbol: "AAPL",
        pattern: "VCP",
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        payload: { id: "copy-restart-aapl" },
      },
      desk.deps.now(),
    );
    expect(await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert)).toEqual({
      status: "sent",
      recipients: 2,
    });
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: AAPL" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: AAPL" });

    // The process stops right after the approval: its copy is settled but never followed.
    Object.assign(desk.deps, { planning: { orderFollowMs: 0 } });
    try {
      expect((await ann.press(toAnn, "Approve")).text).toBe("Approved.");
      await desk.idle();
    } finally {
      Object.assign(desk.deps, { planning: FOLLOW });
    }
    const approved = await waitForText(ann, toAnn, /sent for execution\.$/);
    const decisionId = /decision #(\d+)/.exec(approved.text)?.[1];

    await desk.restartBot();
    const followed = await waitForText(ann, toAnn, /Sending to the broker…$/);
    expect(followed.text).toContain(
      `<b>Approved</b> by Ann: decision #${decisionId}, 26 AAPL sent for execution.\nSending to the broker…`,
    );
    // Only the approver's copy follows the order; the others say who decided.
    const other = await waitForText(bob, toBob, /Approved/);
    expect(other.text).toMatch(/sent for execution\.$/);
  });
});
