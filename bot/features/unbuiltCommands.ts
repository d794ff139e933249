/**
 * Catalogued commands no feature handles yet answer so, behind the same guards they will have,
 * and anything else that looks like a command in a private chat points to /help.
 */
import { Composer } from "grammy";
import { COMMANDS } from "../commands";
import type { BotContext } from "../context";
import type { FeatureSetup } from "../feature";
import { guardCommand } from "./access";

/** Installed after every feature, so built commands never reach it. */
export function createUnbuiltCommands(setup: FeatureSetup): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  for (const spec of COMMANDS) {
    if (setup.availableCommands.has(spec.command)) continue;
    composer.command(spec.command, ...guardCommand(spec), async (ctx) => {
      await ctx.reply(`/${spec.command} is not available yet. /help lists what works now.`);
    });
  }
  composer.chatType("private").hears(/^\/\S/, async (ctx) => {
    await ctx.reply("I don't know that command. /help lists what I can do.");
  });
  return composer;
}
