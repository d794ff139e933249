/**
 * The entry notice a later notice replies to: found by the trade's id, by the order's client order
 * id, or by the trade's entry's client order id, in the chat it was sent to; and found without
 * reading the outbox's whole history, which is kept for good.
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEntryMessage } from "../../db/noticeThreads";
import { enqueueNotification, markNotificationSent } from "../../db/notificationOutbox";
import { notificationOutbox } from "../../db/schema";
import {
  createTestDatabase,
  openRowsReadCounter,
  TEST_DRIVERS,
  type TestDatabase,
} from "../support/database";
import { createAccount, enterLong } from "./fixtures";

const AT = new Date("2026-03-02T15:00:00Z");

/** Queues a notice and, unless `pending`, marks it sent as Telegram message `messageId`. */
async function notice(
  db: TestDatabase["db"],
  options: {
    chatId: number;
    kind: string;
    payload: Record<string, unknown>;
    messageId: number;
    pending?: boolean;
  },
): Promise<void> {
  const key = `test-${options.chatId}-${options.kind}-${options.messageId}`;
  await enqueueNotification(
    db,
    { dedupeKey: key, chatId: options.chatId, kind: options.kind, payload: options.payload },
    AT,
  );
  if (options.pending) return;
  const [row] = await db
    .select({ id: notificationOutbox.id })
    .from(notificationOutbox)
    .where(eq(notificationOutbox.dedupeKey, key));
  if (!row) throw new Error("not queued");
  await markNotificationSent(db, row.id, options.messageId, AT);
}

describe.each(TEST_DRIVERS)("the entry notice a notice replies to, on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("is the sent entry notice of the trade, in the same chat", async () => {
    const accountId = await createAccount(t.db);
    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "NFLX" });
    const clientOrderId = entry.order.clientOrderId;
    await notice(t.db, {
      chatId: 7001,
      kind: "ENTRY_SUBMITTED",
      payload: { kind: "ENTRY_SUBMITTED", tradeId: null, clientOrderId },
      messageId: 501,
    });
    await notice(t.db, {
      chatId: 7002,
      kind: "ENTRY_SUBMITTED",
      payload: { kind: "ENTRY_SUBMITTED", tradeId: trade.id, clientOrderId },
      messageId: 502,
      pending: true,
    });
    await notice(t.db, {
      chatId: 7001,
      kind: "ORDER_FILLED",
      payload: { kind: "ORDER_FILLED", tradeId: trade.id, clientOrderId },
      messageId: 503,
    });
    // By the order's client order id, and by the trade (through its entry's client order id).
    expect(await findEntryMessage(t.db, 7001, { clientOrderId })).toBe(501);
    expect(await findEntryMessage(t.db, 7001, { tradeId: trade.id })).toBe(501);
    // Not sent yet in that chat, or not in that chat at all.
    expect(await findEntryMessage(t.db, 7002, { tradeId: trade.id })).toBeNull();
    expect(await findEntryMessage(t.db, 7003, { clientOrderId })).toBeNull();
  });
});

describe("the entry notice a notice replies to, beside a long history", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("is found reading a handful of rows of 3,000 sent notices", async () => {
    const accountId = await createAccount(t.db);
    const { trade } = await enterLong(t.db, accountId, { symbol: "ORCL" });
    await notice(t.db, {
      chatId: 7101,
      kind: "ENTRY_SUBMITTED",
      payload: { kind: "ENTRY_SUBMITTED", tradeId: trade.id, clientOrderId: "x" },
      messageId: 601,
    });
    // Fills and exits in this chat and others since, all sent.
    await t.db.execute(sql`insert into notification_outbox (dedupe_key, chat_id, kind, payload,
        status, next_attempt_at, telegram_message_id, created_at, sent_at)
      select 'history-' || g, 7100 + (g % 3), 'ORDER_FILLED',
        jsonb_build_object('kind', 'ORDER_FILLED', 'tradeId', g), 'sent', now(), 10000 + g,
        now(), now()
      from generate_series(1, 3000) g`);
    await t.db.execute(sql`analyze notification_outbox`);
    const counter = await openRowsReadCounter(t, "notification_outbox");
    try {
      const before = await counter.read();
      expect(await findEntryMessage(counter.db, 7101, { tradeId: trade.id })).toBe(601);
      expect((await counter.read()) - before).toBeLessThan(50);
    } finally {
      await counter.close();
    }
  });
});
