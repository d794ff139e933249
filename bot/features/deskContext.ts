/**
 * What the desk's commands share: the database and the account the user trades, the reader's
 * display time zone, and the actor name written to the audit trail.
 */

import { findAccountForUser } from "../../db/accountOfUser";
import type { BrokerAccount } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { loadUserSettings } from "../../db/userSettings";
import type { BotContext } from "../context";
import type { BotDeps } from "../feature";

export interface DeskScope {
  readonly db: Database;
  readonly account: BrokerAccount;
  /** The reader's display time zone. */
  readonly timeZone: string;
  /** `user:<telegram id>`, for the audit trail. */
  readonly actor: string;
}

/**
 * The database and account for this update's user, or null after telling them why not (no
 * database configured, no broker account yet).
 */
export async function deskScopeOf(ctx: BotContext, deps: BotDeps): Promise<DeskScope | null> {
  const say = async (text: string) => {
    if (ctx.callbackQuery !== undefined) await ctx.answerCallbackQuery({ text, show_alert: true });
    else await ctx.reply(text);
  };
  const db = deps.db;
  if (db === undefined) {
    await say("The desk's database is not connected, so I cannot answer that.");
    return null;
  }
  const userId = ctx.deskUser.telegramUserId;
  const [account, settings] = await Promise.all([
    findAccountForUser(db, userId),
    loadUserSettings(db, userId),
  ]);
  if (account === null) {
    await say("There is no broker account on this desk yet.");
    return null;
  }
  return { db, account, timeZone: settings.displayTimeZone, actor: `user:${userId}` };
}

/** How the user is named in reasons shown to other traders: @username, else first name, else id. */
export function actorName(ctx: BotContext): string {
  const from = ctx.from;
  if (from?.username !== undefined) return `@${from.username}`;
  return from?.first_name ?? `user ${ctx.deskUser.telegramUserId}`;
}

/** The text after the command, trimmed ("" when none). */
export function commandArguments(ctx: BotContext): string {
  return typeof ctx.match === "string" ? ctx.match.trim() : "";
}
