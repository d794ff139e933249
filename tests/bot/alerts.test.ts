import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier, settleExpiredAlerts } from "../../bot/features/alerts";
import { cancelFeature } from "../../bot/features/cancel";
import { createPlanFeature } from "../../bot/features/plan";
import { startFeature } from "../../bot/features/start";
import { alertKeyboard } from "../../bot/keyboards/alert";
import { type Alert, findAlert, moveAlert, recordAlert, recordAlertMessage } from "../../db/alerts";
import { changeTradingState } from "../../db/brokerAccounts";
import { listDueDecisions } from "../../db/decisions";
import { dec } from "../../domain/money";
import { setTradingStateManually } from "../../domain/tradingState";
import { executeJobId } from "../../jobs/client";
import type { BotMessage, TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ANN = 6201;
const BOB = 6202;
const VIEWER = 6203;

describe("pattern alerts end to end", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;
  let sequence = 0;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-alerts",
      users: { [ANN]: "trader", [BOB]: "admin", [VIEWER]: "viewer" },
      features: [startFeature, cancelFeature, createPlanFeature(), alertsFeature],
      // No workers here: the order is not followed (planExecution.test.ts follows it).
      planning: { orderFollowMs: 0 },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  /** Stores an alert as POST /api/alerts would and hands it to the fan-out. */
  async function deliver(
    symbol: string,
    overrides: { expiresAt?: Date; sentBefore?: (alert: Alert) => Promise<void> } = {},
  ) {
    sequence += 1;
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: `scan-${symbol}-${sequence}`,
        symbol,
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: `scan-${symbol}-${sequence}` },
        expiresAt: overrides.expiresAt ?? null,
      },
      desk.deps.now(),
    );
    await overrides.sentBefore?.(alert);
    const notifier = createAlertNotifier(desk.bot.api, desk.deps);
    return { alert, delivery: await notifier.onAlertAccepted(alert) };
  }

  async function statusOf(alert: Alert) {
    return (await findAlert(desk.database.db, alert.id))?.status;
  }

  async function waitForText(user: TestUser, message: BotMessage, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = user.messages().find((candidate) => candidate.messageId === message.messageId);
      if (now !== undefined && match.test(now.text)) return now;
      if (Date.now() > deadline) throw new Error(`message never matched ${match}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("sends one message per trader with their size; the first approval makes one decision and the others see who", async () => {
    const { alert, delivery } = await deliver("AAPL");
    expect(delivery).toEqual({ status: "sent", recipients: 2 });
    expect(await statusOf(alert)).toBe("sent");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert" });
    expect(toAnn.text).toBe(
      [
        "<b>Pattern alert: AAPL VCP</b> (score 0.82)",
        "Entry $190.10   Stop $186.10   Target $200.10",
        "Source: legend-scanner",
        "Reward:risk 2.50",
        "Your size: <b>26</b> shares, $4,942.60, risk $104.00",
        "",
        "Expires 10:05 EST.",
      ].join("\n"),
    );
    expect(toAnn.buttons.flat().map((button) => button.text)).toEqual([
      "Approve",
      "Reject",
      "Adjust",
    ]);
    expect(desk.emulator.messagesIn(VIEWER)).toEqual([]);

    // Both press Approve at once: one decision.
    const [annPress, bobPress] = await Promise.all([
      ann.press(toAnn, "Approve"),
      bob.press(toBob, "Approve"),
    ]);
    // One wins; the other is told so: "Someone decided first." when the presses overlap, or
    // "Already approved." when the winner finished before the second press was read.
    const texts = [annPress.text, bobPress.text];
    expect(texts.filter((text) => text === "Approved.")).toHaveLength(1);
    expect(
      texts.filter((text) => text === "Someone decided first." || text === "Already approved."),
    ).toHaveLength(1);
    expect(await statusOf(alert)).toBe("approved");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ source: "alert", symbol: "AAPL", entryType: "limit" });
    expect(decisions[0]?.quantity.toString()).toBe("26");
    const job = await desk.queues.execute.getJob(executeJobId(decisions[0]?.id ?? 0));
    expect(job?.data).toMatchObject({ decisionId: decisions[0]?.id });

    const winner = annPress.text === "Approved." ? "Ann" : "Bob";
    for (const [user, message] of [
      [ann, toAnn],
      [bob, toBob],
    ] as const) {
      const settled = await waitForText(user, message, /Approved/);
      expect(settled.text).toMatch(
        new RegExp(`<b>Approved</b> by ${winner}: decision #\\d+, 26 AAPL sent for execution\\.$`),
      );
      expect(settled.buttons).toEqual([]);
    }
    // A late tap on the old buttons changes nothing.
    expect((await ann.press(toAnn, "Reject")).text).toBe("Already approved.");
    expect(await statusOf(alert)).toBe("approved");
  });

  it("does not send the same symbol again within the suppression window", async () => {
    const { delivery } = await deliver("AAPL");
    expect(delivery.status).toBe("suppressed");
  });

  it("rejects for everyone, and refuses a double tap", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "MSFT", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("MSFT");
    const toAnn = await ann.waitForMessage({ match: "MSFT" });
    const toBob = await bob.waitForMessage({ match: "MSFT" });
    const [first, second] = await Promise.all([
      bob.press(toBob, "Reject"),
      bob.press(toBob, "Reject"),
    ]);
    expect([first.text, second.text].sort()).toEqual(["Already rejected.", "Rejected."]);
    expect(await statusOf(alert)).toBe("rejected");
    const settled = await waitForText(ann, toAnn, /Rejected/);
    expect(settled.text).toMatch(/<b>Rejected<\/b> by Bob\. Nothing was done\.$/);
  });

  it("refuses an expired alert and says so", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "NVDA", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("NVDA", {
      expiresAt: new Date(desk.deps.now().getTime() + 60_000),
    });
    const toAnn = await ann.waitForMessage({ match: "NVDA" });
    desk.advanceClock(61_000);
    const press = await ann.press(toAnn, "Approve");
    expect(press).toMatchObject({ text: "Too late: this alert expired.", showAlert: true });
    expect(await statusOf(alert)).toBe("expired");
    const settled = await waitForText(ann, toAnn, /Expired/);
    expect(settled.text).toMatch(/<b>Expired\.<\/b> Nothing was done\.$/);
  });

  it("opens /plan prefilled with Adjust, and confirming it approves the alert", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "AMZN", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("AMZN");
    const toAnn = await ann.waitForMessage({ match: "AMZN" });
    const toBob = await bob.waitForMessage({ match: "AMZN" });
    expect((await ann.press(toAnn, "Adjust")).text).toBe("Opening the plan…");
    const card = await ann.waitForMessage({ match: "Plan: AMZN" });
    expect(card.text).toContain("Entry: limit $190.10");
    expect(card.text).toContain("Stop: $186.10   Target: $200.10 (reward:risk 2.50)");
    await ann.press(card, "Edit");
    await ann.waitForMessage({ match: "What do you want to change?" });
    await ann.send("risk");
    await ann.waitForMessage({ match: "Risk per trade" });
    await ann.send("0.1");
    const edited = await ann.waitForMessage({ match: "Plan: AMZN" });
    // $100 at risk over $4.00 a share.
    expect(edited.text).toContain("Quantity: <b>25</b> shares");
    await ann.press(edited, "Confirm");
    await waitForText(ann, edited, /Confirmed/);
    expect(await statusOf(alert)).toBe("approved");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(decisions.map((decision) => decision.quantity.toString())).toEqual(["25"]);
    // Bob sees who took it; his buttons are gone.
    const settled = await waitForText(bob, toBob, /Approved/);
    expect(settled.text).toMatch(
      /<b>Approved<\/b> by Ann \(adjusted\): decision #\d+, 25 AMZN sent/,
    );
    expect(settled.buttons).toEqual([]);
  });

  it("expires undecided alerts in a periodic pass and says so on every copy", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "GOOGL", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("GOOGL");
    const toAnn = await ann.waitForMessage({ match: "GOOGL" });
    const toBob = await bob.waitForMessage({ match: "GOOGL" });
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
    // No expiry of its own: the default lifetime of 30 minutes.
    desk.advanceClock(30 * 60_000);
    // This one, and the AAPL alert suppressed earlier (never sent, never decided).
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(2);
    expect(await statusOf(alert)).toBe("expired");
    for (const [user, message] of [
      [ann, toAnn],
      [bob, toBob],
    ] as const) {
      const settled = await waitForText(user, message, /Expired/);
      expect(settled.buttons).toEqual([]);
    }
    expect(await settleExpiredAlerts(desk.bot.api, desk.deps)).toBe(0);
  });

  it("says trading is halted, not that someone decided first, when a halt lands while the approval is priced", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "META", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("META");
    const toAnn = await ann.waitForMessage({ match: "META" });
    const market = desk.deps.market as NonNullable<typeof desk.deps.market>;
    const original = market.getAccountSnapshot;
    const setMode = (mode: "HALTED" | "ACTIVE") =>
      changeTradingState(
        desk.database.db,
        desk.accountId,
        () => setTradingStateManually(mode, `${mode} by the test`, desk.deps.now().getTime()),
        "user:1",
        desk.deps.now(),
      );
    // The halt lands after the press read the account, before the approval is stored.
    (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = async (...args) => {
      const snapshot = await original.apply(market, args);
      await setMode("HALTED");
      return snapshot;
    };
    try {
      const press = await ann.press(toAnn, "Approve");
      expect(press).toMatchObject({ showAlert: true });
      expect(press.text).toMatch(
        /^Trading is halted \(HALTED by the test\): new entries are refused/,
      );
      expect(await statusOf(alert)).toBe("sent");
    } finally {
      (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = original;
      await setMode("ACTIVE");
    }
  });

  it("does not approve through Adjust an alert that expired while its plan was open", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "TSLA", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("TSLA", {
      expiresAt: new Date(desk.deps.now().getTime() + 60_000),
    });
    const toAnn = await ann.waitForMessage({ match: "TSLA" });
    const toBob = await bob.waitForMessage({ match: "TSLA" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: TSLA" });
    // The plan's own two minutes are not over; the alert's minute is.
    desk.advanceClock(61_000);
    await ann.press(card, "Confirm");
    const refused = await waitForText(ann, card, /Not sent/);
    expect(refused.text).toMatch(/<b>Not sent\.<\/b> Too late: this alert expired/);
    expect(await statusOf(alert)).toBe("expired");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(decisions).toEqual([]);
    const settled = await waitForText(bob, toBob, /Expired/);
    expect(settled.buttons).toEqual([]);
  });

  it("does not take the alert with a plan whose symbol was changed in Adjust", async () => {
    for (const symbol of ["QQQ", "SPY"]) {
      await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
    }
    const { alert } = await deliver("QQQ");
    const toAnn = await ann.waitForMessage({ match: "QQQ" });
    const toBob = await bob.waitForMessage({ match: "QQQ" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: QQQ" });
    await ann.press(card, "Edit");
    await ann.waitForMessage({ match: "What do you want to change?" });
    const steps: ReadonlyArray<readonly [string, string]> = [
      ["symbol", "Which symbol?"],
      ["SPY", "long or short?"],
      ["long", "bid $189.99"],
      ["190.10", "Stop:"],
      ["186.10", "Target:"],
      ["skip", "Risk per trade"],
      ["skip", "Sizing:"],
    ];
    for (const [text, next] of steps) {
      await ann.send(text);
      await ann.waitForMessage({ match: next });
    }
    await ann.send("1");
    const spyCard = await ann.waitForMessage({ match: "Plan: SPY" });
    await ann.press(spyCard, "Confirm");
    await waitForText(ann, spyCard, /Confirmed/);
    // The SPY trade is the trader's own; the QQQ alert is still open to everyone.
    expect(await statusOf(alert)).toBe("sent");
    const spy = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.symbol === "SPY",
    );
    expect(spy).toHaveLength(1);
    expect(spy[0]).toMatchObject({ source: "manual", alertId: null });
    expect((await bob.press(toBob, "Reject")).text).toBe("Rejected.");
  });

  it("sends a resent alert only to the traders an earlier, failed fan-out did not reach", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "IWM", bid: "189.99", ask: "190.01" });
    const before = ann.messages().length;
    // The earlier attempt sent Ann her copy, then failed before Bob's.
    const { alert, delivery } = await deliver("IWM", {
      sentBefore: (stored) =>
        recordAlertMessage(
          desk.database.db,
          { alertId: stored.id, chatId: ANN, messageId: 990_001 },
          desk.deps.now(),
        ),
    });
    expect(delivery).toEqual({ status: "sent", recipients: 2 });
    await bob.waitForMessage({ match: "IWM" });
    expect(
      ann
        .messages()
        .slice(before)
        .filter((m) => m.text.includes("IWM")),
    ).toEqual([]);
    expect(await statusOf(alert)).toBe("sent");
  });

  it("says why an alert cannot be approved, without sending a halted trader to Adjust", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "SPY", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("SPY");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: SPY" });
    const setMode = (mode: "HALTED" | "ACTIVE") =>
      changeTradingState(
        desk.database.db,
        desk.accountId,
        () => setTradingStateManually(mode, `${mode} by the test`, desk.deps.now().getTime()),
        "user:1",
        desk.deps.now(),
      );
    await setMode("HALTED");
    try {
      const press = await ann.press(toAnn, "Approve");
      expect(press).toMatchObject({ showAlert: true });
      expect(press.text).toMatch(
        /^Cannot approve \(TRADING_HALTED\): Trading is halted \(HALTED by the test\)/,
      );
      expect(press.text).not.toContain("Adjust");
      expect(await statusOf(alert)).toBe("sent");
    } finally {
      await setMode("ACTIVE");
    }
  });

  it("does not take a long alert with a plan whose side was changed to short in Adjust", async () => {
    // A symbol no other test alerts (the simulator lists it once quoted): not suppressed.
    await desk.sim.control("/sim/quotes", { symbol: "DIA", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("DIA");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: DIA" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: DIA" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: DIA long" });
    await ann.press(card, "Edit");
    await ann.waitForMessage({ match: "What do you want to change?" });
    const steps: ReadonlyArray<readonly [string, string]> = [
      ["side", "long or short?"],
      ["short", "Stop:"],
      ["194.10", "Target:"],
    ];
    for (const [text, next] of steps) {
      await ann.send(text);
      await ann.waitForMessage({ match: next });
    }
    await ann.send("skip");
    const shortCard = await ann.waitForMessage({ match: "Plan: DIA short" });
    await ann.press(shortCard, "Confirm");
    await waitForText(ann, shortCard, /Confirmed/);
    // The short is the trader's own; the long alert is still open to everyone.
    expect(await statusOf(alert)).toBe("sent");
    const short = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.side === "sell",
    );
    expect(short).toHaveLength(1);
    expect(short[0]).toMatchObject({ source: "manual", alertId: null, symbol: "DIA" });
    expect((await bob.press(toBob, "Reject")).text).toBe("Rejected.");
  });

  it("says the alert expired, not that someone decided first, when it expires while the approval is priced", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "NFLX", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("NFLX");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: NFLX" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: NFLX" });
    const market = desk.deps.market as NonNullable<typeof desk.deps.market>;
    const original = market.getAccountSnapshot;
    // The periodic pass expires the alert after the press read it, before the approval is stored.
    (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = async (...args) => {
      const snapshot = await original.apply(market, args);
      await moveAlert(
        desk.database.db,
        alert.id,
        ["received", "sent"],
        "expired",
        "system:expiry",
        desk.deps.now(),
      );
      return snapshot;
    };
    try {
      const press = await ann.press(toAnn, "Approve");
      expect(press).toMatchObject({ text: "Too late: this alert expired.", showAlert: true });
      expect(await statusOf(alert)).toBe("expired");
      const settled = await waitForText(bob, toBob, /Expired/);
      expect(settled.buttons).toEqual([]);
    } finally {
      (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = original;
    }
  });

  it("takes the buttons only in a private chat: a copy in a group decides nothing", async () => {
    const { alert } = await deliver("XOM");
    await ann.waitForMessage({ match: "Pattern alert: XOM" });
    // A copy with the alert's buttons ended up in a group the desk's users share.
    const group = { id: -100_6299, type: "group", title: "Desk room" } as const;
    await desk.bot.api.sendMessage(group.id, "Pattern alert: XOM", {
      reply_markup: alertKeyboard(alert.id),
    });
    const [copy] = desk.emulator.messagesIn(group.id);
    const annInGroup = desk.emulator.user({ userId: ANN, firstName: "Ann", chat: group });
    for (const label of ["Approve", "Reject", "Adjust"]) {
      const press = await annInGroup.press(copy as BotMessage, label);
      expect(press).toMatchObject({
        text: "Alerts are decided only in your private chat with me, where the desk sent you the alert.",
        showAlert: true,
      });
    }
    expect(await statusOf(alert)).toBe("sent");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(decisions).toEqual([]);
    // Nothing was said in the group beyond the copy itself.
    expect(desk.emulator.messagesIn(group.id)).toHaveLength(1);
  });

  it("tells a trader whose own earlier tap took the alert so, not that someone else decided", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "DIS", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("DIS");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: DIS" });
    const market = desk.deps.market as NonNullable<typeof desk.deps.market>;
    const original = market.getAccountSnapshot;
    // Ann's first tap (held past the chat's timeout) takes the alert while this one is priced.
    (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = async (...args) => {
      const snapshot = await original.apply(market, args);
      await moveAlert(
        desk.database.db,
        alert.id,
        ["received", "sent"],
        "approved",
        `user:${ANN}`,
        desk.deps.now(),
      );
      return snapshot;
    };
    try {
      const press = await ann.press(toAnn, "Approve");
      expect(press).toMatchObject({
        text: "You approved this alert already: your first tap went through.",
        showAlert: true,
      });
    } finally {
      (market as { getAccountSnapshot: typeof original }).getAccountSnapshot = original;
    }
  });

  it("brings a copy the decision could not update up to date when it is pressed", async () => {
    await desk.sim.control("/sim/quotes", { symbol: "AMD", bid: "189.99", ask: "190.01" });
    const { alert } = await deliver("AMD");
    const toAnn = await ann.waitForMessage({ match: "Pattern alert: AMD" });
    const toBob = await bob.waitForMessage({ match: "Pattern alert: AMD" });
    // Telegram refuses the edits that settle the copies.
    desk.emulator.failNext("editMessageText", { status: 409, times: 2 });
    expect((await ann.press(toAnn, "Reject")).text).toBe("Rejected.");
    await desk.idle();
    expect(await statusOf(alert)).toBe("rejected");
    const stale = bob.messages().find((message) => message.messageId === toBob.messageId);
    expect(stale?.buttons.flat().map((button) => button.text)).toContain("Approve");

    expect((await bob.press(toBob, "Approve")).text).toBe("Already rejected.");
    const settled = await waitForText(bob, toBob, /Rejected/);
    expect(settled.text).toMatch(/<b>Rejected<\/b> by Ann\. Nothing was done\.$/);
    expect(settled.buttons).toEqual([]);
  });
});
