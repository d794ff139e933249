import { bigint, index, jsonb, pgTable, text, unique } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";
import { alertStatus } from "./enums";

/** A pattern alert from a scanner, stored once per external id whatever number of times it is sent. */
export const alerts = pgTable(
  "alerts",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    externalId: text("external_id").notNull().unique(),
    accountId: bigint("account_id", { mode: "number" }).references(() => brokerAccounts.id),
    symbol: text("symbol").notNull(),
    pattern: text("pattern"),
    score: decimal("score"),
    entryPrice: decimal("entry_price"),
    stopPrice: decimal("stop_price"),
    targetPrice: decimal("target_price"),
    lastPrice: decimal("last_price"),
    source: text("source"),
    /** The request body as received, for the audit trail. */
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    status: alertStatus("status").notNull().default("received"),
    receivedAt: instant("received_at").notNull(),
    expiresAt: instant("expires_at"),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [index("alerts_status_idx").on(t.status, t.expiresAt)],
);

/** The Telegram messages an alert was sent as, so its buttons can be edited when it is decided. */
export const alertMessages = pgTable(
  "alert_messages",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    alertId: bigint("alert_id", { mode: "number" })
      .notNull()
      .references(() => alerts.id),
    chatId: bigint("chat_id", { mode: "number" }).notNull(),
    messageId: bigint("message_id", { mode: "number" }).notNull(),
    sentAt: instant("sent_at").notNull(),
  },
  (t) => [unique("alert_messages_chat_message").on(t.chatId, t.messageId)],
);
