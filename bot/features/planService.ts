/**
 * The work behind a plan card, shared by /plan and the alert buttons: price a trade for the
 * user's account (domain/planTrade.ts against a fresh snapshot, the account's limits and trading
 * state) and turn a confirmed card into an approved decision handed to the jobs. Plain async
 * functions: conversations call them inside `conversation.external`, and their results are
 * JSON-safe.
 */

import { createHash } from "node:crypto";
import { findAccountForUser } from "../../db/accountOfUser";
import { findAlert, moveAlert, reopenAlert } from "../../db/alerts";
import { loadTradingState, tradingStateOf } from "../../db/brokerAccounts";
import {
  createDecision,
  createDecisionOnce,
  type Decision,
  type DecisionDraft,
  failApprovedDecision,
  findDecisionByIdempotencyKey,
  recordDecisionMessage,
} from "../../db/decisions";
import { loadRiskLimits } from "../../db/riskLimits";
import { listTrades } from "../../db/trades";
import { findUserByTelegramId } from "../../db/users";
import { Decimal, ZERO } from "../../domain/money";
import { planTrade, type TradeInput } from "../../domain/planTrade";
import type { KellyInputs } from "../../domain/sizing";
import { allowsOrder } from "../../domain/tradingState";
import type { BotDeps } from "../feature";
import { type PlanCardModel, toPlanCardModel } from "../views/planCard";
import { alertDeadlineOf } from "./alertDeadline";

/** Closed trades half Kelly needs before it trusts a win rate. */
const KELLY_MIN_TRADES = 10;

export type Priced =
  | { readonly ok: true; readonly accountId: number; readonly card: PlanCardModel }
  | { readonly ok: false; readonly message: string };

export type Submitted =
  | { readonly ok: true; readonly decisionId: number }
  | {
      readonly ok: false;
      /**
       * ALERT_TAKEN: another press decided the alert first; ALERT_EXPIRED: the alert's time ran
       * out, or the session it was issued for closed (while an adjusted plan was open); REFUSED:
       * nothing may be entered; CARD_CANCELLED: the card's Cancel (or /cancel) claimed it first,
       * nothing was stored; NOT_QUEUED: stored but not handed to the jobs, and withdrawn (failed),
       * the alert it took given back with it.
       */
      readonly code: "ALERT_TAKEN" | "ALERT_EXPIRED" | "REFUSED" | "CARD_CANCELLED" | "NOT_QUEUED";
      readonly message: string;
    }
  | {
      readonly ok: false;
      /** Another press of the same card made its decision, `decisionId`. */
      readonly code: "CARD_TAKEN";
      readonly decisionId: number;
      readonly message: string;
    };

export type CardCancel =
  /** The card is claimed as cancelled (now, or by an earlier Cancel): its Confirm makes nothing. */
  | { readonly ok: true; readonly code: "CANCELLED" }
  /** A Confirm of the card claimed it first and made decision `decisionId`. */
  | { readonly ok: false; readonly code: "CARD_CONFIRMED"; readonly decisionId: number }
  /** The claim could not be stored: a Confirm still in flight may go through. */
  | { readonly ok: false; readonly code: "UNKNOWN"; readonly message: string };

/**
 * The idempotency key a plan card's decision is stored under. `/` is not allowed in the API's
 * Idempotency-Key, so no API client's key can take a card's.
 */
export function planCardKey(cardId: string): string {
  return `plan/${cardId}`;
}

/** Why a decision the jobs could not be handed was withdrawn (failed). */
export const NOT_QUEUED_REASON = "QUEUE_UNAVAILABLE";

/** Why a cancelled card's claim is rejected: the only way a card's key holds a rejected decision. */
const CARD_CANCELLED_REASON = "PLAN_CANCELLED";

/** The decision a card's key holds: its Confirm's, or the claim of its Cancel (rejected). */
export async function cardDecision(
  deps: BotDeps,
  accountId: number,
  cardId: string,
): Promise<{ readonly id: number; readonly cancelled: boolean } | null> {
  if (deps.db === undefined) return null;
  const holder = await findDecisionByIdempotencyKey(deps.db, accountId, planCardKey(cardId));
  return holder === null ? null : { id: holder.id, cancelled: holder.status === "rejected" };
}

/** A card's decision as a draft: approved on Confirm, rejected when Cancel claims the card. */
function cardDraft(
  card: PlanCardModel & { readonly quantity: string; readonly stop: string },
  accountId: number,
  alertId: number | undefined,
  telegramUserId: number,
  decidedByUserId: number | null,
  status: "approved" | "rejected",
): DecisionDraft {
  return {
    accountId,
    source: alertId === undefined ? "manual" : "alert",
    alertId: alertId ?? null,
    symbol: card.symbol,
    side: card.side === "long" ? "buy" : "sell",
    entryType: card.entryType,
    entryPrice: card.limitPrice === null ? null : new Decimal(card.limitPrice),
    stopPrice: new Decimal(card.stop),
    targetPrice: card.target === null ? null : new Decimal(card.target),
    quantity: new Decimal(card.quantity),
    riskAmount: new Decimal(card.riskAmount ?? "0"),
    createdBy: `user:${telegramUserId}`,
    status,
    statusReason: status === "rejected" ? CARD_CANCELLED_REASON : null,
    decidedByUserId,
  };
}

/** The card's claim on its key: one decision per card, whether Confirm or Cancel stores it. */
function cardIdempotency(card: PlanCardModel, cardId: string) {
  return {
    key: planCardKey(cardId),
    requestHash: createHash("sha256").update(JSON.stringify(card)).digest("hex"),
    // The API's replays read this column and never see a card's key: for a card it keeps what the
    // card showed, so a restarted bot can redraw a card its Confirm left unfinished.
    submitAnswer: { [PLAN_CARD_FIELD]: card },
  };
}

/** Where a card's decision keeps the card (its `submitAnswer`). */
export const PLAN_CARD_FIELD = "planCard";

/** The card a card's decision keeps, or null (a decision stored before cards were kept). */
export function keptPlanCard(decision: Pick<Decision, "submitAnswer">): PlanCardModel | null {
  const kept = decision.submitAnswer?.[PLAN_CARD_FIELD];
  if (typeof kept !== "object" || kept === null) return null;
  const card = kept as Partial<PlanCardModel>;
  return typeof card.symbol === "string" && typeof card.side === "string"
    ? (kept as PlanCardModel)
    : null;
}

/** The Telegram message a card was shown in. */
export interface CardMessage {
  readonly chatId: number;
  readonly messageId: number;
}

/** A card's key was found taken by `holder` (inside a transaction: it rolls it back). */
class CardKeyTaken extends Error {
  constructor(readonly holder: Decision) {
    super(`plan card key taken by decision ${holder.id}`);
  }
}

/** What a card's key holder means for a Confirm of the card. */
function takenCard(holder: Decision): Submitted {
  return holder.status === "rejected"
    ? {
        ok: false,
        code: "CARD_CANCELLED",
        message: "This plan was cancelled before the Confirm went through.",
      }
    : {
        ok: false,
        code: "CARD_TAKEN",
        decisionId: holder.id,
        message: `This plan was already confirmed: decision #${holder.id}.`,
      };
}

/**
 * Cancels a plan card for good: stores a rejected decision under the card's key, so a Confirm of
 * the card still in flight (held past the chat's timeout, a slow database) finds the key taken and
 * makes nothing. The unique key decides between them: when a Confirm stored its decision first,
 * nothing is written and CARD_CONFIRMED names that decision. A card without a size can never be
 * confirmed, so nothing needs claiming.
 */
export async function cancelCard(
  deps: BotDeps,
  telegramUserId: number,
  accountId: number,
  card: PlanCardModel,
  cardId: string,
): Promise<CardCancel> {
  const { db } = deps;
  const { quantity, stop } = card;
  if (db === undefined || quantity === null || stop === null)
    return { ok: true, code: "CANCELLED" };
  try {
    const user = await findUserByTelegramId(db, telegramUserId);
    // The claim carries no alert: a cancelled adjusted plan leaves the alert to the others.
    const draft = cardDraft(
      { ...card, quantity, stop },
      accountId,
      undefined,
      telegramUserId,
      user?.id ?? null,
      "rejected",
    );
    const once = await createDecisionOnce(db, draft, cardIdempotency(card, cardId), deps.now());
    if (once.created || once.decision.status === "rejected") return { ok: true, code: "CANCELLED" };
    return { ok: false, code: "CARD_CONFIRMED", decisionId: once.decision.id };
  } catch (error) {
    deps.logger.error({ err: error, symbol: card.symbol, cardId }, "plan cancel not stored");
    return {
      ok: false,
      code: "UNKNOWN",
      message:
        "The database did not answer: the cancel may not have been stored, and a Confirm still in flight could go through. Check /orders.",
    };
  }
}

/** A trading date (`YYYY-MM-DD`) as traders read it: `Mon, Mar 2`. */
export function sessionDateText(date: string): string {
  return new Intl.DateTimeFormat("en-US", {
    weekday: "short",
    month: "short",
    day: "numeric",
    timeZone: "UTC",
  }).format(new Date(`${date}T00:00:00Z`));
}

/**
 * What a trader is told when the session an alert was issued for (its trading date) has closed:
 * why, and how to plan it anew.
 */
export function alertSessionEndedText(sessionDate: string, symbol: string): string {
  return `Too late: this alert was for the session of ${sessionDateText(sessionDate)}, which has closed; it is not approved on a later session's prices. /plan ${symbol} plans the trade anew.`;
}

/** Prices a trade for the account the user trades: the plan card with every violation. */
export async function priceTrade(
  deps: BotDeps,
  telegramUserId: number,
  input: TradeInput,
): Promise<Priced> {
  const { db, market } = deps;
  if (db === undefined || market === undefined) {
    return { ok: false, message: "Trading is not set up on this desk yet." };
  }
  try {
    const account = await findAccountForUser(db, telegramUserId);
    if (account === null) {
      return { ok: false, message: "No broker account is set up on this desk." };
    }
    const [limits, snapshot] = await Promise.all([
      loadRiskLimits(db, account.id),
      market.getAccountSnapshot(account.id, [input.symbol]),
    ]);
    const kelly =
      input.sizingMethod === "half_kelly" ? await kellyInputs(deps, account.id) : undefined;
    const planning = planTrade(
      kelly === undefined ? input : { ...input, kelly },
      snapshot,
      limits,
      tradingStateOf(account),
      deps.now().getTime(),
    );
    const riskPercent = input.riskPercent ?? limits.riskPerTradePercent;
    const explained =
      input.sizingMethod === "half_kelly" && kelly === undefined
        ? {
            ...planning,
            violations: planning.violations.map((violation) =>
              violation.code === "INVALID_INPUT"
                ? {
                    code: "NO_WIN_RATE",
                    message: `Half Kelly needs a win rate from at least ${KELLY_MIN_TRADES} closed trades with both wins and losses; edit the method.`,
                  }
                : violation,
            ),
          }
        : planning;
    return {
      ok: true,
      accountId: account.id,
      card: toPlanCardModel(
        input.symbol,
        input.side,
        input.entryType,
        input.sizingMethod ?? "risk_percent",
        riskPercent,
        explained,
      ),
    };
  } catch (error) {
    deps.logger.warn({ err: error, symbol: input.symbol }, "plan could not be priced");
    return {
      ok: false,
      message: "The plan could not be priced: the broker or the database did not answer.",
    };
  }
}

/** Win rate and payoff of the account's closed trades, once there are enough of them. */
async function kellyInputs(deps: BotDeps, accountId: number): Promise<KellyInputs | undefined> {
  if (deps.db === undefined) return undefined;
  const closed = await listTrades(deps.db, accountId, { statuses: ["CLOSED"], limit: 500 });
  if (closed.length < KELLY_MIN_TRADES) return undefined;
  const pnl = closed.map((record) => record.trade.realizedPnl);
  const wins = pnl.filter((value) => value.gt(ZERO));
  const losses = pnl.filter((value) => value.lt(ZERO)).map((value) => value.abs());
  if (wins.length === 0 || losses.length === 0) return undefined;
  const average = (values: readonly Decimal[]) =>
    values.reduce((sum, value) => sum.plus(value), ZERO).div(values.length);
  return {
    winRate: new Decimal(wins.length).div(closed.length),
    payoffRatio: average(wins).div(average(losses)),
  };
}

/**
 * Stores a confirmed card as an approved decision and hands it to the jobs. A card from an alert
 * first takes the alert: one decision per alert, whoever presses first. A card with an id makes
 * one decision: a second press of it (a double tap handled after the first timed out, an update
 * delivered again) answers CARD_TAKEN with the first one's decision, and a press after the card's
 * Cancel claimed it (cancelCard) answers CARD_CANCELLED, storing and sending nothing.
 * `approverName`, the approver as the alert's copies name them, is logged with the alert's
 * approval, so a restarted bot can name them again (alertResume.ts).
 */
export async function submitCard(
  deps: BotDeps,
  telegramUserId: number,
  accountId: number,
  card: PlanCardModel,
  alertId: number | undefined,
  cardId?: string,
  message?: CardMessage,
  approverName?: string,
): Promise<Submitted> {
  const { db, decisions } = deps;
  if (db === undefined || decisions === undefined || card.quantity === null || card.stop === null) {
    return { ok: false, code: "REFUSED", message: "Trading is not set up on this desk yet." };
  }
  const at = deps.now();
  const actor = `user:${telegramUserId}`;
  // The card was priced against the state of a minute ago: a halt since then refuses the entry
  // here, at the press, not only later in the execute job.
  const state = await loadTradingState(db, accountId);
  if (state === null) return { ok: false, code: "REFUSED", message: "The account is gone." };
  if (!allowsOrder(state, { reducesPosition: false, isCancel: false })) {
    const words = state.mode === "HALTED" ? "Trading is halted" : "The account is reduce-only";
    return {
      ok: false,
      code: "REFUSED",
      message: `${words} (${state.reason}): new entries are refused. /resume (admin) lifts it.`,
    };
  }
  if (alertId !== undefined) {
    // An adjusted plan can be confirmed long after the alert's press: its deadline still holds,
    // the close of its session included (a plan opened before the close and confirmed after it
    // would trade the alert's levels in a market they were not set for).
    const alert = await findAlert(db, alertId);
    const deadline = alert === null ? null : await alertDeadlineOf(deps, alert, at);
    if (deadline !== null && deadline.at <= at.getTime()) {
      await moveAlert(db, alertId, ["received", "sent"], "expired", "system:expiry", at);
      return {
        ok: false,
        code: "ALERT_EXPIRED",
        message:
          deadline.code === "ALERT_SESSION_ENDED"
            ? alertSessionEndedText(deadline.sessionDate, card.symbol)
            : `Too late: this alert expired. /plan ${card.symbol} plans the trade on its own.`,
      };
    }
  }
  const user = await findUserByTelegramId(db, telegramUserId);
  const draft = cardDraft(
    { ...card, quantity: card.quantity, stop: card.stop },
    accountId,
    alertId,
    telegramUserId,
    user?.id ?? null,
    "approved",
  );
  // The alert is taken and its decision stored together: an alert taken without its decision
  // (the insert failing, or the card's key taken by its Cancel) would stay approved with nothing
  // to trade, and no one could approve it.
  let decision: Decision | null;
  try {
    decision = await db.transaction(async (tx) => {
      if (alertId !== undefined) {
        const taken = await moveAlert(
          tx,
          alertId,
          ["received", "sent"],
          "approved",
          actor,
          at,
          approverName === undefined ? undefined : { deciderName: approverName },
        );
        if (taken === null) return null;
      }
      if (cardId === undefined) return createDecision(tx, draft, at);
      const once = await createDecisionOnce(tx, draft, cardIdempotency(card, cardId), at);
      if (!once.created) throw new CardKeyTaken(once.decision);
      // Kept with the decision itself: should the bot stop before the card shows the Confirm,
      // the restarted bot finds the card to bring up to date (planResume.ts).
      if (message !== undefined) await recordDecisionMessage(tx, once.decision.id, message);
      return once.decision;
    });
  } catch (error) {
    if (error instanceof CardKeyTaken) return takenCard(error.holder);
    throw error;
  }
  if (decision === null) {
    // The alert may have gone to this card's own earlier press.
    const earlier =
      cardId === undefined
        ? null
        : await findDecisionByIdempotencyKey(db, accountId, planCardKey(cardId));
    if (earlier !== null) return takenCard(earlier);
    return { ok: false, code: "ALERT_TAKEN", message: "The alert was already decided or expired." };
  }
  try {
    await decisions.submit(decision.id);
  } catch (error) {
    // Nothing else hands an approved decision to the jobs: left approved, it would never run
    // while reading as on its way. Withdrawn, a job the queue took after all finds it failed.
    let withdrawn: Decision | null;
    try {
      const withdrawnAt = deps.now();
      withdrawn = await db.transaction(async (tx) => {
        const failed = await failApprovedDecision(
          tx,
          decision.id,
          NOT_QUEUED_REASON,
          actor,
          withdrawnAt,
        );
        // Nothing was sent: the alert it took goes back to every trader in the same transaction,
        // so a stop between the two writes cannot leave it approved for a withdrawn decision.
        if (failed !== null && alertId !== undefined) {
          await reopenAlert(tx, alertId, NOT_QUEUED_REASON, actor, withdrawnAt);
        }
        return failed;
      });
    } catch {
      throw error;
    }
    deps.logger.error(
      { err: error, decisionId: decision.id, withdrawn: withdrawn !== null },
      "confirmed plan not queued",
    );
    // No longer approved: a job the queue took after all has claimed it and runs it.
    if (withdrawn === null) return { ok: true, decisionId: decision.id };
    return {
      ok: false,
      code: "NOT_QUEUED",
      message: `The job queue did not answer: decision #${decision.id} was withdrawn and nothing will be sent. Try again.`,
    };
  }
  deps.logger.info(
    { decisionId: decision.id, symbol: card.symbol, telegramUserId, alertId },
    "plan confirmed",
  );
  return { ok: true, decisionId: decision.id };
}
