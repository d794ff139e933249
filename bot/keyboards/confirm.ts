/**
 * Confirm / Cancel buttons for dangerous commands (/close, /halt, /flatten, /resume, plan
 * submission). The buttons carry their expiry, so a stale confirmation is refused however late it
 * is pressed; a timeout is a refusal.
 */
import { InlineKeyboard } from "grammy";
import type { UserRole } from "../../app/config";
import {
  type CallbackAction,
  decodeSeconds,
  defineCallbackAction,
  encodeSeconds,
} from "./callbackData";

export type ConfirmationAction = CallbackAction<"answer" | "subject" | "expires">;

export type ConfirmationAnswer = "confirm" | "cancel";

export interface ConfirmationPress {
  readonly answer: ConfirmationAnswer;
  /** What is being confirmed: a decision id, a symbol, an order id. */
  readonly subject: string;
  readonly expiresAt: Date;
}

const ANSWER_CODES: Record<ConfirmationAnswer, string> = { confirm: "y", cancel: "n" };

/** Declares the callback action of one kind of confirmation and who may answer it. */
export function defineConfirmation(code: string, roles: readonly UserRole[]): ConfirmationAction {
  return defineCallbackAction({ code, fields: ["answer", "subject", "expires"], roles });
}

/** Confirm and Cancel buttons for `subject`, refused once `expiresAt` has passed. */
export function confirmKeyboard(
  action: ConfirmationAction,
  subject: string,
  expiresAt: Date,
  labels: { readonly confirm: string; readonly cancel: string } = {
    confirm: "Confirm",
    cancel: "Cancel",
  },
): InlineKeyboard {
  const expires = encodeSeconds(expiresAt);
  const data = (answer: ConfirmationAnswer) =>
    action.encode({ answer: ANSWER_CODES[answer], subject, expires });
  return new InlineKeyboard()
    .text(labels.confirm, data("confirm"))
    .text(labels.cancel, data("cancel"));
}

/** Reads a pressed confirmation button; null if the data is not this action's. */
export function readConfirmation(
  action: ConfirmationAction,
  data: string,
): ConfirmationPress | null {
  const values = action.decode(data);
  if (values === null) return null;
  const expiresAt = decodeSeconds(values.expires);
  const answer =
    values.answer === ANSWER_CODES.confirm
      ? "confirm"
      : values.answer === ANSWER_CODES.cancel
        ? "cancel"
        : null;
  if (expiresAt === null || answer === null) return null;
  return { answer, subject: values.subject, expiresAt };
}
