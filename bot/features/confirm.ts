/**
 * Handling presses of Confirm / Cancel buttons (bot/keyboards/confirm.ts). The access gate has
 * already checked the presser's role against the action. Here: Cancel and expiry are refusals
 * that say so in the message; Confirm runs the command's effect once, after the buttons are gone.
 */
import { Composer } from "grammy";
import type { BotContext } from "../context";
import {
  type ConfirmationAction,
  type ConfirmationPress,
  readConfirmation,
} from "../keyboards/confirm";
import { escapeHtml } from "../views/html";

export interface ConfirmationHandlers {
  readonly now: () => Date;
  /**
   * The confirmed effect, e.g. record a decision and enqueue its job. Returns the HTML line that
   * replaces the buttons. It must be idempotent by `press.subject`: two devices can press at once.
   */
  confirm(ctx: BotContext, press: ConfirmationPress): Promise<string>;
}

/** Questions answered recently, remembered so a second press in flight does nothing. */
const REMEMBERED_ANSWERS = 1_000;

/** A composer answering presses of one confirmation action. */
export function handleConfirmation(
  action: ConfirmationAction,
  handlers: ConfirmationHandlers,
): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const answered = new Set<string>();
  composer.callbackQuery(action.pattern, async (ctx) => {
    const press = readConfirmation(action, ctx.callbackQuery.data);
    const original = ctx.callbackQuery.message;
    if (press === null || original === undefined) {
      await ctx.answerCallbackQuery({ text: "This button no longer works.", show_alert: true });
      return;
    }
    // One chat's presses arrive in order, so a press that was in flight while the first one was
    // handled finds the question answered here.
    const question = `${original.chat.id}:${original.message_id}`;
    if (answered.has(question)) {
      await ctx.answerCallbackQuery({ text: "Already answered." });
      return;
    }
    answered.add(question);
    if (answered.size > REMEMBERED_ANSWERS) {
      const oldest = answered.values().next();
      if (oldest.done !== true) answered.delete(oldest.value);
    }
    const originalText = "text" in original ? (original.text ?? "") : "";
    // Editing without a keyboard removes the buttons, so the same question cannot be answered twice.
    const settle = async (outcome: string) => {
      const text = originalText === "" ? outcome : `${escapeHtml(originalText)}\n\n${outcome}`;
      await ctx.editMessageText(text, { parse_mode: "HTML" });
    };
    if (press.answer === "cancel") {
      await ctx.answerCallbackQuery({ text: "Cancelled." });
      await settle("<b>Cancelled.</b> Nothing was done.");
      return;
    }
    if (handlers.now().getTime() >= press.expiresAt.getTime()) {
      await ctx.answerCallbackQuery({
        text: "Too late: this confirmation expired.",
        show_alert: true,
      });
      await settle("<b>Expired.</b> Nothing was done.");
      return;
    }
    await ctx.answerCallbackQuery();
    await settle("<i>Working…</i>");
    let outcome: string;
    try {
      outcome = await handlers.confirm(ctx, press);
    } catch (error) {
      // The effect may or may not have happened: say so rather than leave "Working…" forever.
      await settle("<b>Failed.</b> It may or may not have been done; check before trying again.");
      throw error;
    }
    await settle(outcome);
  });
  return composer;
}
