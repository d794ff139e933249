/** /start and /help. */
import { Composer } from "grammy";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import { renderHelp } from "../views/help";
import { escapeHtml } from "../views/html";
import { guardCommand } from "./access";

export const startFeature: BotFeature = {
  name: "start",
  commands: ["start", "help"],
  callbackActions: [],
  create(setup) {
    const composer = new Composer<BotContext>();
    const help = (ctx: BotContext) => renderHelp(ctx.deskUser.role, setup.availableCommands);

    composer.command("start", ...guardCommand(commandSpec("start")), async (ctx) => {
      const name = ctx.from?.first_name ?? "there";
      const greeting = `Hello, ${escapeHtml(name)}. You are signed in as <b>${ctx.deskUser.role}</b>.`;
      await ctx.reply(`${greeting}\n\n${help(ctx)}`, { parse_mode: "HTML" });
    });

    composer.command("help", ...guardCommand(commandSpec("help")), async (ctx) => {
      await ctx.reply(help(ctx), { parse_mode: "HTML" });
    });

    return composer;
  },
};
