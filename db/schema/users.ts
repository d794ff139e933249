import { bigint, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { instant } from "./columns";
import { userRole } from "./enums";

/** What a trader wants pushed to Telegram; missing keys mean the defaults below. */
export interface NotificationSettings {
  readonly fills: boolean;
  readonly orderUpdates: boolean;
  readonly alerts: boolean;
  readonly dailySummary: boolean;
}

export const DEFAULT_NOTIFICATION_SETTINGS: NotificationSettings = {
  fills: true,
  orderUpdates: true,
  alerts: true,
  dailySummary: true,
};

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
