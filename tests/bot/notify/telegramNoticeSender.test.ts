/**
 * The notice sender against the Bot API emulator and a real PostgreSQL outbox: coalescing a burst
 * of fills without losing one, threading under the entry's message, honouring each reader's
 * settings, pacing, splitting, and the notify job's port.
 */
import { Api } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../app/logger";
import { createDeskNoticeSender } from "../../../bot/notify/deskNoticeSender";
import type { TelegramNoticeSender } from "../../../bot/notify/telegramNoticeSender";
import { createTelegramApi } from "../../../bot/telegramApi";
import { recordAlert, recordAlertMessage } from "../../../db/alerts";
import { ensureBrokerAccount } from "../../../db/brokerAccounts";
import { createDecision } from "../../../db/decisions";
import { enqueueNotification } from "../../../db/notificationOutbox";
import { notificationOutbox } from "../../../db/schema";
import { changeUserSettings } from "../../../db/userSettings";
import { upsertUser } from "../../../db/users";
import { dec } from "../../../domain/money";
import type { Notice, OrderFilledNotice } from "../../../domain/notifications";
import {
  deliverDueNotifications,
  type NoticeMessage,
  type NoticeSender as NotifyPort,
} from "../../../jobs/notify";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { startTelegramEmulator, type TelegramEmulator } from "../../support/telegram";

const T0 = new Date("2026-03-02T15:30:00Z");
const logger = createLogger({ level: "silent" });

interface StoredMessage {
  readonly messageId: number;
  readonly message: {
    readonly chat_id: number | string;
    readonly text: string;
    readonly disable_notification?: boolean;
    readonly reply_parameters?: { readonly message_id: number };
  };
}

function fill(index: number, total: number, clientOrderId = "dec-1-entry"): OrderFilledNotice {
  return {
    kind: "ORDER_FILLED",
    tradeId: 1,
    symbol: "AAPL",
    side: "buy",
    role: "ENTRY",
    executionId: `exec-${clientOrderId}-${index}`,
    fillQuantity: "1",
    fillPrice: (190 + index / 100).toFixed(2),
    filledQuantity: String(index + 1),
    orderQuantity: String(total),
    complete: index + 1 === total,
    clientOrderId,
  };
}

const ENTRY: Notice = {
  kind: "ENTRY_SUBMITTED",
  decisionId: 1,
  tradeId: 1,
  symbol: "AAPL",
  side: "buy",
  quantity: "200",
  orderType: "limit",
  limitPrice: "190.10",
  stopPrice: "184.50",
  targetPrice: "205.00",
  clientOrderId: "dec-1-entry",
};

describe("the Telegram notice sender", () => {
  let emulator: TelegramEmulator;
  let database: TestDatabase;
  let sender: TelegramNoticeSender;

  /** Every bot message the emulator holds for a chat, as sent (reply and notification flags kept). */
  async function sentTo(chatId: number): Promise<StoredMessage[]> {
    const response = await fetch(`${emulator.apiRoot}/getUpdatesHistory`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: emulator.token }),
    });
    const body = (await response.json()) as {
      result: { messageId?: number; message?: StoredMessage["message"] }[];
    };
    return body.result.filter(
      (item): item is StoredMessage =>
        typeof item.messageId === "number" &&
        "message" in item &&
        Number(item.message?.chat_id) === chatId,
    );
  }

  /** One pass of the notify job over the outbox: every due row handed over at once. */
  async function deliverOutbox(): Promise<void> {
    await deliverDueNotifications({ db: database.db, sender, now: () => T0, logger });
  }

  const enqueue = (chatId: number, key: string, notice: Notice) =>
    enqueueNotification(
      database.db,
      {
        dedupeKey: `${key}:${chatId}`,
        chatId,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
      },
      T0,
    );

  beforeAll(async () => {
    emulator = await startTelegramEmulator();
    database = await createTestDatabase("postgres");
    sender = createDeskNoticeSender({
      api: createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot }),
      db: database.db,
      logger,
    });
  }, 30_000);

  afterAll(async () => {
    await sender?.close();
    await emulator?.stop();
    await database?.close();
  });

  it("turns a burst of 200 fills in one chat into a few messages under the entry, every fill in them", async () => {
    const chat = 8101;
    await upsertUser(database.db, { telegramUserId: chat, role: "trader" }, T0);
    await enqueue(chat, "entry-1", ENTRY);
    await deliverOutbox();
    const [entryMessage] = await sentTo(chat);
    expect(entryMessage?.message.text).toContain(
      "<b>Entry submitted</b> <b>AAPL</b> buy 200 limit 190.10",
    );

    for (let index = 0; index < 200; index++)
      await enqueue(chat, `fill-${index}`, fill(index, 200));
    const started = performance.now();
    await deliverOutbox();
    const elapsedMs = performance.now() - started;

    const messages = (await sentTo(chat)).slice(1);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.length).toBeLessThanOrEqual(6);
    const lines = messages.flatMap((message) => message.message.text.split("\n"));
    for (let index = 0; index < 200; index++) {
      const expected = `1 @ ${(190 + index / 100).toFixed(2)} · ${index + 1}/200${index === 199 ? " · complete" : ""}`;
      expect(lines.filter((line) => line === expected)).toHaveLength(1);
    }
    for (const message of messages) {
      expect(message.message.text.length).toBeLessThanOrEqual(4096);
      expect(message.message.reply_parameters?.message_id).toBe(entryMessage?.messageId);
    }
    expect(emulator.refusedCalls()).toEqual([]);
    // Every row is marked sent with the id of the message that holds it.
    const rows = await database.db.select().from(notificationOutbox);
    const fills = rows.filter((row) => row.kind === "ORDER_FILLED");
    expect(fills).toHaveLength(200);
    const ids = new Set(messages.map((message) => message.messageId));
    for (const row of fills) {
      expect(row.status).toBe("sent");
      expect(ids.has(row.telegramMessageId ?? -1)).toBe(true);
    }
    // A message per second at most in one chat: the parts are paced, not bunched.
    expect(elapsedMs).toBeGreaterThanOrEqual((messages.length - 1) * 950);
  }, 30_000);

  it("honours the reader's settings: silent without sound, off not sent, halts never off", async () => {
    const chat = 8102;
    const owner = { telegramUserId: chat, role: "viewer" as const };
    await changeUserSettings(
      database.db,
      owner,
      { delivery: { category: "fills", delivery: "silent" } },
      T0,
    );
    await changeUserSettings(
      database.db,
      owner,
      { delivery: { category: "exits", delivery: "off" } },
      T0,
    );
    await changeUserSettings(
      database.db,
      owner,
      { delivery: { category: "killSwitch", delivery: "off" } },
      T0,
    );
    const notices: Notice[] = [
      fill(0, 10, "dec-9-entry"),
      {
        kind: "TRADE_CLOSED",
        tradeId: 9,
        symbol: "MSFT",
        exitReason: "STOPPED_OUT",
        quantity: "10",
        averageEntryPrice: "400.00",
        averageExitPrice: "390.00",
        realizedPnl: "-100.00",
        rMultiple: "-1",
      },
      {
        kind: "TRADING_STATE_CHANGED",
        accountId: 1,
        from: "ACTIVE",
        to: "HALTED",
        setBy: "AUTO",
        reason: "Day's loss 3.10% reached the 3% limit",
        pnlToday: "-3100.00",
        lossLimit: "3000.00",
      },
    ];
    const results = await sender.sendMany(
      notices.map((notice, index) => ({
        chatId: chat,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
        dedupeKey: `settings-${index}`,
      })),
    );
    expect(results[1]).toEqual({ ok: true, telegramMessageId: null });
    const messages = await sentTo(chat);
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message?.message.disable_notification).toBe(true);
    expect(message?.message.text).toContain(
      "<b>Partial fill</b> <b>AAPL</b> buy · entry\n1 @ 190.00 · 1/10",
    );
    expect(message?.message.text).toContain("<b>Trading halted</b> (automatic, was ACTIVE)");
    expect(message?.message.text).not.toContain("Stopped out");
    expect(results[0]).toEqual({ ok: true, telegramMessageId: message?.messageId });
    expect(results[2]).toEqual({ ok: true, telegramMessageId: message?.messageId });
  });

  it("sends a flatten's results for every symbol, and the halt before them, as one message", async () => {
    const chat = 8104;
    const halt: Notice = {
      kind: "TRADING_STATE_CHANGED",
      accountId: 1,
      from: "ACTIVE",
      to: "HALTED",
      setBy: "MANUAL",
      reason: "/flatten by @ann",
      pnlToday: null,
      lossLimit: null,
    };
    const result = (symbol: string, ok: boolean): Notice => ({
      kind: "POSITION_CLOSE_RESULT",
      accountId: 1,
      symbol,
      action: "flatten",
      outcome: ok ? "closed" : "failed",
      quantity: ok ? "10" : null,
      price: null,
      code: ok ? null : "FORBIDDEN",
      reason: ok ? null : "position is held by an order",
      nextStep: ok ? null : "Its stop stays in place and the desk retries the close.",
      requestedBy: "user:1",
    });
    const notices = [halt, result("AAPL", true), result("MSFT", false), result("NVDA", true)];
    const results = await sender.sendMany(
      notices.map((notice, index) => ({
        chatId: chat,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
        dedupeKey: `flatten-${index}`,
      })),
    );
    const messages = await sentTo(chat);
    expect(messages).toHaveLength(1);
    const text = messages[0]?.message.text ?? "";
    expect(text.split("\n\n")).toEqual([
      "<b>Trading halted</b> (by hand, was ACTIVE): /flatten by @ann",
      "<b>Flatten</b> <b>AAPL</b>: closing 10 at market · asked by user 1",
      "<b>Flatten failed</b> <b>MSFT</b>: position is held by an order (<code>FORBIDDEN</code>) · asked by user 1\nIts stop stays in place and the desk retries the close.",
      "<b>Flatten</b> <b>NVDA</b>: closing 10 at market · asked by user 1",
    ]);
    expect(text).not.toContain("Reconciliation");
    expect(results.every((r) => r.ok && r.telegramMessageId === messages[0]?.messageId)).toBe(true);
  });

  it("splits a notice longer than a message and reports the row sent with its last part", async () => {
    const chat = 8103;
    const detail = `${"<missing stop> & ".repeat(400)}end`;
    const [result] = await sender.sendMany([
      {
        chatId: chat,
        kind: "RECONCILIATION_INCIDENT",
        payload: {
          kind: "RECONCILIATION_INCIDENT",
          accountId: 1,
          symbol: "AAPL",
          incident: "STOP_REPLACED",
          detail,
        },
        dedupeKey: "long-1",
      },
    ]);
    const messages = await sentTo(chat);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(result).toEqual({ ok: true, telegramMessageId: messages.at(-1)?.messageId });
    const text = messages.map((message) => message.message.text).join("");
    expect(text.match(/&lt;missing stop&gt; &amp; /g)).toHaveLength(400);
    expect(emulator.refusedCalls()).toEqual([]);
  });

  it("keeps to the global rate across chats", async () => {
    const paced = createDeskNoticeSender({
      api: createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot }),
      db: database.db,
      logger,
      globalPerSecond: 10,
    });
    try {
      const started = performance.now();
      const results = await paced.sendMany(
        Array.from({ length: 25 }, (_, index) => ({
          chatId: 8200 + index,
          kind: "ORDER_FILLED",
          payload: fill(0, 1, `dec-${index}`) as unknown as Record<string, unknown>,
          dedupeKey: `global-${index}`,
        })),
      );
      // 25 messages at 10 a second: the last waits for the third second.
      expect(performance.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(results.every((result) => result.ok)).toBe(true);
    } finally {
      await paced.close();
    }
  });

  it("reports a failed send as retryable, and a row it cannot read as not", async () => {
    const bare = createDeskNoticeSender({
      api: new Api(emulator.token, { apiRoot: emulator.apiRoot }),
      db: database.db,
      logger,
    });
    try {
      const message: NoticeMessage = {
        chatId: 8301,
        kind: "ORDER_FILLED",
        payload: fill(0, 1, "dec-77") as unknown as Record<string, unknown>,
        dedupeKey: "fail-1",
      };
      emulator.failNext("sendMessage", { status: 500, times: 1 });
      expect(await bare.send(message)).toMatchObject({ ok: false, retryable: true });
      expect(await bare.send(message)).toMatchObject({ ok: true });
      expect(
        await bare.send({ chatId: 8301, kind: "SOMETHING_ELSE", payload: {}, dedupeKey: "odd" }),
      ).toMatchObject({ ok: false, retryable: false });
    } finally {
      await bare.close();
    }
  });

  it("keeps a row for a retry when Telegram refuses the bot itself (401), not the chat", async () => {
    const unauthorized = createDeskNoticeSender({
      api: new Api("123456789:revoked-token", { apiRoot: emulator.apiRoot }),
      db: database.db,
      logger,
    });
    try {
      const result = await unauthorized.send({
        chatId: 8303,
        kind: "ORDER_FILLED",
        payload: fill(0, 1, "dec-79") as unknown as Record<string, unknown>,
        dedupeKey: "unauthorized",
      });
      expect(result).toMatchObject({ ok: false, retryable: true });
      expect(result.ok ? "" : result.error).toContain("401");
    } finally {
      await unauthorized.close();
    }
  });

  it("gives up a row it cannot render alone: the rest of its chat goes out", async () => {
    const chat = 8302;
    const row = (key: string, notice: OrderFilledNotice): NoticeMessage => ({
      chatId: chat,
      kind: notice.kind,
      payload: notice as unknown as Record<string, unknown>,
      dedupeKey: key,
    });
    const [broken, good] = await sender.sendMany([
      row("broken", { ...fill(0, 2, "dec-78"), fillPrice: "n/a" }),
      row("good", fill(1, 2, "dec-78")),
    ]);
    expect(broken).toMatchObject({ ok: false, retryable: false });
    expect(good).toMatchObject({ ok: true });
    const [message] = await sentTo(chat);
    expect(message?.message.text).toContain("1 @ 190.01 · 2/2 · complete");
  });

  it("threads an alert's trade: the entry answers the alert's message, its fills the entry", async () => {
    const chat = 8501;
    const accountId = (
      await ensureBrokerAccount(
        database.db,
        { environment: "paper", brokerAccountId: "PA-thread" },
        T0,
      )
    ).id;
    const { alert } = await recordAlert(
      database.db,
      { externalId: "scan-thread", accountId, symbol: "NVDA", pattern: "VCP", payload: {} },
      T0,
    );
    const alertMessage = await createTelegramApi({
      token: emulator.token,
      apiRoot: emulator.apiRoot,
    }).sendMessage(chat, "NVDA VCP alert");
    await recordAlertMessage(
      database.db,
      { alertId: alert.id, chatId: chat, messageId: alertMessage.message_id },
      T0,
    );
    const decision = await createDecision(
      database.db,
      {
        accountId,
        source: "alert",
        alertId: alert.id,
        symbol: "NVDA",
        side: "buy",
        entryType: "market",
        entryPrice: null,
        stopPrice: dec("850"),
        targetPrice: dec("900"),
        quantity: dec("10"),
        riskAmount: dec("200"),
        createdBy: "alert:scan-thread",
        status: "approved",
      },
      T0,
    );
    const entry: Notice = {
      ...(ENTRY as Extract<Notice, { kind: "ENTRY_SUBMITTED" }>),
      decisionId: decision.id,
      tradeId: null,
      symbol: "NVDA",
      clientOrderId: `dec-${decision.id}-entry`,
    };
    await enqueue(chat, "thread-entry", entry);
    await deliverOutbox();
    await enqueue(chat, "thread-fill", {
      ...fill(0, 1, `dec-${decision.id}-entry`),
      symbol: "NVDA",
    });
    await deliverOutbox();
    const [, entryMessage, fillMessage] = await sentTo(chat);
    expect(entryMessage?.message.reply_parameters?.message_id).toBe(alertMessage.message_id);
    expect(fillMessage?.message.reply_parameters?.message_id).toBe(entryMessage?.messageId);
  });

  it("serves the notify job's port: rows delivered and marked by the job", async () => {
    const port: NotifyPort = sender;
    const chat = 8401;
    await enqueue(chat, "protect-1", {
      kind: "PROTECTION_PLACED",
      tradeId: 1,
      symbol: "AAPL",
      quantity: "200",
      stopPrice: "184.50",
      targetPrice: "205.00",
    });
    const result = await deliverDueNotifications({
      db: database.db,
      sender: port,
      now: () => T0,
      logger,
    });
    expect(result).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    const [message] = await sentTo(chat);
    expect(message?.message.text).toBe(
      "<b>Protected</b> <b>AAPL</b> 200 · stop 184.50 · target 205.00",
    );
  });
});
