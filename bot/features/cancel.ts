/**
 * /cancel leaves whatever form is open (a /plan in progress). It is installed before the features
 * that create conversations, so no other handler takes it first; an open form gets it and answers
 * it itself, because only the form knows the plan cards it showed: a Confirm of one may still be
 * in flight, and the form claims the card before saying nothing was sent (bot/features/plan.ts).
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
    composer.command("cancel", ...guardCommand(commandSpec("cancel")), async (ctx, next) => {
      const open = Object.values(ctx.conversation.active()).some((count) => count > 0);
      if (!open) {
        await ctx.reply("Nothing to cancel: no form is open. /orders lists working orders.");
        return;
      }
      await next();
    });
    return composer;
  },
};
