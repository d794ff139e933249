/**
 * A plan opened from an alert's Adjust is confirmed only within the session the alert was issued
 * for: a plan left open over the close and confirmed the next day does not take the alert and
 * trade it on the day before's prices. End to end through the bot, against the simulator's
 * calendar.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { cancelFeature } from "../../bot/features/cancel";
import { createPlanFeature } from "../../bot/features/plan";
import { startFeature } from "../../bot/features/start";
import { type Alert, findAlert, recordAlert } from "../../db/alerts";
import { listDueDecisions } from "../../db/decisions";
import { dec } from "../../domain/money";
import { MARKET_OPEN_TIME } from "../support/simulator";
import type { BotMessage, TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ANN = 6501;
const BOB = 6502;
const HOUR_MS = 60 * 60_000;

describe("an adjusted alert's plan across the close", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;
  /** Where the test moved both clocks from MARKET_OPEN_TIME (Mon 2 Mar 09:35 New York). */
  let moved = 0;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "alert-session-confirm",
      users: { [ANN]: "trader", [BOB]: "admin" },
      features: [startFeature, cancelFeature, createPlanFeature(), alertsFeature],
      // A plan card that stays confirmable over the close, so only the alert's session can end it.
      planning: { orderFollowMs: 0, confirmationMs: 3 * 24 * HOUR_MS },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
  });

  beforeEach(async () => {
    // Each test starts from Monday's open, bot and simulator alike.
    desk.advanceClock(-moved);
    moved = 0;
    await desk.sim.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  /** Moves the bot's and the simulator's clocks together. */
  async function advance(milliseconds: number) {
    desk.advanceClock(milliseconds);
    moved += milliseconds;
    await desk.sim.control("/sim/clock", { advanceSeconds: milliseconds / 1000 });
  }

  async function quote(symbol: string) {
    await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
  }

  /** Stores an alert as POST /api/alerts would, expiring days away, and hands it to the fan-out. */
  async function deliver(symbol: string): Promise<Alert> {
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: `session-confirm-${symbol}`,
        symbol,
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: `session-confirm-${symbol}` },
        expiresAt: new Date("2026-03-06T21:00:00Z"),
      },
      desk.deps.now(),
    );
    await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert);
    return alert;
  }

  async function waitForText(user: TestUser, message: BotMessage, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = user.messages().find((candidate) => candidate.messageId === message.messageId);
      if (now !== undefined && match.test(now.text)) return now;
      if (Date.now() > deadline) throw new Error(`message never matched ${match}: ${now?.text}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function decisionsOf(alert: Alert) {
    return (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
  }

  it("refuses the Confirm of a plan opened before the close and pressed in the next session", async () => {
    await quote("AAPL");
    const alert = await deliver("AAPL");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: AAPL" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: AAPL" });
    expect((await ann.press(toAnn, "Adjust")).text).toBe("Opening the plan…");
    const card = await ann.waitForMessage({ match: "Plan: AAPL" });

    // Tuesday 09:35: the plan is still open, the market trades Tuesday's prices.
    await advance(24 * HOUR_MS);
    await quote("AAPL");
    await ann.press(card, "Confirm");
    const refused = await waitForText(ann, card, /Not sent/);
    expect(refused.text).toContain(
      "<b>Not sent.</b> Too late: this alert was for the session of Mon, Mar 2, which has closed; it is not approved on a later session's prices. /plan AAPL plans the trade anew.",
    );
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    expect(await decisionsOf(alert)).toEqual([]);
    const settled = await waitForText(bob, toBob, /Expired/);
    expect(settled.buttons).toEqual([]);
  });

  it("refuses the Confirm of a plan opened before the close and pressed just after it", async () => {
    // Monday 15:05 New York: the alert comes in an hour before the close.
    await advance(5.5 * HOUR_MS);
    await quote("NVDA");
    const alert = await deliver("NVDA");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: NVDA" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: NVDA" });

    // 16:05, an hour on: the session the alert was for has closed.
    await advance(HOUR_MS);
    await ann.press(card, "Confirm");
    const refused = await waitForText(ann, card, /Not sent/);
    expect(refused.text).toContain(
      "Too late: this alert was for the session of Mon, Mar 2, which has closed",
    );
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    expect(await decisionsOf(alert)).toEqual([]);
  });

  it("confirms next morning the plan of an alert issued the evening before, for that session", async () => {
    // Monday 18:00 New York, after the close: the alert is for Tuesday's session.
    await advance(8.5 * HOUR_MS);
    await quote("MSFT");
    const alert = await deliver("MSFT");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: MSFT" });

    // Tuesday 10:00, sixteen hours on: the alert's session is under way.
    await advance(16 * HOUR_MS);
    await quote("MSFT");
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: MSFT" });
    await ann.press(card, "Confirm");
    await waitForText(ann, card, /Confirmed/);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("approved");
    expect(await decisionsOf(alert)).toHaveLength(1);
  });
});
