import { sql } from "drizzle-orm";
import { bigint, index, integer, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { instant } from "./columns";
import { outboxStatus } from "./enums";

/**
 * Messages to push to Telegram, written in the same transaction as the change they report and
 * sent by the notify job. The dedupe key makes "tell the trader about fill X" happen once.
 */
export const notificationOutbox = pgTable(
  "notification_outbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    dedupeKey: text("dedupe_key").notNull().unique(),
    chatId: bigint("chat_id", { mode: "number" }).notNull(),
    kind: text("kind").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    status: outboxStatus("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: instant("next_attempt_at").notNull(),
    lastError: text("last_error"),
    telegramMessageId: bigint("telegram_message_id", { mode: "number" }),
    createdAt: instant("created_at").notNull(),
    sentAt: instant("sent_at"),
  },
  (t) => [
    index("notification_outbox_due_idx").on(t.status, t.nextAttemptAt),
    // The entry notice a fill's or an exit's notice replies to, newest first within its chat:
    // sent rows are kept for good, so without it every notice read them all.
    index("notification_outbox_entry_thread_idx")
      .on(t.chatId, t.id)
      .where(sql`${t.kind} = 'ENTRY_SUBMITTED' and ${t.status} = 'sent'`),
  ],
);
