/**
 * Pattern alerts: the fan-out of a stored alert to every subscribed trader (one message each,
 * with the size for that trader's account) and the Approve / Reject / Adjust buttons.
 *
 * One alert makes at most one decision: the alert's status moves received/sent -> approved or
 * rejected with one conditional update (db/alerts.ts moveAlert), so of two taps or two traders
 * exactly one wins; the others are told, and every copy of the alert then says who decided. An
 * approval whose decision is withdrawn unsent (the job queue did not answer) gives it back.
 * Alerts expire (their own expires_at, else `alertLifetimeMs` after receipt or, received while
 * the market is closed, after the next open; at the latest with the close of the session they
 * were issued for) and a symbol alerted again within `alertSuppressionMs` is not sent again.
 * Only a private chat decides: a copy in a group is refused.
 */
import { type Api, Composer, GrammyError } from "grammy";
import type { UserRole } from "../../app/config";
import { findRecentDeliveredAlert, listUndecidedAlerts } from "../../db/alertDelivery";
import {
  type Alert,
  findAlert,
  findAlertDecision,
  listAlertMessages,
  moveAlert,
  recordAlertMessage,
} from "../../db/alerts";
import { readNotificationSettings } from "../../db/userSettings";
import { findUserByTelegramId } from "../../db/users";
import type { AlertDeadline } from "../../domain/alertSession";
import { ZERO } from "../../domain/money";
import type { TradeInput } from "../../domain/planTrade";
import type { PositionSide } from "../../domain/tick";
import type { BotContext } from "../context";
import type { BotDeps, BotFeature } from "../feature";
import { ALERT_ACTION, alertKeyboard, readAlertPress } from "../keyboards/alert";
import { renderAlert, renderAlertOutcome } from "../views/alert";
import { escapeHtml } from "../views/html";
import { alertDeadlineOf } from "./alertDeadline";
import { approvedAlertOutcome, decidedAlertOutcome, resumeAlertFollows } from "./alertResume";
import { expiredAlertOutcome, settleAlertCopies } from "./alertsCopies";
import { PLAN_CONVERSATION, type PlanStart } from "./plan";
import { followDecision } from "./planFollow";
import { DEFAULT_ALERT_SUPPRESSION_MS, DEFAULT_ORDER_FOLLOW_MS } from "./planPorts";
import { alertSessionEndedText, priceTrade, submitCard } from "./planService";

const DECIDING_ROLES: readonly UserRole[] = ["admin", "trader"];

/** What happened to an alert handed to the fan-out. */
export type AlertDelivery =
  | { readonly status: "sent"; readonly recipients: number }
  | { readonly status: "suppressed"; readonly byAlertId: number }
  | { readonly status: "expired" | "not_new" | "no_recipients" };

/** The alert fan-out, for `onAlertAccepted` of the HTTP API (app/http/alerts.ts). */
export interface AlertNotifier {
  onAlertAccepted(alert: Alert): Promise<AlertDelivery>;
}

/** The trade an alert proposes: a limit entry at its entry price (market without one). */
export function tradeInputOfAlert(alert: Alert): TradeInput | null {
  const stop = alert.stopPrice;
  const reference = alert.entryPrice ?? alert.lastPrice;
  if (stop === null || reference === null || !stop.gt(ZERO)) return null;
  const side: PositionSide = stop.lt(reference) ? "long" : "short";
  return {
    symbol: alert.symbol,
    side,
    entryType: alert.entryPrice === null ? "market" : "limit",
    limitPrice: alert.entryPrice,
    stop: { kind: "price", price: stop },
    target: alert.targetPrice === null ? null : { kind: "price", price: alert.targetPrice },
  };
}

/** A Telegram message an alert was sent as. */
interface AlertCopy {
  readonly chatId: number;
  readonly messageId: number;
}

// By deps (one desk), then alert id: copies Telegram took whose record failed. Kept in memory:
// the scanner's resend comes within minutes to the same process.
const unrecordedCopies = new WeakMap<object, Map<number, AlertCopy[]>>();

function unrecordedCopiesOf(deps: BotDeps, alertId: number): AlertCopy[] {
  return [...(unrecordedCopies.get(deps)?.get(alertId) ?? [])];
}

/** Keeps the copies of an alert still unrecorded (none: forgets the alert). */
function keepUnrecorded(deps: BotDeps, alertId: number, copies: readonly AlertCopy[]): void {
  let byAlert = unrecordedCopies.get(deps);
  if (copies.length === 0) {
    byAlert?.delete(alertId);
    return;
  }
  if (byAlert === undefined) {
    byAlert = new Map();
    unrecordedCopies.set(deps, byAlert);
  }
  byAlert.set(alertId, [...copies]);
}

/**
 * Sends a new alert to every trader and admin who has alerts switched on, each with the size for
 * their own account, unless the alert expired or its symbol was alerted within the suppression
 * window. Marks it sent.
 */
export function createAlertNotifier(api: Api, deps: BotDeps): AlertNotifier {
  return {
    async onAlertAccepted(alert) {
      const { db, logger } = deps;
      if (db === undefined) throw new Error("the alert fan-out needs the database");
      if (alert.status !== "received") return { status: "not_new" };
      const now = deps.now();
      // Copies Telegram took that an earlier fan-out could not record: recorded now, so they are
      // settled with the others; still unrecorded, they are copies all the same.
      const unrecorded: AlertCopy[] = [];
      for (const copy of unrecordedCopiesOf(deps, alert.id)) {
        try {
          await recordAlertMessage(db, { alertId: alert.id, ...copy }, now);
        } catch (error) {
          logger.warn({ err: error, alertId: alert.externalId }, "alert copy still not recorded");
          unrecorded.push(copy);
        }
      }
      keepUnrecorded(deps, alert.id, unrecorded);
      // Capped at its session's close: the card must not promise a later scanner's expiry.
      const deadline = await alertDeadlineOf(deps, alert, now);
      const expiresAt = new Date(deadline.at);
      if (expiresAt.getTime() <= now.getTime()) {
        const moved = await moveAlert(db, alert.id, ["received"], "expired", "system:expiry", now);
        // A resend after a fan-out that failed part way: the copies it sent still offer Approve,
        // and no later pass looks at an expired alert.
        if (moved !== null) {
          await settleAlertCopies(api, deps, alert, expiredAlertOutcome(deadline));
        }
        return { status: "expired" };
      }
      const window = deps.planning?.alertSuppressionMs ?? DEFAULT_ALERT_SUPPRESSION_MS;
      const earlier = await findRecentDeliveredAlert(
        db,
        alert.symbol,
        new Date(alert.receivedAt.getTime() - window),
        alert.id,
      );
      if (earlier !== null) {
        logger.info(
          { alertId: alert.externalId, symbol: alert.symbol, earlier: earlier.externalId },
          "alert suppressed: symbol alerted recently",
        );
        return { status: "suppressed", byAlertId: earlier.id };
      }

      const input = tradeInputOfAlert(alert);
      // A resend after a fan-out that failed part way: who has a copy is not sent another.
      const reached = new Set([
        ...(await listAlertMessages(db, alert.id)).map((copy) => copy.chatId),
        ...unrecorded.map((copy) => copy.chatId),
      ]);
      let recipients = 0;
      const missed: number[] = [];
      for (const [telegramUserId, role] of deps.allowedUsers) {
        if (!DECIDING_ROLES.includes(role)) continue;
        if (reached.has(telegramUserId)) {
          recipients += 1;
          continue;
        }
        const user = await findUserByTelegramId(db, telegramUserId);
        const delivery =
          user === null
            ? "on"
            : (readNotificationSettings(user.notificationSettings).alerts ?? "on");
        if (delivery === "off") continue;
        const priced = input === null ? null : await priceTrade(deps, telegramUserId, input);
        const card = priced?.ok === true ? priced.card : null;
        const text = renderAlert(
          alert,
          card,
          expiresAt,
          user?.displayTimeZone ?? "America/New_York",
          now,
          deadline.code === "ALERT_SESSION_ENDED",
        );
        let sent: Awaited<ReturnType<Api["sendMessage"]>>;
        try {
          sent = await api.sendMessage(telegramUserId, text, {
            parse_mode: "HTML",
            reply_markup: alertKeyboard(alert.id),
            disable_notification: delivery === "silent",
          });
        } catch (error) {
          // One trader who blocked the bot must not keep the alert from the others.
          logger.warn(
            { err: error, telegramUserId, alertId: alert.externalId },
            "alert not delivered",
          );
          if (!refusedForGood(error)) missed.push(telegramUserId);
          continue;
        }
        recipients += 1;
        const copy = { chatId: sent.chat.id, messageId: sent.message_id };
        try {
          await recordAlertMessage(db, { alertId: alert.id, ...copy }, now);
        } catch (error) {
          // The trader has the alert: a resend must not send another, and must record this one.
          logger.error(
            { err: error, telegramUserId, alertId: alert.externalId },
            "alert sent but its copy not recorded",
          );
          unrecorded.push(copy);
          keepUnrecorded(deps, alert.id, unrecorded);
        }
      }
      if (missed.length > 0) {
        // Marked sent, a resend would be a duplicate and these traders never told: left
        // received, the intake answers 503 and the resend reaches only those without a copy.
        throw new Error(
          `alert ${alert.externalId} not delivered to ${missed.join(", ")}: Telegram failed; send it again`,
        );
      }
      if (unrecorded.length > 0) {
        // Left received as well: the resend records the copies (nothing is sent twice), so that
        // the decision rewrites every copy.
        throw new Error(
          `alert ${alert.externalId} sent, but copies to ${unrecorded.map((copy) => copy.chatId).join(", ")} not recorded: the database failed; send it again`,
        );
      }
      if (recipients === 0) return { status: "no_recipients" };
      const marked = await moveAlert(db, alert.id, ["received"], "sent", "system:alerts", now);
      if (marked === null) await settleLateCopies(api, deps, alert.id, reached);
      return { status: "sent", recipients };
    },
  };
}

/**
 * The alert was decided (or expired) while the fan-out ran: a trader who approved the first copy
 * in seconds settled only the copies recorded by then. The copies sent since (the chats not in
 * `reachedBefore`) say what the others say; the earlier ones and the decider's own are left
 * alone, an approver's copy following its order.
 */
async function settleLateCopies(
  api: Api,
  deps: BotDeps,
  alertId: number,
  reachedBefore: ReadonlySet<number>,
): Promise<void> {
  const db = deps.db;
  if (db === undefined) return;
  const current = await findAlert(db, alertId);
  const outcome = current === null ? null : await decidedAlertOutcome(deps, current);
  if (current === null || outcome === null) return;
  const text = renderAlertOutcome(current, outcome);
  // The decider pressed their copy, so the decision settled it (an approver's follows its order).
  const decided =
    current.status === "approved" || current.status === "rejected"
      ? await findAlertDecision(db, alertId, current.status)
      : null;
  const decider = /^user:(\d+)$/.exec(decided?.source ?? "")?.[1];
  for (const copy of await listAlertMessages(db, alertId)) {
    if (reachedBefore.has(copy.chatId) || String(copy.chatId) === decider) continue;
    try {
      await api.editMessageText(copy.chatId, copy.messageId, text, { parse_mode: "HTML" });
    } catch (error) {
      // Settled already by the decision (not modified), or deleted: the others still get it.
      deps.logger.debug({ err: error, alertId: current.externalId }, "late alert copy not updated");
    }
  }
}

/**
 * Expires every alert past its deadline (its own expiry, or its session's close when that comes
 * first) and says why on each copy, so a stale alert never sits there looking approvable. For a
 * periodic pass (a press of an expired alert does the same for one).
 */
export async function settleExpiredAlerts(api: Api, deps: BotDeps): Promise<number> {
  const db = deps.db;
  if (db === undefined) return 0;
  const now = deps.now();
  let expired = 0;
  for (const alert of await listUndecidedAlerts(db)) {
    const deadline = await alertDeadlineOf(deps, alert, now);
    if (deadline.at > now.getTime()) continue;
    const moved = await moveAlert(
      db,
      alert.id,
      ["received", "sent"],
      "expired",
      "system:expiry",
      now,
    );
    if (moved === null) continue;
    expired += 1;
    await settleAlertCopies(api, deps, alert, expiredAlertOutcome(deadline));
  }
  return expired;
}

/** The buttons under alerts. */
export const alertsFeature: BotFeature = {
  name: "alerts",
  commands: [],
  callbackActions: [ALERT_ACTION],
  create(setup) {
    const { deps } = setup;
    const composer = new Composer<BotContext>();
    // Copies a stopped process was following (or about to) follow their orders again.
    setup.onStart?.(async (api) => {
      const followMs = deps.planning?.orderFollowMs ?? DEFAULT_ORDER_FOLLOW_MS;
      if (deps.db === undefined || followMs <= 0) return;
      const resumed = await resumeAlertFollows(deps.db, deps.now(), (request) => {
        followDecision(api, deps, request, { maxMs: followMs });
      });
      if (resumed > 0) deps.logger.info({ resumed }, "approved alert copies followed again");
    });
    composer.callbackQuery(ALERT_ACTION.pattern, async (ctx) => {
      // A copy forwarded or posted to a group must not let its members trade on it: the alert is
      // decided where the desk sent it, each trader's own chat (as /plan is).
      if (ctx.chat?.type !== "private") {
        await ctx.answerCallbackQuery({ text: NOT_PRIVATE_ANSWER, show_alert: true });
        return;
      }
      const press = readAlertPress(ctx.callbackQuery.data);
      const db = deps.db;
      if (press === null || db === undefined) {
        await ctx.answerCallbackQuery({ text: "This button no longer works.", show_alert: true });
        return;
      }
      const alert = await findAlert(db, press.alertId);
      if (alert === null) {
        await ctx.answerCallbackQuery({ text: "This alert no longer exists.", show_alert: true });
        return;
      }
      const who = presserName(ctx);
      const telegramUserId = ctx.deskUser.telegramUserId;
      const actor = `user:${telegramUserId}`;
      const now = deps.now();

      if (alert.status === "approved" || alert.status === "rejected") {
        await ctx.answerCallbackQuery({ text: `Already ${alert.status}.`, show_alert: true });
        // Still offering the buttons: the decision could not update this copy (Telegram refused
        // the edit). It says now what the others say; the decider's own is left to the decision.
        const pressed = ctx.callbackQuery.message;
        const decided = await findAlertDecision(db, alert.id, alert.status);
        if (pressed !== undefined && decided?.source !== actor) {
          const outcome = await decidedAlertOutcome(deps, alert);
          if (outcome !== null) {
            await ctx.api
              .editMessageText(
                pressed.chat.id,
                pressed.message_id,
                renderAlertOutcome(alert, outcome),
                { parse_mode: "HTML" },
              )
              .catch((error: unknown) => {
                deps.logger.debug(
                  { err: error, alertId: alert.externalId },
                  "alert copy not updated",
                );
              });
          }
        }
        return;
      }
      // Past its own expiry or its session's close (whichever came first is the reason given):
      // the alert is not taken on prices it was not set for, whichever button was pressed.
      const deadline = await alertDeadlineOf(deps, alert, now);
      if (alert.status === "expired" || deadline.at <= now.getTime()) {
        await moveAlert(db, alert.id, ["received", "sent"], "expired", "system:expiry", now);
        await ctx.answerCallbackQuery({
          text: expiredAnswer(deadline, alert.symbol),
          show_alert: true,
        });
        await settleAlertCopies(ctx.api, deps, alert, expiredAlertOutcome(deadline));
        return;
      }

      if (press.answer === "reject") {
        const moved = await moveAlert(db, alert.id, ["received", "sent"], "rejected", actor, now, {
          deciderName: who,
        });
        if (moved === null) {
          await ctx.answerCallbackQuery({ text: "Someone decided first.", show_alert: true });
          return;
        }
        await ctx.answerCallbackQuery({ text: "Rejected." });
        await settleAlertCopies(
          ctx.api,
          deps,
          alert,
          `<b>Rejected</b> by ${escapeHtml(who)}. Nothing was done.`,
        );
        return;
      }

      const input = tradeInputOfAlert(alert);
      if (press.answer === "adjust") {
        await ctx.answerCallbackQuery({ text: "Opening the plan…" });
        const start: PlanStart = {
          draft: {
            symbol: alert.symbol,
            ...(input === null
              ? {}
              : {
                  side: input.side,
                  entry:
                    input.limitPrice === null
                      ? { type: "market" as const }
                      : { type: "limit" as const, price: input.limitPrice.toString() },
                  stop: { kind: "price" as const, value: alert.stopPrice?.toString() ?? "" },
                  target:
                    alert.targetPrice === null
                      ? null
                      : { kind: "price" as const, value: alert.targetPrice.toString() },
                  riskPercent: null,
                  method: "risk_percent" as const,
                }),
            alertId: alert.id,
          },
        };
        await ctx.conversation.exitAll();
        await ctx.conversation.enter(PLAN_CONVERSATION, start);
        return;
      }

      // Approve: price it for the presser's account, then take the alert.
      if (input === null) {
        await ctx.answerCallbackQuery({
          text: "This alert has no stop: use Adjust.",
          show_alert: true,
        });
        return;
      }
      const priced = await priceTrade(deps, telegramUserId, input);
      if (!priced.ok) {
        await ctx.answerCallbackQuery({ text: priced.message.slice(0, 200), show_alert: true });
        return;
      }
      if (!priced.card.canConfirm) {
        // The first rule in words (a halt is no reason to Adjust), the others by code.
        const [first, ...others] = priced.card.violations;
        const also =
          others.length === 0
            ? ""
            : ` Also: ${others.map((violation) => violation.code).join(", ")}.`;
        await ctx.answerCallbackQuery({
          text: `Cannot approve (${first?.code ?? "RULES"}): ${first?.message ?? "the plan breaks a rule."}${also}`.slice(
            0,
            200,
          ),
          show_alert: true,
        });
        return;
      }
      let submitted: Awaited<ReturnType<typeof submitCard>>;
      try {
        submitted = await submitCard(
          deps,
          telegramUserId,
          priced.accountId,
          priced.card,
          alert.id,
          undefined,
          undefined,
          who,
        );
      } catch (error) {
        deps.logger.error({ err: error, alertId: alert.externalId }, "alert approval not stored");
        await ctx.answerCallbackQuery({
          text: "The database did not answer: the approval may not have been stored. Check /orders.",
          show_alert: true,
        });
        return;
      }
      if (!submitted.ok) {
        // A halt since the pricing is not someone else's decision: the alert stays open. Nor is
        // an alert that expired meanwhile (the periodic pass, at its deadline): that says so.
        const taken = submitted.code === "ALERT_TAKEN" ? await findAlert(db, alert.id) : null;
        const expired = submitted.code === "ALERT_EXPIRED" || taken?.status === "expired";
        let text = submitted.message.slice(0, 200);
        if (submitted.code === "ALERT_TAKEN") {
          // A tap of one's own held past the chat's timeout may be the one that took it: "someone
          // decided first" would read as one's approval lost.
          const mine =
            taken?.status === "approved" &&
            (await findAlertDecision(db, alert.id, "approved"))?.source === actor;
          if (expired) text = expiredAnswer(await alertDeadlineOf(deps, alert, now), alert.symbol);
          else if (mine) text = "You approved this alert already: your first tap went through.";
          else text = "Someone decided first.";
        }
        if (expired) {
          // By id: the copies say why it expired, as the refusal did.
          await settleAlertCopies(ctx.api, deps, alert.id, expiredAlertOutcome(null));
        }
        // NOT_QUEUED: its decision was withdrawn and the alert given back with it (submitCard);
        // the copies were never changed, so every trader can approve it again.
        await ctx.answerCallbackQuery({ text, show_alert: true });
        return;
      }
      await ctx.answerCallbackQuery({ text: "Approved." });
      const outcome = approvedAlertOutcome(
        who,
        submitted.decisionId,
        priced.card.quantity ?? "",
        alert.symbol,
      );
      await settleAlertCopies(ctx.api, deps, alert, outcome);
      // The approver's copy follows the order.
      const pressed = ctx.callbackQuery.message;
      const followMs = deps.planning?.orderFollowMs ?? DEFAULT_ORDER_FOLLOW_MS;
      if (pressed !== undefined && followMs > 0) {
        followDecision(
          ctx.api,
          deps,
          {
            chatId: pressed.chat.id,
            messageId: pressed.message_id,
            decisionId: submitted.decisionId,
            render: (progress) => renderAlertOutcome(alert, `${outcome}\n${progress}`),
          },
          { maxMs: followMs },
        );
      }
    });
    return composer;
  },
};

/** What a press of an alert's button outside a private chat is answered. */
const NOT_PRIVATE_ANSWER =
  "Alerts are decided only in your private chat with me, where the desk sent you the alert.";

/** What a press of an expired alert is answered: why it expired. */
function expiredAnswer(deadline: AlertDeadline, symbol: string): string {
  return deadline.code === "ALERT_SESSION_ENDED"
    ? alertSessionEndedText(deadline.sessionDate, symbol)
    : "Too late: this alert expired.";
}

/**
 * Whether Telegram refused a message for good (the trader blocked the bot, the chat is gone):
 * sending again would fail again. The network or Telegram's own failures (5xx, 429 past the
 * retries) pass.
 */
function refusedForGood(error: unknown): boolean {
  return (
    error instanceof GrammyError &&
    error.error_code >= 400 &&
    error.error_code < 500 &&
    error.error_code !== 429
  );
}

function presserName(ctx: BotContext): string {
  const from = ctx.from;
  if (from === undefined) return "someone";
  const name = [from.first_name, from.last_name].filter((part) => part !== undefined).join(" ");
  return name === "" ? (from.username ?? String(from.id)) : name;
}
