/**
 * Which Telegram message a notice answers: fills, protection and exits reply to the message that
 * announced the trade's entry, found among the sent outbox rows (they keep the Telegram message
 * id of what was sent).
 */
import { and, desc, eq, isNotNull, or, sql } from "drizzle-orm";
import type { Database } from "./database";
import { alertMessages, decisions, notificationOutbox, orders } from "./schema";

/** What identifies the trade a notice is about. */
export interface ThreadKey {
  readonly clientOrderId?: string | null;
  readonly tradeId?: number | null;
}

/**
 * The Telegram message id of the sent "entry submitted" notice of this order or trade in this
 * chat, or null. A trade is matched by its own id in the notice or by its entry order's client
 * order id (exit fills carry the exit's id, not the entry's).
 */
export async function findEntryMessage(
  db: Database,
  chatId: number,
  key: ThreadKey,
): Promise<number | null> {
  const clientOrderId = key.clientOrderId ?? null;
  const tradeId = key.tradeId ?? null;
  if (clientOrderId === null && tradeId === null) return null;
  const matches = [
    clientOrderId === null
      ? undefined
      : sql`${notificationOutbox.payload} ->> 'clientOrderId' = ${clientOrderId}`,
    tradeId === null
      ? undefined
      : sql`${notificationOutbox.payload} ->> 'tradeId' = ${String(tradeId)}`,
    tradeId === null
      ? undefined
      : sql`${notificationOutbox.payload} ->> 'clientOrderId' in (select ${orders.clientOrderId} from ${orders} where ${orders.tradeId} = ${tradeId} and ${orders.role} = 'ENTRY')`,
  ];
  const [row] = await db
    .select({ messageId: notificationOutbox.telegramMessageId })
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.chatId, chatId),
        // Literals, not parameters: the partial index of sent entry notices (migration 0013)
        // serves only a statement whose own text implies its condition.
        sql`${notificationOutbox.kind} = 'ENTRY_SUBMITTED'`,
        sql`${notificationOutbox.status} = 'sent'`,
        isNotNull(notificationOutbox.telegramMessageId),
        or(...matches),
      ),
    )
    .orderBy(desc(notificationOutbox.id))
    .limit(1);
  return row?.messageId ?? null;
}

/**
 * The message a decision was offered in, in this chat: the plan card it was confirmed on (kept on
 * the decision), else the pattern alert's message for a decision approved from an alert
 * (alert_messages keeps them), or null.
 */
export async function findDecisionMessage(
  db: Database,
  chatId: number,
  decisionId: number,
): Promise<number | null> {
  const [card] = await db
    .select({ messageId: decisions.planMessageId })
    .from(decisions)
    .where(and(eq(decisions.id, decisionId), eq(decisions.planChatId, chatId)))
    .limit(1);
  if (card?.messageId != null) return card.messageId;
  const [row] = await db
    .select({ messageId: alertMessages.messageId })
    .from(decisions)
    .innerJoin(alertMessages, eq(alertMessages.alertId, decisions.alertId))
    .where(and(eq(decisions.id, decisionId), eq(alertMessages.chatId, chatId)))
    .orderBy(desc(alertMessages.id))
    .limit(1);
  return row?.messageId ?? null;
}
