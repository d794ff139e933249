/**
 * A group that becomes a supergroup keeps its notices: Telegram refuses a send to the group's old
 * id with 400 and parameters.migrate_to_chat_id. The notify job and the desk's Telegram sender,
 * against the Bot API emulator and a real PostgreSQL outbox, deliver the notice to the
 * supergroup and move the chat's waiting rows to its new id instead of giving them up.
 */
import { asc, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDeskNoticeSender } from "../../bot/notify/deskNoticeSender";
import type { TelegramNoticeSender } from "../../bot/notify/telegramNoticeSender";
import { createTelegramApi } from "../../bot/telegramApi";
import { enqueueNotification } from "../../db/notificationOutbox";
import { notificationOutbox } from "../../db/schema";
import type { Notice } from "../../domain/notifications";
import { deliverDueNotifications } from "../../jobs/notify";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

const T0 = new Date("2026-03-02T15:00:00Z");
const logger = pino({ level: "silent" });
const GROUP = -4_001;
const SUPERGROUP = -1_000_000_004_001;

const ENTRY: Notice = {
  kind: "ENTRY_SUBMITTED",
  decisionId: 5,
  tradeId: 5,
  symbol: "AAPL",
  side: "buy",
  quantity: "10",
  orderType: "market",
  limitPrice: null,
  stopPrice: "185.00",
  targetPrice: "200.00",
  clientOrderId: "dec-5-entry",
};

function fill(index: number): Notice {
  return {
    kind: "ORDER_FILLED",
    tradeId: 5,
    symbol: "AAPL",
    side: "buy",
    role: "ENTRY",
    executionId: `exec-migrate-${index}`,
    fillQuantity: "5",
    fillPrice: "190.10",
    filledQuantity: String(5 * (index + 1)),
    orderQuantity: "10",
    complete: index === 1,
    clientOrderId: "dec-5-entry",
  };
}

describe("notify: a group upgraded to a supergroup", () => {
  let t: TestDatabase;
  let emulator: TelegramEmulator;
  let sender: TelegramNoticeSender;

  const newSender = () =>
    createDeskNoticeSender({
      api: createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot }),
      db: t.db,
      logger,
      perGroupIntervalMs: 50,
    });

  beforeAll(async () => {
    t = await createTestDatabase("postgres");
    emulator = await startTelegramEmulator();
  }, 30_000);
  afterAll(async () => {
    // The database is dropped even when the emulator fails to stop.
    try {
      await emulator?.stop();
    } finally {
      await t?.close();
    }
  });
  beforeEach(async () => {
    await t.truncate();
    sender = newSender();
  });
  afterEach(async () => {
    await sender.close();
  });

  const write = (key: string, notice: Notice, at = T0) =>
    enqueueNotification(
      t.db,
      {
        dedupeKey: `${key}:${GROUP}`,
        chatId: GROUP,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
      },
      at,
    );
  const deliver = (now: Date) =>
    deliverDueNotifications({ db: t.db, sender, now: () => now, logger });
  const rows = () => t.db.select().from(notificationOutbox).orderBy(asc(notificationOutbox.id));

  it("delivers to the supergroup, moves the group's waiting notices there and keeps what was sent in the group", async () => {
    await write("entry-5", ENTRY);
    expect(await deliver(T0)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    const [entryMessage] = emulator.messagesIn(GROUP);
    expect(entryMessage?.text).toContain("Entry submitted");

    emulator.migrateChat(GROUP, SUPERGROUP);
    await write("fill-0", fill(0));
    // Written for the group too, but not due yet (a notice waiting for its turn).
    const later = new Date(T0.getTime() + 60_000);
    await write("fill-1", fill(1), later);

    expect(await deliver(T0)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    const [moved] = emulator.messagesIn(SUPERGROUP);
    expect(moved?.text).toContain("5 @ 190.10 · 5/10");
    expect(emulator.messagesIn(GROUP)).toHaveLength(1);

    const [entryRow, fillRow, waitingRow] = await rows();
    // The entry's message is the group's: its row stays under the group's id.
    expect(entryRow).toMatchObject({ chatId: GROUP, status: "sent" });
    expect(entryRow?.telegramMessageId).toBe(entryMessage?.messageId);
    expect(fillRow).toMatchObject({
      chatId: SUPERGROUP,
      status: "sent",
      telegramMessageId: moved?.messageId,
    });
    expect(waitingRow).toMatchObject({ chatId: SUPERGROUP, status: "pending" });

    // The waiting row now goes straight to the supergroup.
    expect(await deliver(later)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    expect(emulator.messagesIn(SUPERGROUP).at(-1)?.text).toContain("10/10 · complete");
    expect(emulator.messagesIn(GROUP)).toHaveLength(1);
  });

  it("delivers a notice still written for the group's old id, by a sender that has not seen the move", async () => {
    emulator.migrateChat(GROUP, SUPERGROUP);
    await write("closed-6", {
      kind: "TRADE_CLOSED",
      tradeId: 6,
      symbol: "MSFT",
      exitReason: "PROFIT_TAKEN",
      quantity: "10",
      averageEntryPrice: "400.00",
      averageExitPrice: "420.00",
      realizedPnl: "200.00",
      rMultiple: "2",
    });
    expect(await deliver(T0)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    expect(emulator.messagesIn(SUPERGROUP).at(-1)?.text).toContain("MSFT");
    const [row] = await t.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.dedupeKey, `closed-6:${GROUP}`));
    expect(row).toMatchObject({ chatId: SUPERGROUP, status: "sent" });
  });
});
