/**
 * The buttons under a plan card: Confirm (only when the plan breaks no rule), Edit, Cancel. The
 * data names the card (a short id the conversation made) and its expiry, so a press of an old
 * card or a late press is recognised whoever handles it.
 */
import { InlineKeyboard } from "grammy";
import { decodeSeconds, defineCallbackAction, encodeSeconds } from "./callbackData";

export const PLAN_CARD_ACTION = defineCallbackAction({
  code: "pln",
  fields: ["answer", "card", "expires"],
  roles: ["admin", "trader"],
});

export type PlanCardAnswer = "confirm" | "edit" | "cancel";

const ANSWER_CODES: Record<PlanCardAnswer, string> = { confirm: "y", edit: "e", cancel: "n" };

export interface PlanCardPress {
  readonly answer: PlanCardAnswer;
  readonly card: string;
  readonly expiresAt: Date;
}

/** Confirm / Edit / Cancel, or Edit / Cancel when the plan cannot be confirmed. */
export function planCardKeyboard(
  card: string,
  expiresAt: Date,
  canConfirm: boolean,
): InlineKeyboard {
  const expires = encodeSeconds(expiresAt);
  const data = (answer: PlanCardAnswer) =>
    PLAN_CARD_ACTION.encode({ answer: ANSWER_CODES[answer], card, expires });
  const keyboard = new InlineKeyboard();
  if (canConfirm) keyboard.text("Confirm", data("confirm"));
  return keyboard.text("Edit", data("edit")).text("Cancel", data("cancel"));
}

/** Reads a pressed plan card button; null for anything else. */
export function readPlanCardPress(data: string): PlanCardPress | null {
  const values = PLAN_CARD_ACTION.decode(data);
  if (values === null) return null;
  const expiresAt = decodeSeconds(values.expires);
  const answer = (Object.keys(ANSWER_CODES) as PlanCardAnswer[]).find(
    (candidate) => ANSWER_CODES[candidate] === values.answer,
  );
  if (expiresAt === null || answer === undefined) return null;
  return { answer, card: values.card, expiresAt };
}
