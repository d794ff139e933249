/** Every Telegram copy of an alert, rewritten once it is decided or expired. */
import type { Api } from "grammy";
import { type Alert, findAlert, listAlertMessages } from "../../db/alerts";
import type { BotDeps } from "../feature";
import { renderAlertOutcome } from "../views/alert";

/** Replaces every copy of the alert with the outcome (and no buttons). */
export async function settleAlertCopies(
  api: Api,
  deps: Pick<BotDeps, "db" | "logger">,
  alertOrId: Alert | number,
  outcome: string,
): Promise<void> {
  const db = deps.db;
  if (db === undefined) return;
  const alert = typeof alertOrId === "number" ? await findAlert(db, alertOrId) : alertOrId;
  if (alert === null) return;
  const text = renderAlertOutcome(alert, outcome);
  for (const message of await listAlertMessages(db, alert.id)) {
    try {
      await api.editMessageText(message.chatId, message.messageId, text, { parse_mode: "HTML" });
    } catch (error) {
      // Already settled (not modified) or deleted by the trader: the others still get it.
      deps.logger.debug({ err: error, alertId: alert.externalId }, "alert copy not updated");
    }
  }
}
