/**
 * /cancel leaves whatever form is open (a /plan in progress). It is installed before the features
 * that create conversations, so an open form never takes it for an answer.
 */
import { Composer } from "grammy";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import { guardCommand } from "./access";

export const cancelFeature: BotFeature = {
  name: "cancel",
  commands: ["cancel"],
  callbackActions: [],
  create() {
    const composer = new Composer<BotContext>();
    composer.command("cancel", ...guardCommand(commandSpec("cancel")), async (ctx) => {
      const open = Object.values(ctx.conversation.active()).some((count) => count > 0);
      if (!open) {
        await ctx.reply("Nothing to cancel: no form is open. /orders lists working orders.");
        return;
      }
      await ctx.conversation.exitAll();
      await ctx.reply("Cancelled. Nothing was sent.");
    });
    return composer;
  },
};
