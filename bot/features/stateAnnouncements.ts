/**
 * A manual switch (/halt, /reduce, /resume, /flatten) is told to the account's other recipients
 * through the notification outbox, like the automatic kill switch: everyone trading the account
 * hears that it stopped or started again. The one who pressed already has the answer.
 */
import type { TradingStateChange } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { listAccountRecipients } from "../../db/lifecycleQueries";
import { enqueueNotification } from "../../db/notificationOutbox";
import { tradingStateChangedNotice } from "../../domain/notifications";

/** Queues a TRADING_STATE_CHANGED notice for every recipient but the actor; returns how many. */
export async function announceStateChange(
  db: Database,
  accountId: number,
  change: TradingStateChange,
  actorChatId: number,
  at: Date,
): Promise<number> {
  if (!change.changed) return 0;
  const { key, notice } = tradingStateChangedNotice(accountId, change.before, change.after);
  let queued = 0;
  for (const chatId of await listAccountRecipients(db, accountId)) {
    if (chatId === actorChatId) continue;
    const added = await enqueueNotification(
      db,
      {
        dedupeKey: `${key}:${chatId}`,
        chatId,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
      },
      at,
    );
    if (added) queued += 1;
  }
  return queued;
}
