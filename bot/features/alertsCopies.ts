/** Every Telegram copy of an alert, rewritten once it is decided or expired. */
import type { Api } from "grammy";
import { type Alert, findAlert, listAlertMessages } from "../../db/alerts";
import type { AlertDeadline } from "../../domain/alertSession";
import { renderAlertOutcome } from "../views/alert";
import { type AlertDeadlineDeps, alertDeadlineOf } from "./alertDeadline";
import { sessionDateText } from "./planService";

/** What every copy of an expired alert says: why, the same whichever path expired it. */
export function expiredAlertOutcome(deadline: AlertDeadline | null): string {
  if (deadline?.code === "ALERT_SESSION_ENDED") {
    return `<b>Expired</b> with the session of ${sessionDateText(deadline.sessionDate)}. Nothing was done.`;
  }
  return "<b>Expired.</b> Nothing was done.";
}

/**
 * Replaces every copy of the alert with the outcome (and no buttons). An alert given by id and
 * found expired says why it expired (expiredAlertOutcome) instead of the outcome given, so a path
 * that knows only that it expired (an adjusted plan's Confirm) tells the traders as much as the
 * path that found its session closed.
 */
export async function settleAlertCopies(
  api: Api,
  deps: AlertDeadlineDeps,
  alertOrId: Alert | number,
  outcome: string,
): Promise<void> {
  const db = deps.db;
  if (db === undefined) return;
  const alert = typeof alertOrId === "number" ? await findAlert(db, alertOrId) : alertOrId;
  if (alert === null) return;
  const said =
    typeof alertOrId === "number" && alert.status === "expired"
      ? expiredAlertOutcome(await alertDeadlineOf(deps, alert, deps.now()))
      : outcome;
  const text = renderAlertOutcome(alert, said);
  for (const message of await listAlertMessages(db, alert.id)) {
    try {
      await api.editMessageText(message.chatId, message.messageId, text, { parse_mode: "HTML" });
    } catch (error) {
      // Already settled (not modified) or deleted by the trader: the others still get it.
      deps.logger.debug({ err: error, alertId: alert.externalId }, "alert copy not updated");
    }
  }
}
