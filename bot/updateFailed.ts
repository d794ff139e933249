/**
 * The answer to an update whose handling failed (the database, Redis or the broker did not
 * answer): the trader is told instead of left waiting on a silent chat or a spinning button.
 */
import type { Context } from "grammy";
import type { Logger } from "pino";

/** What the trader reads: it may have gone through in part, so they look before trying again. */
export const UPDATE_FAILED_TEXT =
  "That did not go through: the desk could not finish it (its database, queue or broker did not answer). Check /orders and /positions before you try again.";

/** Tells the sender of a failed update; a failure to tell them is only logged. */
export async function tellUpdateFailed(ctx: Context, logger: Logger): Promise<void> {
  try {
    if (ctx.callbackQuery !== undefined) {
      try {
        await ctx.answerCallbackQuery({ text: UPDATE_FAILED_TEXT, show_alert: true });
        return;
      } catch (error) {
        // Already answered (a Confirm's "Working…" answers first) or too old: Telegram takes
        // one answer per press, so the chat is where the trader can still read it.
        if (ctx.chat === undefined) throw error;
      }
    }
    if (ctx.chat !== undefined) await ctx.reply(UPDATE_FAILED_TEXT);
  } catch (error) {
    logger.warn({ err: error, updateId: ctx.update.update_id }, "update failure not told");
  }
}
