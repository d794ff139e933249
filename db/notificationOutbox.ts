import { and, asc, eq, gt, inArray, lt, lte, notExists, or, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { Database } from "./database";
import { notificationOutbox } from "./schema";

/** A message waiting in (or sent from) the outbox. */
export type OutboxMessage = typeof notificationOutbox.$inferSelect;

export interface NotificationInput {
  /** The same key twice is one message: `fill:<execution id>:<chat id>`. */
  readonly dedupeKey: string;
  readonly chatId: number;
  readonly kind: string;
  readonly payload: Record<string, unknown>;
}

/**
 * Queues a message for Telegram; pass the transaction that makes the change it reports. Returns
 * false when a message with this dedupe key was queued before (nothing is added).
 */
export async function enqueueNotification(
  db: Database,
  input: NotificationInput,
  at: Date,
): Promise<boolean> {
  const rows = await db
    .insert(notificationOutbox)
    .values({
      dedupeKey: input.dedupeKey,
      chatId: input.chatId,
      kind: input.kind,
      payload: JSON.parse(JSON.stringify(input.payload)) as Record<string, unknown>,
      nextAttemptAt: at,
      createdAt: at,
    })
    .onConflictDoNothing({ target: notificationOutbox.dedupeKey })
    .returning({ id: notificationOutbox.id });
  return rows.length > 0;
}

/** Which rows a sender takes, by kind. */
export interface ClaimKinds {
  /** The kinds the sender can deliver. */
  readonly kinds: readonly string[];
  /** Rows of other kinds are taken once written at or before this time (to be given up). */
  readonly othersWrittenBy: Date;
}

/**
 * Takes up to `limit` due messages for sending and leases them for `leaseMs`: concurrent senders
 * skip each other's rows, and a sender that dies lets its lease lapse so another retries. A chat's
 * messages go in the order written: none is taken while an earlier one of its chat waits for a
 * retry or is leased to another sender (a fill is never told before its entry). With `only`, rows
 * of kinds the sender cannot deliver are left alone, untouched, until they are old: a sender that
 * knows them takes them meanwhile, and being left due they hold none of their chat's rows back.
 */
export async function claimDueNotifications(
  db: Database,
  limit: number,
  leaseMs: number,
  at: Date,
  only?: ClaimKinds,
): Promise<OutboxMessage[]> {
  return db.transaction(async (tx) => {
    // One claim at a time, each seeing the leases of the one before: a claim running beside
    // another would skip its locked rows and could take a later row of the same chat.
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended('notification-outbox-claim', 0))`,
    );
    const earlier = alias(notificationOutbox, "earlier");
    const due = await tx
      .select({ id: notificationOutbox.id })
      .from(notificationOutbox)
      .where(
        and(
          eq(notificationOutbox.status, "pending"),
          lte(notificationOutbox.nextAttemptAt, at),
          only === undefined
            ? undefined
            : or(
                inArray(notificationOutbox.kind, [...only.kinds]),
                lte(notificationOutbox.createdAt, only.othersWrittenBy),
              ),
          notExists(
            tx
              .select({ id: earlier.id })
              .from(earlier)
              .where(
                and(
                  eq(earlier.chatId, notificationOutbox.chatId),
                  lt(earlier.id, notificationOutbox.id),
                  eq(earlier.status, "pending"),
                  gt(earlier.nextAttemptAt, at),
                ),
              ),
          ),
        ),
      )
      .orderBy(asc(notificationOutbox.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    if (due.length === 0) return [];
    const claimed = await tx
      .update(notificationOutbox)
      .set({
        attempts: sql`${notificationOutbox.attempts} + 1`,
        nextAttemptAt: new Date(at.getTime() + leaseMs),
      })
      .where(
        inArray(
          notificationOutbox.id,
          due.map((d) => d.id),
        ),
      )
      .returning();
    // UPDATE returns rows in no set order (a retried row's new version sits after later rows).
    return claimed.sort((a, b) => a.id - b.id);
  });
}

/**
 * Keeps the lease of messages still being sent until `until`, so no other sender takes them while
 * their delivery outlasts the first lease. Messages no longer pending are left alone.
 */
export async function extendNotificationLeases(
  db: Database,
  ids: readonly number[],
  until: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(notificationOutbox)
    .set({ nextAttemptAt: until })
    .where(
      and(
        inArray(notificationOutbox.id, [...ids]),
        eq(notificationOutbox.status, "pending"),
        lt(notificationOutbox.nextAttemptAt, until),
      ),
    );
}

/**
 * Moves the messages still waiting for a chat to its new id (a group Telegram upgraded to a
 * supergroup); sent ones stay, their message ids being the old chat's. Returns how many moved.
 */
export async function moveChatNotifications(
  db: Database,
  fromChatId: number,
  toChatId: number,
): Promise<number> {
  const moved = await db
    .update(notificationOutbox)
    .set({ chatId: toChatId })
    .where(and(eq(notificationOutbox.chatId, fromChatId), eq(notificationOutbox.status, "pending")))
    .returning({ id: notificationOutbox.id });
  return moved.length;
}

/** Marks a message delivered. */
export async function markNotificationSent(
  db: Database,
  id: number,
  telegramMessageId: number | null,
  at: Date,
): Promise<void> {
  await db
    .update(notificationOutbox)
    .set({ status: "sent", sentAt: at, telegramMessageId, lastError: null })
    .where(eq(notificationOutbox.id, id));
}

/**
 * Records a failed delivery: retried at `retryAt`, or given up when `retryAt` is null. With
 * `countAttempt: false` the try the claim counted is taken back (a flood wait is no attempt).
 */
export async function markNotificationFailed(
  db: Database,
  id: number,
  error: string,
  retryAt: Date | null,
  options: { readonly countAttempt?: boolean } = {},
): Promise<void> {
  const attempts =
    options.countAttempt === false
      ? { attempts: sql`greatest(${notificationOutbox.attempts} - 1, 0)` }
      : {};
  await db
    .update(notificationOutbox)
    .set(
      retryAt
        ? { lastError: error, nextAttemptAt: retryAt, ...attempts }
        : { lastError: error, status: "failed", ...attempts },
    )
    .where(eq(notificationOutbox.id, id));
}
