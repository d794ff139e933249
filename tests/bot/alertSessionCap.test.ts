/**
 * An alert's session caps it everywhere a trader sees it, not only at the press: the card shows
 * the session's close when the scanner's expiry is later, the periodic pass expires it at that
 * close, a press after the close is refused for it, and every copy says the session closed,
 * whichever path found it. End to end through the bot, against the simulator's calendar.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier, settleExpiredAlerts } from "../../bot/features/alerts";
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

const ANN = 6601;
const BOB = 6602;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const SESSION_ENDED = "<b>Expired</b> with the session of Mon, Mar 2. Nothing was done.";

describe("an alert capped by its session", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;
  /** Where the test moved both clocks from MARKET_OPEN_TIME (Mon 2 Mar 09:35 New York). */
  let moved = 0;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "alert-session-cap",
      users: { [ANN]: "trader", [BOB]: "admin" },
      features: [startFeature, cancelFeature, createPlanFeature(), alertsFeature],
      // A plan card that stays confirmable over the close, so only the alert's session can end it.
      planning: { orderFollowMs: 0, confirmationMs: 3 * 24 * HOUR_MS },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
  });

  beforeEach(async () => {
    desk.advanceClock(-moved);
    moved = 0;
    await desk.sim.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function advance(milliseconds: number) {
    desk.advanceClock(milliseconds);
    moved += milliseconds;
    await desk.sim.control("/sim/clock", { advanceSeconds: milliseconds / 1000 });
  }

  async function quote(symbol: string) {
    await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
  }

  /** Stores an alert as POST /api/alerts would, the scanner's expiry given (or none), and fans it out. */
  async function deliver(symbol: string, expiresAt: Date | null): Promise<Alert> {
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: `session-cap-${symbol}`,
        symbol,
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: `session-cap-${symbol}` },
        expiresAt,
      },
      desk.deps.now(),
    );
    expect((await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert)).status).toBe(
      "sent",
    );
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

  it("shows the session's close as the expiry and expires the alert at it in the periodic pass", async () => {
    // Monday 15:05 New York; the scanner lets it run to Tuesday 10:30.
    await advance(5.5 * HOUR_MS);
    await quote("AAPL");
    const alert = await deliver("AAPL", new Date("2026-03-03T15:30:00Z"));
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: AAPL" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: AAPL" });
    expect(toAnn.text).toMatch(/\n\nExpires 16:00 EST, with the session's close\.$/);

    // 15:59: still live.
    await advance(54 * MINUTE_MS);
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
    // 16:00: the session closed; the scanner's expiry is 18 hours away.
    await advance(MINUTE_MS);
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(1);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    for (const [user, message] of [
      [ann, toAnn],
      [bob, toBob],
    ] as const) {
      const settled = await waitForText(user, message, /Expired/);
      expect(settled.text.endsWith(`\n\n${SESSION_ENDED}`)).toBe(true);
      expect(settled.buttons).toEqual([]);
    }
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
  });

  it("refuses Adjust minutes after the close, before any pass, saying the session closed", async () => {
    await advance(5.5 * HOUR_MS);
    await quote("MSFT");
    const alert = await deliver("MSFT", new Date("2026-03-03T15:30:00Z"));
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: MSFT" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: MSFT" });
    // 16:05: the market is closed, the alert's session over.
    await advance(60 * MINUTE_MS);
    const press = await ann.press(toAnn, "Adjust");
    expect(press).toMatchObject({
      text: "Too late: this alert was for the session of Mon, Mar 2, which has closed; it is not approved on a later session's prices. /plan MSFT plans the trade anew.",
      showAlert: true,
    });
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    const settled = await waitForText(bob, toBob, /Expired/);
    expect(settled.text.endsWith(`\n\n${SESSION_ENDED}`)).toBe(true);
  });

  it("tells the other traders the session closed when an adjusted plan's Confirm is refused for it", async () => {
    await quote("NVDA");
    const alert = await deliver("NVDA", new Date("2026-03-06T21:00:00Z"));
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: NVDA" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: NVDA" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: NVDA" });
    // Tuesday 09:35: the plan is still open.
    await advance(24 * HOUR_MS);
    await quote("NVDA");
    await ann.press(card, "Confirm");
    await waitForText(ann, card, /Not sent/);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(decisions).toEqual([]);
    const settled = await waitForText(bob, toBob, /Expired/);
    expect(settled.text.endsWith(`\n\n${SESSION_ENDED}`)).toBe(true);
    expect(settled.buttons).toEqual([]);
  });

  it("keeps an alert without its own expiry that arrives after the close until 30 minutes into the next session", async () => {
    // Monday 17:35 New York: the session is over; the scanner gives no expiry.
    await advance(8 * HOUR_MS);
    await quote("AMZN");
    const alert = await deliver("AMZN", null);
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: AMZN" });
    expect(toAnn.text).toMatch(/\n\nExpires Mar 3, 10:00 EST\.$/);

    // Monday 18:10, past 30 minutes from receipt: still live, and overnight too.
    await advance(35 * MINUTE_MS);
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
    // Tuesday 09:45, a quarter of an hour into the session.
    await advance(15 * HOUR_MS + 35 * MINUTE_MS);
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
    await quote("AMZN");
    expect((await ann.press(toAnn, "Approve")).text).toBe("Approved.");
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("approved");
  });

  it("expires such an alert 30 minutes into the next session", async () => {
    await advance(8 * HOUR_MS);
    await quote("TSLA");
    const alert = await deliver("TSLA", null);
    const toBob = await bob.waitForMessage({ match: "Pattern alert: TSLA" });
    // Tuesday 10:00.
    await advance(16 * HOUR_MS + 25 * MINUTE_MS);
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(1);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("expired");
    const settled = await waitForText(bob, toBob, /Expired/);
    expect(settled.text).toMatch(/<b>Expired\.<\/b> Nothing was done\.$/);
  });
});
