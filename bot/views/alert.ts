/**
 * A pattern alert as a trader sees it: pattern, score, entry, stop, target, reward:risk, and the
 * size the rules give that trader's account (or why there is none); then, once someone decides,
 * the same alert with who decided.
 */
import type { Alert } from "../../db/alerts";
import { Decimal } from "../../domain/money";
import { escapeHtml } from "./html";
import { dollars, type PlanCardModel, priceText } from "./planCard";

/** The alert's header lines: the same for every trader. */
export function renderAlertHeader(alert: Alert): string {
  const pattern = alert.pattern === null ? "" : ` ${escapeHtml(alert.pattern)}`;
  const score = alert.score === null ? "" : ` (score ${escapeHtml(alert.score.toString())})`;
  const lines = [`<b>Pattern alert: ${escapeHtml(alert.symbol)}${pattern}</b>${score}`];
  const prices = [
    alert.entryPrice === null ? null : `Entry ${priceText(alert.entryPrice.toString())}`,
    alert.stopPrice === null ? null : `Stop ${priceText(alert.stopPrice.toString())}`,
    alert.targetPrice === null ? null : `Target ${priceText(alert.targetPrice.toString())}`,
  ].filter((part) => part !== null);
  if (prices.length > 0) lines.push(prices.join("   "));
  if (alert.source !== null) lines.push(`Source: ${escapeHtml(alert.source)}`);
  return lines.join("\n");
}

/**
 * The alert with one trader's size (from the plan card model) and its expiry: its time, and its
 * date too when that is not the day of `now` (an expiry tomorrow is not shown as if past today).
 * `atSessionClose`: the expiry is the close of the alert's session, earlier than the scanner's.
 */
export function renderAlert(
  alert: Alert,
  card: PlanCardModel | null,
  expiresAt: Date,
  timeZone: string,
  now?: Date,
  atSessionClose = false,
): string {
  const lines = [renderAlertHeader(alert)];
  if (card === null) {
    lines.push("Your size: not available (the account could not be read).");
  } else {
    if (card.rewardToRisk !== null) {
      lines.push(`Reward:risk ${new Decimal(card.rewardToRisk).toFixed(2)}`);
    }
    if (card.quantity !== null && card.positionValue !== null && card.riskAmount !== null) {
      lines.push(
        `Your size: <b>${escapeHtml(card.quantity)}</b> shares, ${dollars(card.positionValue)}, risk ${dollars(card.riskAmount)}`,
      );
    }
    if (card.violations.length > 0) {
      lines.push("<b>Cannot be approved as is:</b>");
      for (const violation of card.violations) {
        lines.push(`• ${escapeHtml(violation.code)}: ${escapeHtml(violation.message)}`);
      }
    }
  }
  const why = atSessionClose ? ", with the session's close" : "";
  lines.push("", `Expires ${formatTime(expiresAt, timeZone, now)}${why}.`);
  return lines.join("\n");
}

/** The alert once decided (or expired), with who decided: the same for every trader. */
export function renderAlertOutcome(alert: Alert, outcome: string): string {
  return `${renderAlertHeader(alert)}\n\n${outcome}`;
}

function formatTime(moment: Date, timeZone: string, now?: Date): string {
  const day = (at: Date) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(at);
  const otherDay = now !== undefined && day(moment) !== day(now);
  const text = new Intl.DateTimeFormat("en-US", {
    timeZone,
    ...(otherDay ? { month: "short", day: "numeric" } : {}),
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZoneName: "short",
  }).format(moment);
  return escapeHtml(text);
}
