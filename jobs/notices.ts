/**
 * Writing notices to the outbox: one row per recipient chat, keyed so that the same event told
 * twice (a retried job, a second worker) is one message. Always called with the transaction that
 * makes the change the notice reports.
 */
import type { Database } from "../db/database";
import { listAccountRecipients } from "../db/lifecycleQueries";
import { enqueueNotification, type NotificationInput } from "../db/notificationOutbox";
import { isTransaction } from "../db/optimisticWrites";
import type { Notice } from "../domain/notifications";
import type { JobDeps } from "./context";

/** A notice to write, with the key that makes it once-only (e.g. `fill-<execution id>`). */
export interface PendingNotice {
  readonly key: string;
  readonly notice: Notice;
}

/** Finds an account's recipients, remembered for a short while (they change rarely). */
export function createRecipientLookup(
  deps: Pick<JobDeps, "db" | "recipientsFor">,
  ttlMs = 30_000,
): (accountId: number) => Promise<readonly number[]> {
  const cache = new Map<number, { readonly at: number; readonly chats: readonly number[] }>();
  return async (accountId) => {
    if (deps.recipientsFor) return deps.recipientsFor(accountId);
    const hit = cache.get(accountId);
    const t = performance.now();
    if (hit && t - hit.at < ttlMs) return hit.chats;
    const chats = await listAccountRecipients(deps.db, accountId);
    cache.set(accountId, { at: t, chats });
    return chats;
  };
}

/**
 * Writes the notices for every recipient; returns how many rows were new. A key given twice is
 * written once (the first one, as the outbox would keep it). Inside a transaction the inserts are
 * sent together: on its one connection they run in the order given, in one round trip. Outside
 * one they go one after the other, so the outbox keeps their order.
 */
export async function writeNotices(
  tx: Database,
  chats: readonly number[],
  notices: readonly PendingNotice[],
  at: Date,
): Promise<number> {
  const keys = new Set<string>();
  const rows: NotificationInput[] = [];
  for (const { key, notice } of notices) {
    if (keys.has(key)) continue;
    keys.add(key);
    for (const chatId of chats) {
      rows.push({
        dedupeKey: `${key}:${chatId}`,
        chatId,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
      });
    }
  }
  let written = 0;
  if (!isTransaction(tx)) {
    for (const row of rows) if (await enqueueNotification(tx, row, at)) written += 1;
    return written;
  }
  const added = await Promise.allSettled(rows.map((row) => enqueueNotification(tx, row, at)));
  for (const outcome of added) {
    if (outcome.status === "rejected") throw outcome.reason;
    if (outcome.value) written += 1;
  }
  return written;
}
