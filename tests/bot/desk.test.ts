/**
 * The desk's commands end to end: Telegram updates through the Bot API emulator, the real bot,
 * a real PostgreSQL database seeded with positions, orders and the journal, and the lifecycle
 * queues on Redis for the cancel button.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../app/logger";
import { createDeskNoticeSender } from "../../bot/notify/deskNoticeSender";
import { createTelegramApi } from "../../bot/telegramApi";
import { loadTradingState, recordAccountSync } from "../../db/brokerAccounts";
import { readLog } from "../../db/executionLog";
import { loadRiskLimits } from "../../db/riskLimits";
import { notificationOutbox } from "../../db/schema";
import { listTrades } from "../../db/trades";
import { loadUserSettings } from "../../db/userSettings";
import { dec } from "../../domain/money";
import { planTrade } from "../../domain/planTrade";
import { allowsOrder } from "../../domain/tradingState";
import { type BotMessage, type TestUser, waitFor } from "../support/telegram";
import { type DeskBot, startDeskBot } from "./deskBot";
import { seedClosedTrades, seedOpenPosition, seedWorkingEntry } from "./deskSeeds";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ADMIN = 7001;
const TRADER = 7002;
const VIEWER = 7003;
const NOW = new Date("2026-03-02T15:30:00Z");
const YESTERDAY = new Date("2026-02-27T15:00:00Z");

/** Waits for bot messages until one matches `last`; returns them all (a split reply). */
async function collectUntil(user: TestUser, last: RegExp): Promise<BotMessage[]> {
  const parts: BotMessage[] = [];
  for (;;) {
    const message = await user.waitForMessage();
    parts.push(message);
    if (last.test(message.text)) return parts;
  }
}

/** Waits until a bot message (a confirmation question) is edited to contain `match`. */
function waitForEdit(desk: DeskBot, message: BotMessage, match: string): Promise<BotMessage> {
  return waitFor(
    () =>
      desk.emulator
        .messagesIn(message.chatId)
        .find(
          (candidate) =>
            candidate.messageId === message.messageId && candidate.text.includes(match),
        ),
    5_000,
    () =>
      `message ${message.messageId} never showed '${match}'; log: ${desk.logLines.join("").slice(0, 2000)}`,
  );
}

describe("the desk's commands through the Bot API", () => {
  let desk: DeskBot;
  let workingEntry: Awaited<ReturnType<typeof seedWorkingEntry>>;
  let protectedEntry: Awaited<ReturnType<typeof seedOpenPosition>>;

  beforeAll(async () => {
    desk = await startDeskBot({
      name: "desk-commands",
      users: { [ADMIN]: "admin", [TRADER]: "trader", [VIEWER]: "viewer" },
      startAt: NOW,
    });
    const db = desk.database.db;
    await recordAccountSync(
      db,
      desk.accountId,
      {
        equity: dec("101000"),
        lastEquity: dec("100000"),
        cash: dec("81000"),
        buyingPower: dec("162000"),
      },
      NOW,
    );
    await seedClosedTrades(
      db,
      desk.accountId,
      Array.from({ length: 300 }, (_, i) => ({
        symbol: i % 2 === 0 ? "NVDA" : "AMD",
        realizedPnl: i % 3 === 0 ? "-50.00" : "100.00",
        rMultiple: i % 3 === 0 ? "-1" : "2",
        closedAt: new Date(YESTERDAY.getTime() + i * 60_000),
        exitReason: i % 3 === 0 ? ("STOPPED_OUT" as const) : ("PROFIT_TAKEN" as const),
      })),
    );
    await seedClosedTrades(db, desk.accountId, [
      {
        symbol: "TSLA",
        realizedPnl: "75.00",
        rMultiple: "1.5",
        closedAt: new Date(NOW.getTime() - 30 * 60_000),
        exitReason: "PROFIT_TAKEN",
      },
      {
        symbol: "META",
        realizedPnl: "-25.00",
        rMultiple: "-0.5",
        closedAt: new Date(NOW.getTime() - 20 * 60_000),
        exitReason: "MANUAL_EXIT",
      },
    ]);
    protectedEntry = await seedOpenPosition(
      db,
      desk.accountId,
      {
        symbol: "AAPL",
        quantity: "100",
        entry: "190.10",
        stop: "184.50",
        target: "205.00",
        mark: "192.30",
      },
      NOW,
    );
    workingEntry = await seedWorkingEntry(db, desk.accountId, {
      symbol: "MSFT",
      quantity: "50",
      entry: "400.00",
      stop: "390.00",
      target: "420.00",
    });
  }, 60_000);

  afterAll(async () => {
    await desk?.stop();
  });

  it("/positions shows size, cost, mark, unrealized P&L, stop and target", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/positions");
    const reply = await trader.waitForMessage();
    expect(reply.parseMode).toBe("HTML");
    expect(reply.text).toContain("<b>Positions (1)</b>");
    expect(reply.text).toContain("<b>AAPL</b> long 100 @ 190.10");
    // 100 x (192.30 - 190.10) = 220.00, on a 19,010.00 cost: +1.16%.
    expect(reply.text).toContain("Mark 192.30 (2026-03-02 10:30) · unrealized +$220.00 (+1.16%)");
    expect(reply.text).toContain("Stop 184.50 · target 205.00");
    expect(reply.text).not.toContain("MSFT");
  });

  it("/orders lists working orders; a trader gets cancel buttons for entries only, a viewer none", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/orders");
    const seen = await viewer.waitForMessage();
    expect(seen.text).toContain(
      `#${workingEntry.entry.id} <b>MSFT</b> buy 50 limit limit 400.00`.replace(
        "limit limit",
        "limit",
      ),
    );
    expect(seen.buttons).toEqual([]);

    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/orders");
    const list = await trader.waitForMessage();
    expect(list.text).toContain("<b>Working orders (");
    expect(list.text).toContain("<b>AAPL</b> sell 100 stop 184.50 · stop · new");
    expect(list.text).toContain("<b>AAPL</b> sell 100 limit 205.00 · target · new");
    expect(list.buttons.flat().map((button) => button.text)).toEqual([
      `Cancel #${workingEntry.entry.id} MSFT`,
    ]);

    // A viewer pressing the trader's button is refused by role.
    const refused = await viewer.press(list, `Cancel #${workingEntry.entry.id} MSFT`);
    expect(refused.showAlert).toBe(true);

    const answer = await trader.press(list, `Cancel #${workingEntry.entry.id} MSFT`);
    expect(answer.text).toBe(`Cancel of #${workingEntry.entry.id} requested.`);
    const confirmation = await trader.waitForMessage({ match: "Cancel requested" });
    expect(confirmation.text).toContain(`#${workingEntry.entry.id} <b>MSFT</b>`);
    // Handed to the execute queue as the trade's CANCEL job; recorded in the audit trail.
    const jobs = await desk.queues.execute.getJobs(["waiting", "active", "completed", "failed"]);
    const job = jobs.find(
      (j) => j.data.action === "CANCEL" && j.data.tradeId === workingEntry.trade.id,
    );
    expect(job?.data).toEqual({
      action: "CANCEL",
      accountId: desk.accountId,
      tradeId: workingEntry.trade.id,
      reason: "Cancelled from /orders",
      requestedBy: `user:${TRADER}`,
    });
    const audit = await readLog(desk.database.db, { orderId: workingEntry.entry.id });
    expect(audit.map((event) => event.event)).toContain("CANCEL_REQUESTED");
  });

  it("/trades N splits a long journal over several messages and drops nothing", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const expected = await listTrades(desk.database.db, desk.accountId, { limit: 300 });
    const oldest = expected.at(-1)?.id;
    await trader.send("/trades 300");
    const parts = await collectUntil(trader, new RegExp(`#${oldest} `));
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) expect(part.text.length).toBeLessThanOrEqual(4096);
    expect(parts[0]?.text).toMatch(/^<b>Last 300 trades<\/b>/);
    const ids = parts
      .flatMap((part) => part.text.split("\n"))
      .flatMap((line) => /^#(\d+) /.exec(line)?.[1] ?? [])
      .map(Number);
    expect(ids).toEqual(expected.map((record) => record.id));
    expect(parts.map((part) => part.text).join("\n")).toContain(
      "<b>NVDA</b> long · target hit · 10 100.00 → 110.00 · +$100.00 (+2.00R) · 2026-02-27",
    );
    expect(desk.emulator.refusedCalls()).toEqual([]);
  });

  it("/trades refuses a count it cannot show", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/trades lots");
    expect((await trader.waitForMessage()).text).toBe(
      "Usage: /trades [N], N a whole number from 1 to 1000.",
    );
  });

  it("/stats computes over every closed trade", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/stats");
    const reply = await viewer.waitForMessage();
    // 300 seeded: every third lost 50, the rest won 100; today one won 75 and one lost 25.
    const wins = 200 + 1;
    const losses = 100 + 1;
    const total = 200 * 100 - 100 * 50 + 75 - 25;
    expect(reply.text).toContain(`<b>Statistics over ${wins + losses} closed trades</b>`);
    expect(reply.text).toContain(`Wins ${wins} · losses ${losses} · breakeven 0`);
    expect(reply.text).toContain(`Total P&amp;L: +$${total.toLocaleString("en-US")}.00`);
    expect(reply.text).toContain(
      "Longest losing run: 1".toLowerCase().replace("longest", "longest"),
    );
    expect(reply.text).toContain("manual: 302 trades");
  });

  it("/pnl shows today's realized P&L, the open positions' P&L since entry and the broker's day change", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/pnl");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain("<b>P&amp;L for 2026-03-02</b>");
    expect(reply.text).toContain("Realized: +$50.00 from 2 closed trades");
    expect(reply.text).toContain("Unrealized since entry: +$220.00 on 1 open position");
    // Today's realized plus P&L since entry (days ago, perhaps) is no day's result.
    expect(reply.text).not.toContain("Total");
    expect(reply.text).toContain("Equity $101,000.00 · day change +$1,000.00 (+1.00%)");
  });

  it("/close SYMBOL PCT asks, and on Confirm records the request and hands it to the jobs", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/close aapl 50");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    expect(question.text).toContain("long 100: 50% (50) at market.");
    await trader.press(question, "Close");
    const done = await waitForEdit(desk, question, "Close requested");
    expect(done.text).toContain("<b>Close requested:</b> AAPL 50 at market.");
    expect(desk.requests).toEqual([
      {
        kind: "close",
        request: expect.objectContaining({
          accountId: desk.accountId,
          symbol: "AAPL",
          percent: "50",
          requestedBy: `user:${TRADER}`,
        }),
      },
    ]);
    const audit = await readLog(desk.database.db, { tradeId: protectedEntry.trade.id });
    expect(audit.some((event) => event.event === "CLOSE_REQUESTED")).toBe(true);
  });

  it("/close that times out is refused and sends nothing", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const before = desk.requests.length;
    await trader.send("/close AAPL");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    expect(question.text).toContain("all of it at market");
    desk.advanceClock(61_000);
    const answer = await trader.press(question, "Close");
    expect(answer.text).toBe("Too late: this confirmation expired.");
    await waitForEdit(desk, question, "Expired");
    expect(desk.requests.length).toBe(before);
  });

  it("/close refuses what it cannot close", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/close TSLA");
    expect((await trader.waitForMessage()).text).toBe(
      "There is no open TSLA position. /positions lists them.",
    );
    await trader.send("/close AAPL 150");
    expect((await trader.waitForMessage()).text).toBe(
      "The percentage must be above 0 and at most 100.",
    );
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/close AAPL");
    expect((await viewer.waitForMessage()).text).toContain("/close is not for your role (viewer)");
  });

  it("/halt persists a manual halt, and an entry is then refused", async () => {
    const trader = desk.emulator.user({ userId: TRADER, username: "ann" });
    await trader.send("/halt");
    const reply = await trader.waitForMessage();
    expect(reply.text).toContain(
      "<b>Trading halted.</b> New entries are refused and working entries cancelled",
    );
    const state = await loadTradingState(desk.database.db, desk.accountId);
    expect(state).toMatchObject({ mode: "HALTED", setBy: "MANUAL", reason: "/halt by @ann" });
    // A halt hands the account's working entries to the jobs for cancelling.
    expect(desk.requests).toContainEqual({
      kind: "cancel-entries",
      request: { accountId: desk.accountId, reason: "/halt by @ann" },
    });
    expect(allowsOrder(state ?? "ACTIVE", { reducesPosition: false, isCancel: false })).toBe(false);
    // The planning every path shares refuses a new entry against the persisted state.
    const outcome = planTrade(
      {
        symbol: "AAPL",
        side: "long",
        entryType: "limit",
        limitPrice: dec("190.00"),
        stop: { kind: "price", price: dec("185.00") },
      },
      {
        equity: dec("101000"),
        buyingPower: dec("162000"),
        positions: [],
        workingOrders: [],
        recentOrders: [],
        quotes: new Map([["AAPL", { bid: dec("189.99"), ask: dec("190.01") }]]),
        assets: new Map([["AAPL", { tradable: true, shortable: true, fractionable: true }]]),
        sectors: new Map(),
        market: { open: true },
      },
      await loadRiskLimits(desk.database.db, desk.accountId),
      state ?? { mode: "ACTIVE", reason: "" },
      desk.now().getTime(),
    );
    expect(outcome.canConfirm).toBe(false);
    expect(outcome.violations.map((violation) => violation.code)).toContain("TRADING_HALTED");
    // The other admins and traders of the account are told through the outbox.
    const told = (await desk.database.db.select().from(notificationOutbox)).filter(
      (row) => row.kind === "TRADING_STATE_CHANGED",
    );
    expect(told.map((row) => [row.chatId, row.payload.to, row.payload.reason])).toEqual([
      [ADMIN, "HALTED", "/halt by @ann"],
    ]);
    await trader.send("/halt");
    expect((await trader.waitForMessage()).text).toContain("Already halted since 2026-03-02");
  });

  it("/resume is for admins, confirmed, with the reason kept", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/resume");
    expect((await trader.waitForMessage()).text).toContain("/resume is not for your role (trader)");

    const admin = desk.emulator.user({ userId: ADMIN, firstName: "Bo" });
    await admin.send("/resume checked the fills");
    const question = await admin.waitForMessage({ match: "Resume trading?" });
    expect(question.text).toContain("Reason: checked the fills");
    await admin.press(question, "Resume");
    expect((await waitForEdit(desk, question, "resumed")).text).toContain(
      "<b>Trading resumed.</b> Was halted.",
    );
    expect(await loadTradingState(desk.database.db, desk.accountId)).toMatchObject({
      mode: "ACTIVE",
      setBy: "MANUAL",
      reason: "/resume by Bo: checked the fills",
    });
  });

  it("/reduce allows exits only; /resume asks the daily-loss check and honours a refusal and a timeout", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/reduce");
    expect((await trader.waitForMessage()).text).toContain(
      "<b>Trading reduce-only (exits only).</b>",
    );
    const state = await loadTradingState(desk.database.db, desk.accountId);
    expect(state?.mode).toBe("REDUCING");
    expect(allowsOrder(state ?? "ACTIVE", { reducesPosition: true, isCancel: false })).toBe(true);
    expect(allowsOrder(state ?? "ACTIVE", { reducesPosition: false, isCancel: false })).toBe(false);

    const admin = desk.emulator.user({ userId: ADMIN });
    const asked: (string | null)[] = [];
    desk.resumeCheck = async ({ reason }) => {
      asked.push(reason);
      return { allowed: false, message: "the day's loss is beyond the limit; give a reason" };
    };
    await admin.send("/resume");
    const refusedQuestion = await admin.waitForMessage({ match: "Resume trading?" });
    await admin.press(refusedQuestion, "Resume");
    expect((await waitForEdit(desk, refusedQuestion, "Not resumed")).text).toContain(
      "the day's loss is beyond the limit; give a reason",
    );
    expect(asked).toEqual([null]);
    expect((await loadTradingState(desk.database.db, desk.accountId))?.mode).toBe("REDUCING");

    desk.resumeCheck = async () => ({ allowed: true });
    await admin.send("/resume");
    const late = await admin.waitForMessage({ match: "Resume trading?" });
    desk.advanceClock(61_000);
    await admin.press(late, "Resume");
    await waitForEdit(desk, late, "Expired");
    expect((await loadTradingState(desk.database.db, desk.accountId))?.mode).toBe("REDUCING");

    await admin.send("/resume");
    const allowed = await admin.waitForMessage({ match: "Resume trading?" });
    await admin.press(allowed, "Resume");
    await waitForEdit(desk, allowed, "Trading resumed");
    expect((await loadTradingState(desk.database.db, desk.accountId))?.mode).toBe("ACTIVE");
  });

  it("/flatten timed out does nothing; confirmed, it halts and hands the flatten to the jobs", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const before = desk.requests.length;
    await trader.send("/flatten");
    const late = await trader.waitForMessage({ match: "Flatten?" });
    expect(late.text).toContain("1 position close at market: AAPL.");
    desk.advanceClock(61_000);
    await trader.press(late, "Flatten");
    await waitForEdit(desk, late, "Expired");
    expect(desk.requests.length).toBe(before);
    expect((await loadTradingState(desk.database.db, desk.accountId))?.mode).toBe("ACTIVE");

    await trader.send("/flatten");
    const question = await trader.waitForMessage({ match: "Flatten?" });
    await trader.press(question, "Flatten");
    const done = await waitForEdit(desk, question, "Flatten requested");
    expect(done.text).toContain("Trading halted; 1 position closing at market.");
    expect(desk.requests.at(-1)).toEqual({
      kind: "flatten",
      request: expect.objectContaining({
        accountId: desk.accountId,
        requestedBy: `user:${TRADER}`,
      }),
    });
    expect(await loadTradingState(desk.database.db, desk.accountId)).toMatchObject({
      mode: "HALTED",
      setBy: "MANUAL",
    });
  });

  it("/limits shows limits to everyone; only an admin changes them, within the domain's rules", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/limits");
    const shown = await viewer.waitForMessage();
    expect(shown.text).toContain("<b>Trading state</b>: HALTED: no new exposure");
    expect(shown.text).toContain("Risk per trade: 1% <code>riskPerTradePercent</code>");
    expect(shown.text).not.toContain("/limits FIELD VALUE");
    await viewer.send("/limits riskPerTradePercent 0.5");
    expect((await viewer.waitForMessage()).text).toBe(
      "Only an admin changes limits; your role is viewer.",
    );

    const admin = desk.emulator.user({ userId: ADMIN });
    await admin.send("/limits riskPerTradePercent 0.5");
    expect((await admin.waitForMessage()).text).toBe(
      "Changed <code>riskPerTradePercent</code>: 1 → 0.5",
    );
    expect(
      (await loadRiskLimits(desk.database.db, desk.accountId)).riskPerTradePercent.toString(),
    ).toBe("0.5");
    await admin.send("/limits maxDailyLossPercent 150");
    expect((await admin.waitForMessage()).text).toBe(
      "Not changed: maxDailyLossPercent must be above 0% and at most 100%.",
    );
    await admin.send("/limits maxOpenPositions 2.5");
    expect((await admin.waitForMessage()).text).toBe("maxOpenPositions must be a whole number.");
  });

  it("/settings changes a user's own notifications with buttons and keeps them", async () => {
    let viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/settings");
    const shown = await viewer.waitForMessage();
    expect(shown.buttons.flat().map((button) => button.text)).toContain("Fills: 🔔 on");
    await viewer.press(shown, "Fills: 🔔 on");
    const afterFirst = await waitFor(
      () =>
        desk.emulator
          .messagesIn(VIEWER)
          .find(
            (message) =>
              message.messageId === shown.messageId &&
              message.buttons.flat().some((button) => button.text === "Fills: 🔕 silent"),
          ),
      5_000,
      () => "the settings message was not updated",
    );
    await viewer.press(afterFirst, "Fills: 🔕 silent");
    await viewer.press(afterFirst, "Halts, loss warnings and closes: 🔔 on");
    expect((await loadUserSettings(desk.database.db, VIEWER)).notifications).toEqual({
      fills: "off",
      killSwitch: "silent",
    });
    // Other users keep their own.
    expect((await loadUserSettings(desk.database.db, TRADER)).notifications).toEqual({});

    // The notice sender honours them: fills are off for this viewer, halts only silenced.
    const sender = createDeskNoticeSender({
      api: createTelegramApi({ token: desk.emulator.token, apiRoot: desk.emulator.apiRoot }),
      db: desk.database.db,
      logger: createLogger({ level: "silent" }),
    });
    try {
      const before = desk.emulator.messagesIn(VIEWER).length;
      const halted = {
        kind: "TRADING_STATE_CHANGED",
        accountId: desk.accountId,
        from: "ACTIVE",
        to: "HALTED",
        setBy: "MANUAL",
        reason: "/halt by @ann",
        pnlToday: null,
        lossLimit: null,
      };
      const fill = {
        kind: "ORDER_FILLED",
        tradeId: protectedEntry.trade.id,
        symbol: "AAPL",
        side: "sell",
        role: "EXIT",
        executionId: "exec-settings",
        fillQuantity: "50",
        fillPrice: "192.30",
        filledQuantity: "50",
        orderQuantity: "50",
        complete: true,
        clientOrderId: "close-1",
      };
      const [fillResult, haltResult] = await sender.sendMany([
        { chatId: VIEWER, kind: fill.kind, payload: fill, dedupeKey: "settings-fill" },
        { chatId: VIEWER, kind: halted.kind, payload: halted, dedupeKey: "settings-halt" },
      ]);
      expect(fillResult).toEqual({ ok: true, telegramMessageId: null });
      const arrived = desk.emulator.messagesIn(VIEWER).slice(before);
      expect(arrived.map((message) => message.text)).toEqual([
        "<b>Trading halted</b> (by hand, was ACTIVE): /halt by @ann",
      ]);
      expect(haltResult).toEqual({ ok: true, telegramMessageId: arrived[0]?.messageId });
      const history = (await (
        await fetch(`${desk.emulator.apiRoot}/getUpdatesHistory`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: desk.emulator.token }),
        })
      ).json()) as {
        result: {
          messageId?: number;
          message?: { chat_id?: number | string; disable_notification?: boolean };
        }[];
      };
      const stored = history.result.find(
        (item) =>
          item.messageId === arrived[0]?.messageId && Number(item.message?.chat_id) === VIEWER,
      );
      expect(stored?.message?.disable_notification).toBe(true);
    } finally {
      await sender.close();
    }

    // A new handle: it waits for what comes after the notices above.
    viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/settings tz Europe/Berlin");
    expect((await viewer.waitForMessage()).text).toBe(
      "Times are now shown in <code>Europe/Berlin</code>.",
    );
    await viewer.send("/settings tz Mars/Olympus");
    expect((await viewer.waitForMessage()).text).toContain("is not a time zone I know");
    await viewer.send("/positions");
    expect((await viewer.waitForMessage()).text).toContain("(2026-03-02 16:30)");
  });

  it("says so when a close or a flatten cannot be handed to the jobs, and records no request", async () => {
    desk.tradingFails = true;
    try {
      const trader = desk.emulator.user({ userId: TRADER });
      const audited = async () =>
        (await readLog(desk.database.db, { accountId: desk.accountId })).filter((event) =>
          ["CLOSE_REQUESTED", "FLATTEN_REQUESTED"].includes(event.event),
        ).length;
      const before = await audited();
      await trader.send("/close AAPL");
      const close = await trader.waitForMessage({ match: "Close AAPL?" });
      await trader.press(close, "Close");
      await waitForEdit(desk, close, "<b>Not done:</b> the close could not be handed over");
      await trader.send("/flatten");
      const flatten = await trader.waitForMessage({ match: "Flatten?" });
      await trader.press(flatten, "Flatten");
      await waitForEdit(desk, flatten, "<b>Trading halted</b>, but closing the positions");
      expect(await audited()).toBe(before);
    } finally {
      desk.tradingFails = false;
    }
  });
});
