/**
 * A manual switch (/halt, /reduce, /resume, /flatten) is told to the account's other recipients
 * through the notification outbox, like the automatic kill switch: everyone trading the account
 * hears that it stopped or started again. The one who pressed already has the answer.
 */
import { changeTradingState, type TradingStateChange } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { listAccountRecipients } from "../../db/lifecycleQueries";
import { enqueueNotification } from "../../db/notificationOutbox";
import { tradingStateChangedNotice } from "../../domain/notifications";
import type { TradingState } from "../../domain/tradingState";

/**
 * Changes the account's trading state by hand and queues its announcement in the same
 * transaction, so the change is never made without the others hearing of it.
 */
export async function switchTradingState(
  db: Database,
  request: {
    readonly accountId: number;
    readonly decide: (current: TradingState) => TradingState;
    readonly actor: string;
    readonly actorChatId: number;
    readonly at: Date;
  },
): Promise<TradingStateChange | null> {
  return db.transaction(async (tx) => {
    const change = await changeTradingState(
      tx,
      request.accountId,
      request.decide,
      request.actor,
      request.at,
    );
    if (change !== null) {
      await announceStateChange(tx, request.accountId, change, request.actorChatId, request.at);
    }
    return change;
  });
}

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
