/**
 * Writing notices to the outbox: one row per recipient chat, keyed so that the same event told
 * twice (a retried job, a second worker) is one message. Always called with the transaction that
 * makes the change the notice reports.
 */
import type { Database } from "../db/database";
import { listAccountRecipients } from "../db/lifecycleQueries";
import { enqueueNotification } from "../db/notificationOutbox";
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

/** Writes the notices for every recipient; returns how many rows were new. */
export async function writeNotices(
  tx: Database,
  chats: readonly number[],
  notices: readonly PendingNotice[],
  at: Date,
): Promise<number> {
  let written = 0;
  for (const { key, notice } of notices) {
    for (const chatId of chats) {
      const added = await enqueueNotification(
        tx,
        {
          dedupeKey: `${key}:${chatId}`,
          chatId,
          kind: notice.kind,
          payload: notice as unknown as Record<string, unknown>,
        },
        at,
      );
      if (added) written += 1;
    }
  }
  return written;
}
