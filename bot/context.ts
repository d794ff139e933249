import type { ConversationFlavor } from "@grammyjs/conversations";
import type { Context } from "grammy";
import type { UserRole } from "../app/config";

/** Who sent the update, as the access gate established it. */
export interface DeskUser {
  readonly telegramUserId: number;
  readonly role: UserRole;
}

/** A context with the sender's desk identity: what handlers and conversation steps both see. */
export type DeskContext = Context & { deskUser: DeskUser };

/**
 * The context every feature's middleware sees. The access gate runs first and sets `deskUser`,
 * so handlers after it can rely on it; updates from unknown users never get past the gate.
 * `ctx.conversation` enters and leaves conversations (forms such as /plan).
 */
export type BotContext = ConversationFlavor<DeskContext>;

/**
 * The context inside a conversation. Conversations build fresh context objects on every replay;
 * createBot's conversation plugins set `deskUser` on them again from the allowed users.
 */
export type FormContext = DeskContext;
