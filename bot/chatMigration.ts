/**
 * A group Telegram upgraded to a supergroup gets a new chat id: the old one refuses every call.
 * Telegram says so twice, with a service message in the group (migrate_to_chat_id) and one in the
 * supergroup (migrate_from_chat_id). Either moves the chat's records to the new id, as a notice
 * send refused with migrate_to_chat_id does (jobs/notify.ts): the notices still waiting
 * (moveChatNotifications; sent ones keep the old id their message ids belong to) and a form open
 * in the group. Runs before the access gate and the forms: whoever upgraded the group, the records
 * move, and an open form never takes the service message for an answer.
 */
import { Composer } from "grammy";
import { moveChatNotifications } from "../db/notificationOutbox";
import type { BotContext } from "./context";
import type { BotDeps } from "./feature";
import { moveSavedForm } from "./features/planStorage";

/** The old and new ids a service message names, or null for any other update. */
export function chatMigrationOf(ctx: BotContext): { from: number; to: number } | null {
  const message = ctx.message;
  if (message === undefined) return null;
  if (message.migrate_to_chat_id !== undefined) {
    return { from: message.chat.id, to: message.migrate_to_chat_id };
  }
  if (message.migrate_from_chat_id !== undefined) {
    return { from: message.migrate_from_chat_id, to: message.chat.id };
  }
  return null;
}

export function chatMigration(
  deps: Pick<BotDeps, "db" | "conversationStorage" | "logger">,
): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.use(async (ctx, next) => {
    const migration = chatMigrationOf(ctx);
    if (migration === null) return next();
    const { from, to } = migration;
    const moved = deps.db === undefined ? 0 : await moveChatNotifications(deps.db, from, to);
    await moveSavedForm(deps.conversationStorage, from, to);
    deps.logger.warn(
      { chatId: from, movedToChatId: to, notices: moved },
      "group upgraded to a supergroup: its records follow it",
    );
  });
  return composer;
}
