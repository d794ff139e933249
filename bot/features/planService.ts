/**
 * The work behind a plan card, shared by /plan and the alert buttons: price a trade for the
 * user's account (domain/planTrade.ts against a fresh snapshot, the account's limits and trading
 * state) and turn a confirmed card into an approved decision handed to the jobs. Plain async
 * functions: conversations call them inside `conversation.external`, and their results are
 * JSON-safe.
 */

import { createHash } from "node:crypto";
import { findAccountForUser } from "../../db/accountOfUser";
import { findAlert, moveAlert } from "../../db/alerts";
import { loadTradingState, tradingStateOf } from "../../db/brokerAccounts";
import {
  createDecision,
  createDecisionOnce,
  findDecisionByIdempotencyKey,
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
import { alertExpiry } from "./planPorts";

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
       * out (while an adjusted plan was open); REFUSED: nothing may be entered.
       */
      readonly code: "ALERT_TAKEN" | "ALERT_EXPIRED" | "REFUSED";
      readonly message: string;
    }
  | {
      readonly ok: false;
      /** Another press of the same card made its decision, `decisionId`. */
      readonly code: "CARD_TAKEN";
      readonly decisionId: number;
      readonly message: string;
    };

/**
 * The idempotency key a plan card's decision is stored under. `/` is not allowed in the API's
 * Idempotency-Key, so no API client's key can take a card's.
 */
export function planCardKey(cardId: string): string {
  return `plan/${cardId}`;
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
 * delivered again) answers CARD_TAKEN with the first one's decision.
 */
export async function submitCard(
  deps: BotDeps,
  telegramUserId: number,
  accountId: number,
  card: PlanCardModel,
  alertId: number | undefined,
  cardId?: string,
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
    // An adjusted plan can be confirmed long after the alert's press: its expiry still holds.
    const alert = await findAlert(db, alertId);
    if (alert !== null && alertExpiry(alert, deps).getTime() <= at.getTime()) {
      await moveAlert(db, alertId, ["received", "sent"], "expired", "system:expiry", at);
      return {
        ok: false,
        code: "ALERT_EXPIRED",
        message: `Too late: this alert expired. /plan ${card.symbol} plans the trade on its own.`,
      };
    }
  }
  const user = await findUserByTelegramId(db, telegramUserId);
  const stopPrice = new Decimal(card.stop);
  const quantity = new Decimal(card.quantity);
  // The alert is taken and its decision stored together: an alert taken without its decision
  // (the insert failing) would stay approved with nothing to trade, and no one could approve it.
  const decision = await db.transaction(async (tx) => {
    if (alertId !== undefined) {
      const taken = await moveAlert(tx, alertId, ["received", "sent"], "approved", actor, at);
      if (taken === null) return null;
    }
    const draft = {
      accountId,
      source: alertId === undefined ? "manual" : "alert",
      alertId: alertId ?? null,
      symbol: card.symbol,
      side: card.side === "long" ? "buy" : "sell",
      entryType: card.entryType,
      entryPrice: card.limitPrice === null ? null : new Decimal(card.limitPrice),
      stopPrice,
      targetPrice: card.target === null ? null : new Decimal(card.target),
      quantity,
      riskAmount: new Decimal(card.riskAmount ?? "0"),
      createdBy: actor,
      status: "approved",
      decidedByUserId: user?.id ?? null,
    } as const;
    if (cardId === undefined) return createDecision(tx, draft, at);
    const once = await createDecisionOnce(
      tx,
      draft,
      {
        key: planCardKey(cardId),
        requestHash: createHash("sha256").update(JSON.stringify(card)).digest("hex"),
        // Read by the API's replays only, which never see a card's key.
        submitAnswer: {},
      },
      at,
    );
    return once.created ? once.decision : { taken: once.decision.id };
  });
  if (decision === null) {
    // The alert may have gone to this card's own earlier press.
    const earlier =
      cardId === undefined
        ? null
        : await findDecisionByIdempotencyKey(db, accountId, planCardKey(cardId));
    if (earlier !== null) {
      return {
        ok: false,
        code: "CARD_TAKEN",
        decisionId: earlier.id,
        message: `This plan was already confirmed: decision #${earlier.id}.`,
      };
    }
    return { ok: false, code: "ALERT_TAKEN", message: "The alert was already decided or expired." };
  }
  if ("taken" in decision) {
    return {
      ok: false,
      code: "CARD_TAKEN",
      decisionId: decision.taken,
      message: `This plan was already confirmed: decision #${decision.taken}.`,
    };
  }
  await decisions.submit(decision.id);
  deps.logger.info(
    { decisionId: decision.id, symbol: card.symbol, telegramUserId, alertId },
    "plan confirmed",
  );
  return { ok: true, decisionId: decision.id };
}
