/**
 * What a decided alert's copies say, rebuilt from the records (who decided is logged with the
 * alert's move, db/alerts.ts findAlertDecision), for copies the decision itself could not reach:
 *
 * - the approver's copy follows the order its approval made (alerts.ts). A bot that stops
 *   meanwhile leaves the copy at its last step, or at "sent for execution" when it stopped before
 *   the first; the started bot takes up the follow of each alert approved in the window, as
 *   planResume.ts does for plan cards. The copy is the alert's message in the approver's chat
 *   (alert_messages);
 * - a copy the fan-out sent after the alert was decided (decidedAlertOutcome).
 */
import { and, desc, eq, gte, isNotNull, isNull, ne } from "drizzle-orm";
import { type Alert, findAlert, findAlertDecision, listAlertMessages } from "../../db/alerts";
import type { Database } from "../../db/database";
import { decisions } from "../../db/schema";
import { renderAlertOutcome } from "../views/alert";
import { escapeHtml } from "../views/html";
import { type AlertDeadlineDeps, alertDeadlineOf } from "./alertDeadline";
import { expiredAlertOutcome } from "./alertsCopies";
import type { FollowRequest } from "./planFollow";
import { RESUME_WINDOW_MS } from "./planResume";
import { NOT_QUEUED_REASON } from "./planService";

/** What every copy of an approved alert says: who approved it, and what went out. */
export function approvedAlertOutcome(
  approver: string,
  decisionId: number,
  quantity: string,
  symbol: string,
): string {
  return `<b>Approved</b> by ${escapeHtml(approver)}: decision #${decisionId}, ${escapeHtml(quantity)} ${escapeHtml(symbol)} sent for execution.`;
}

/** The alert approvals of the window, as follow requests of their approvers' copies; returns how many. */
export async function resumeAlertFollows(
  db: Database,
  now: Date,
  follow: (request: FollowRequest) => void,
  windowMs: number = RESUME_WINDOW_MS,
): Promise<number> {
  const rows = await db
    .select()
    .from(decisions)
    .where(
      and(
        eq(decisions.source, "alert"),
        isNotNull(decisions.alertId),
        // An adjusted plan's card holds a key: planResume.ts follows its card, not the copy.
        isNull(decisions.idempotencyKey),
        ne(decisions.status, "rejected"),
        gte(decisions.createdAt, new Date(now.getTime() - windowMs)),
      ),
    )
    .orderBy(decisions.id);
  let resumed = 0;
  for (const row of rows) {
    // Withdrawn at the press: the alert went back to the traders and no copy says approved.
    if (row.status === "failed" && row.statusReason === NOT_QUEUED_REASON) continue;
    const approver = /^user:(\d+)$/.exec(row.createdBy)?.[1];
    if (row.alertId === null || approver === undefined) continue;
    const alert = await findAlert(db, row.alertId);
    if (alert === null) continue;
    // A private chat's id is its user's id: the copy the approver pressed.
    const copy = (await listAlertMessages(db, alert.id)).find(
      (message) => message.chatId === Number(approver),
    );
    if (copy === undefined) continue;
    const outcome = approvedAlertOutcome(
      deciderName(await findAlertDecision(db, alert.id, "approved"), approver),
      row.id,
      row.quantity.toString(),
      alert.symbol,
    );
    follow({
      chatId: copy.chatId,
      messageId: copy.messageId,
      decisionId: row.id,
      render: (progress) => renderAlertOutcome(alert, `${outcome}\n${progress}`),
    });
    resumed += 1;
  }
  return resumed;
}

/** The decider as the copies named them (logged with the move), else by Telegram id. */
function deciderName(
  logged: { readonly source: string; readonly details: Record<string, unknown> } | null,
  fallback?: string,
): string {
  const name = logged?.details.deciderName;
  if (typeof name === "string") return name;
  return fallback ?? /^user:(\d+)$/.exec(logged?.source ?? "")?.[1] ?? "someone";
}

/**
 * What the copies of an alert decided or expired say: who approved it and the decision it made,
 * who rejected it, or why it expired. Null while it is undecided.
 */
export async function decidedAlertOutcome(
  deps: AlertDeadlineDeps,
  alert: Alert,
): Promise<string | null> {
  const { db } = deps;
  if (db === undefined) return null;
  if (alert.status === "expired") {
    return expiredAlertOutcome(await alertDeadlineOf(deps, alert, deps.now()));
  }
  if (alert.status === "rejected") {
    const name = deciderName(await findAlertDecision(db, alert.id, "rejected"));
    return `<b>Rejected</b> by ${escapeHtml(name)}. Nothing was done.`;
  }
  if (alert.status !== "approved") return null;
  const taken = await db
    .select()
    .from(decisions)
    .where(eq(decisions.alertId, alert.id))
    .orderBy(desc(decisions.id));
  // The approval standing: an earlier one withdrawn unsent gave the alert back.
  const decision = taken.find(
    (row) => !(row.status === "failed" && row.statusReason === NOT_QUEUED_REASON),
  );
  const name = deciderName(await findAlertDecision(db, alert.id, "approved"));
  if (decision === undefined) return `<b>Approved</b> by ${escapeHtml(name)}.`;
  return approvedAlertOutcome(name, decision.id, decision.quantity.toString(), alert.symbol);
}
