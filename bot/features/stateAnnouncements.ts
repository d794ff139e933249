/**
 * A manual switch (/halt, /reduce, /resume, /flatten) is told to the account's other recipients
 * through the notification outbox, like the automatic kill switch: everyone trading the account
 * hears that it stopped or started again. The one who pressed already has the answer.
 */
import type { TradingStateChange } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { listAccountRecipients } from "../../db/lifecycleQueries";
import { enqueueNotification } from "../../db/notificationOutbox";
import type { TradingStateChangedNotice } from "../../domain/notifications";

/** Queues a TRADING_STATE_CHANGED notice for every recipient but the actor; returns how many. */
export async function announceStateChange(
  db: Database,
  accountId: number,
  change: TradingStateChange,
  actorChatId: number,
  at: Date,
): Promise<number> {
  if (!change.changed) return 0;
  const notice: TradingStateChangedNotice = {
    kind: "TRADING_STATE_CHANGED",
    accountId,
    from: change.before.mode,
    to: change.after.mode,
    setBy: change.after.setBy,
    reason: change.after.reason,
    pnlToday: null,
    lossLimit: null,
  };
  let queued = 0;
  for (const chatId of await listAccountRecipients(db, accountId)) {
    if (chatId === actorChatId) continue;
    const added = await enqueueNotification(
      db,
      {
        dedupeKey: `state-${accountId}-${change.after.since}-${change.after.mode}:${chatId}`,
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
