import { and, asc, eq, ne, notInArray } from "drizzle-orm";
import type { Database } from "./database";
import {
  DEFAULT_NOTIFICATION_SETTINGS,
  type NotificationSettings,
  type UserRole,
  users,
} from "./schema";

/** A person who may use the bot. */
export type User = typeof users.$inferSelect;

export interface UserInput {
  readonly telegramUserId: number;
  readonly role: UserRole;
  readonly displayName?: string | null;
}

/**
 * Creates the user or updates role and name: the allowed-users list from the configuration is
 * applied at every start, so this must be repeatable.
 */
export async function upsertUser(db: Database, input: UserInput, at: Date): Promise<User> {
  const [row] = await db
    .insert(users)
    .values({
      telegramUserId: input.telegramUserId,
      role: input.role,
      displayName: input.displayName ?? null,
      createdAt: at,
      updatedAt: at,
    })
    .onConflictDoUpdate({
      target: users.telegramUserId,
      set: {
        role: input.role,
        ...(input.displayName !== undefined ? { displayName: input.displayName } : {}),
        updatedAt: at,
      },
    })
    .returning();
  if (!row) throw new Error("upsert of a user returned no row");
  return row;
}

/**
 * Makes every admin or trader not in `keep` a viewer (account notices go to admins and traders):
 * applies the allowed-users list to those it no longer names. Answers their Telegram ids.
 */
export async function demoteUsersNotIn(
  db: Database,
  keep: readonly number[],
  at: Date,
): Promise<number[]> {
  const rows = await db
    .update(users)
    .set({ role: "viewer", updatedAt: at })
    .where(
      and(
        ne(users.role, "viewer"),
        keep.length === 0 ? undefined : notInArray(users.telegramUserId, [...keep]),
      ),
    )
    .returning({ telegramUserId: users.telegramUserId });
  return rows.map((row) => row.telegramUserId);
}

/** The user with this Telegram id, or null. */
export async function findUserByTelegramId(
  db: Database,
  telegramUserId: number,
): Promise<User | null> {
  const [row] = await db.select().from(users).where(eq(users.telegramUserId, telegramUserId));
  return row ?? null;
}

/** Every user, oldest first. */
export async function listUsers(db: Database): Promise<User[]> {
  return db.select().from(users).orderBy(asc(users.id));
}

export interface UserSettingsChange {
  readonly displayTimeZone?: string;
  readonly notificationSettings?: Partial<NotificationSettings>;
}

/** Changes a user's display time zone and notification settings; null if there is no such user. */
export async function updateUserSettings(
  db: Database,
  telegramUserId: number,
  change: UserSettingsChange,
  at: Date,
): Promise<User | null> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(users)
      .where(eq(users.telegramUserId, telegramUserId))
      .for("update");
    if (!current) return null;
    const [row] = await tx
      .update(users)
      .set({
        ...(change.displayTimeZone !== undefined
          ? { displayTimeZone: change.displayTimeZone }
          : {}),
        notificationSettings: {
          ...DEFAULT_NOTIFICATION_SETTINGS,
          ...current.notificationSettings,
          ...change.notificationSettings,
        },
        updatedAt: at,
      })
      .where(eq(users.id, current.id))
      .returning();
    return row ?? null;
  });
}
