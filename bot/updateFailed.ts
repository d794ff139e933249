/**
 * The answer to an update whose handling failed (the database, Redis, the broker or Telegram
 * itself did not answer): the trader is told instead of left waiting on a silent chat or a
 * spinning button, and told what failed.
 */
import { type Context, GrammyError, HttpError } from "grammy";
import type { Logger } from "pino";

/** What the trader reads: it may have gone through in part, so they look before trying again. */
export const UPDATE_FAILED_TEXT =
  "That did not go through: the desk could not finish it (its database, queue or broker did not answer). Check /orders and /positions before you try again.";

/** Telegram answered a call of the desk's with an error (a message it refused to send or edit). */
export const TELEGRAM_REFUSED_TEXT =
  "That did not go through: Telegram refused a message the desk sent, so it stopped part way. Check /orders and /positions before you try again.";

/** A call to Telegram got no answer (network, or Telegram down). */
export const TELEGRAM_UNREACHED_TEXT =
  "That did not go through: Telegram did not answer the desk, so it stopped part way. Check /orders and /positions before you try again.";

/** The words for what failed; an unknown cause reads as the desk's own services. */
export function updateFailedText(error?: unknown): string {
  if (error instanceof GrammyError) return TELEGRAM_REFUSED_TEXT;
  if (error instanceof HttpError) return TELEGRAM_UNREACHED_TEXT;
  return UPDATE_FAILED_TEXT;
}

/**
 * Tells the sender of a failed update what failed (`error`, the handler's error); a failure to
 * tell them is only logged.
 */
export async function tellUpdateFailed(
  ctx: Context,
  logger: Logger,
  error?: unknown,
): Promise<void> {
  const text = updateFailedText(error);
  try {
    if (ctx.callbackQuery !== undefined) {
      try {
        await ctx.answerCallbackQuery({ text, show_alert: true });
        return;
      } catch (refused) {
        // Already answered (a Confirm's "Working…" answers first) or too old: Telegram takes
        // one answer per press, so the chat is where the trader can still read it.
        if (ctx.chat === undefined) throw refused;
      }
    }
    if (ctx.chat !== undefined) await ctx.reply(text);
  } catch (failure) {
    logger.warn({ err: failure, updateId: ctx.update.update_id }, "update failure not told");
  }
}
