/**
 * A user's own settings as the bot and the notice sender use them: how each notice category is
 * delivered (on, silent, off) and the time zone times are shown in. Settings belong to the
 * Telegram user, whatever their role.
 */
import { eq } from "drizzle-orm";
import {
  NOTICE_CATEGORIES,
  type NoticeCategory,
  type NoticeDelivery,
} from "../domain/notifications";
import type { Database } from "./database";
import { type NotificationSettings, type UserRole, users } from "./schema";

/** The trading day's zone, and the display default. */
export const DEFAULT_DISPLAY_TIME_ZONE = "America/New_York";

const DELIVERIES: readonly NoticeDelivery[] = ["on", "silent", "off"];

/** The categories an older boolean flag stood for (rows written before categories existed). */
const LEGACY_FLAGS: Readonly<Record<string, readonly NoticeCategory[]>> = {
  fills: ["fills"],
  orderUpdates: ["submissions", "protection"],
  alerts: ["alerts"],
  dailySummary: ["dailySummary"],
};

/**
 * Reads a stored settings value of either shape: per-category deliveries, or the older booleans
 * (false switches its categories off). Unknown keys and values are ignored.
 */
export function readNotificationSettings(stored: unknown): NotificationSettings {
  const settings: Partial<Record<NoticeCategory, NoticeDelivery>> = {};
  if (typeof stored !== "object" || stored === null) return settings;
  const entries = Object.entries(stored as Record<string, unknown>);
  for (const [key, value] of entries) {
    if (value === false) {
      for (const category of LEGACY_FLAGS[key] ?? []) settings[category] = "off";
    }
  }
  for (const [key, value] of entries) {
    if (
      (NOTICE_CATEGORIES as readonly string[]).includes(key) &&
      (DELIVERIES as readonly unknown[]).includes(value)
    ) {
      settings[key as NoticeCategory] = value as NoticeDelivery;
    }
  }
  return settings;
}

/** A user's settings; defaults (everything on, New York time) for someone without a row. */
export interface UserSettings {
  readonly notifications: NotificationSettings;
  readonly displayTimeZone: string;
}

/** The settings of the user with this Telegram id (the chat id of their private chat). */
export async function loadUserSettings(
  db: Database,
  telegramUserId: number,
): Promise<UserSettings> {
  const [row] = await db
    .select({ settings: users.notificationSettings, zone: users.displayTimeZone })
    .from(users)
    .where(eq(users.telegramUserId, telegramUserId));
  return {
    notifications: readNotificationSettings(row?.settings),
    displayTimeZone: row?.zone ?? DEFAULT_DISPLAY_TIME_ZONE,
  };
}

/** Who is changing their settings: the row is created on first change if the user has none yet. */
export interface SettingsOwner {
  readonly telegramUserId: number;
  readonly role: UserRole;
}

export interface SettingsChange {
  readonly delivery?: { readonly category: NoticeCategory; readonly delivery: NoticeDelivery };
  readonly displayTimeZone?: string;
}

/**
 * Changes one category's delivery and/or the display time zone under a row lock (two presses at
 * once both land), normalising an older stored shape on the way, and logs the change.
 */
export async function changeUserSettings(
  db: Database,
  owner: SettingsOwner,
  change: SettingsChange,
  at: Date,
): Promise<UserSettings> {
  return db.transaction(async (tx) => {
    await tx
      .insert(users)
      .values({
        telegramUserId: owner.telegramUserId,
        role: owner.role,
        createdAt: at,
        updatedAt: at,
      })
      .onConflictDoNothing({ target: users.telegramUserId });
    const [current] = await tx
      .select()
      .from(users)
      .where(eq(users.telegramUserId, owner.telegramUserId))
      .for("update");
    if (!current) throw new Error("user row neither inserted nor found");
    const before = readNotificationSettings(current.notificationSettings);
    const notifications: NotificationSettings =
      change.delivery === undefined
        ? before
        : { ...before, [change.delivery.category]: change.delivery.delivery };
    const displayTimeZone = change.displayTimeZone ?? current.displayTimeZone;
    await tx
      .update(users)
      .set({ notificationSettings: notifications, displayTimeZone, updatedAt: at })
      .where(eq(users.id, current.id));
    return { notifications, displayTimeZone };
  });
}
