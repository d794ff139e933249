import { bigint, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import type { NoticeCategory, NoticeDelivery } from "../../domain/notifications";
import { instant } from "./columns";
import { userRole } from "./enums";

/**
 * How a user wants each notice category delivered (on, silent, off); a missing category is "on".
 * Rows written before categories existed held booleans (fills, orderUpdates, alerts,
 * dailySummary): migration 0003 rewrote them, and readers still accept them (db/userSettings.ts).
 */
export type NotificationSettings = Partial<Record<NoticeCategory, NoticeDelivery>>;

export const DEFAULT_NOTIFICATION_SETTINGS: NotificationSettings = {};

/** People who may use the bot, keyed by their Telegram user id. */
export const users = pgTable("users", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  telegramUserId: bigint("telegram_user_id", { mode: "number" }).notNull().unique(),
  displayName: text("display_name"),
  role: userRole("role").notNull(),
  /** IANA zone for showing times; the trading day itself is always America/New_York. */
  displayTimeZone: text("display_time_zone").notNull().default("America/New_York"),
  notificationSettings: jsonb("notification_settings")
    .$type<NotificationSettings>()
    .notNull()
    .default(DEFAULT_NOTIFICATION_SETTINGS),
  createdAt: instant("created_at").notNull(),
  updatedAt: instant("updated_at").notNull(),
});
