/**
 * The command menu Telegram shows next to the message field. Telegram has no per-role scope, so
 * each allowed user gets a menu scoped to their private chat with the commands their role can use;
 * everyone else sees /start and /help, and groups only what works in groups.
 */
import type { Api } from "grammy";
import type { BotCommand, BotCommandScope } from "grammy/types";
import type { Logger } from "pino";
import type { UserRole } from "../../app/config";
import { COMMANDS, type CommandName, type CommandSpec, roleMayUse } from "../commands";

export interface CommandMenu {
  readonly scope: BotCommandScope;
  readonly commands: readonly BotCommand[];
}

/** The menus to publish for these users, given the commands that work. */
export function buildCommandMenus(
  allowedUsers: ReadonlyMap<number, UserRole>,
  available: ReadonlySet<CommandName>,
): CommandMenu[] {
  const working = COMMANDS.filter((spec) => available.has(spec.command));
  const entries = (specs: readonly CommandSpec[]) =>
    specs.map((spec) => ({ command: spec.command, description: spec.description }));
  const menus: CommandMenu[] = [
    {
      scope: { type: "default" },
      commands: entries(
        working.filter((spec) => spec.command === "start" || spec.command === "help"),
      ),
    },
    {
      scope: { type: "all_group_chats" },
      commands: entries(working.filter((spec) => !spec.privateOnly && spec.command !== "start")),
    },
  ];
  for (const [telegramUserId, role] of allowedUsers) {
    menus.push({
      // A private chat's id is the user's id.
      scope: { type: "chat", chat_id: telegramUserId },
      commands: entries(working.filter((spec) => roleMayUse(spec, role))),
    });
  }
  return menus;
}

/**
 * Publishes the menus. A menu that fails (typically a user who never opened a chat with the bot:
 * "chat not found") is logged and skipped: the bot works without it.
 */
export async function publishCommandMenus(
  api: Api,
  menus: readonly CommandMenu[],
  logger: Logger,
): Promise<{ readonly published: number; readonly failed: number }> {
  let published = 0;
  let failed = 0;
  for (const menu of menus) {
    try {
      await api.setMyCommands([...menu.commands], { scope: menu.scope });
      published += 1;
    } catch (error) {
      failed += 1;
      logger.warn({ scope: menu.scope, err: error }, "command menu not published");
    }
  }
  return { published, failed };
}
