/** The buttons under a pattern alert: Approve, Reject, Adjust (opens /plan prefilled). */
import { InlineKeyboard } from "grammy";
import { defineCallbackAction } from "./callbackData";

export const ALERT_ACTION = defineCallbackAction({
  code: "alr",
  fields: ["answer", "alert"],
  roles: ["admin", "trader"],
});

export type AlertAnswer = "approve" | "reject" | "adjust";

const ANSWER_CODES: Record<AlertAnswer, string> = { approve: "a", reject: "r", adjust: "j" };

export interface AlertPress {
  readonly answer: AlertAnswer;
  readonly alertId: number;
}

/** Approve / Reject / Adjust for one stored alert. */
export function alertKeyboard(alertId: number): InlineKeyboard {
  const data = (answer: AlertAnswer) =>
    ALERT_ACTION.encode({ answer: ANSWER_CODES[answer], alert: alertId });
  return new InlineKeyboard()
    .text("Approve", data("approve"))
    .text("Reject", data("reject"))
    .text("Adjust", data("adjust"));
}

/** Reads a pressed alert button; null for anything else. */
export function readAlertPress(data: string): AlertPress | null {
  const values = ALERT_ACTION.decode(data);
  if (values === null) return null;
  const answer = (Object.keys(ANSWER_CODES) as AlertAnswer[]).find(
    (candidate) => ANSWER_CODES[candidate] === values.answer,
  );
  const alertId = Number(values.alert);
  if (answer === undefined || !Number.isSafeInteger(alertId)) return null;
  return { answer, alertId };
}
