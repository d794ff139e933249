import type { Context } from "grammy";
import type { UserRole } from "../app/config";

/** Who sent the update, as the access gate established it. */
export interface DeskUser {
  readonly telegramUserId: number;
  readonly role: UserRole;
}

/**
 * The context every feature sees. The access gate runs first and sets `deskUser`, so handlers
 * after it can rely on it; updates from unknown users never get past the gate.
 */
export type BotContext = Context & { deskUser: DeskUser };
