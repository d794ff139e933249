/**
 * /plan [SYMBOL]: a conversation that asks for the trade step by step (symbol, side, entry, stop,
 * target, risk %, sizing method), shows the plan card from domain/planTrade.ts, and on Confirm
 * stores an approved decision and hands it to the jobs. Wrong answers are explained and asked
 * again; /cancel leaves the form anywhere (bot/features/cancel.ts hands it to the open form).
 *
 * A card's Confirm and its Cancel (the button or /cancel) can both be under way at once: a press
 * held past the chat's update timeout lets the next update replay the form from its stored state.
 * The database settles it: each stores its claim under the card's key (planService.ts), the first
 * one wins, and the other says what really happened.
 *
 * Conversations replay from the top on every update: every database, broker-fact or clock call
 * goes through `conversation.external` and returns JSON-safe values (decimals as strings).
 */
import { randomBytes } from "node:crypto";
import { type Conversation, createConversation } from "@grammyjs/conversations";
import { type Api, Composer } from "grammy";
import { Decimal } from "../../domain/money";
import { marketEntryPrice, type TradeInput } from "../../domain/planTrade";
import type { SizingMethod } from "../../domain/sizing";
import { commandSpec } from "../commands";
import type { BotContext, FormContext } from "../context";
import type { BotDeps, BotFeature } from "../feature";
import { PLAN_CARD_ACTION, planCardKeyboard, readPlanCardPress } from "../keyboards/plan";
import { escapeHtml } from "../views/html";
import { type PlanCardModel, priceText, renderPlanCard } from "../views/planCard";
import { guardCommand } from "./access";
import { settleAlertCopies } from "./alertsCopies";
import {
  confirmedCardText,
  type FollowRequest,
  followDecision,
  renderFollowedCard,
} from "./planFollow";
import {
  type Answer,
  type EntryAnswer,
  readEntry,
  readRiskPercent,
  readSide,
  readSizingMethod,
  readStop,
  readSymbol,
  readTarget,
  type StopAnswer,
  stopSideProblem,
  type TargetAnswer,
  targetSideProblem,
} from "./planInput";
import { DEFAULT_CONFIRMATION_MS, DEFAULT_ORDER_FOLLOW_MS, type QuoteFacts } from "./planPorts";
import { resumeCardFollows } from "./planResume";
import {
  type CardCancel,
  cancelCard,
  cardDecision,
  type Priced,
  priceTrade,
  submitCard,
} from "./planService";

export const PLAN_CONVERSATION = "plan";

/** A form left unanswered this long (real time) is dropped. */
const FORM_IDLE_MS = 30 * 60_000;

/** What the form has gathered so far; JSON-safe. Absent fields are still to be asked. */
export interface PlanDraft {
  readonly symbol?: string;
  readonly shortable?: boolean;
  readonly side?: "long" | "short";
  readonly quote?: QuoteFacts | null;
  readonly entry?: EntryAnswer;
  readonly stop?: StopAnswer;
  /** null: the default 2R. */
  readonly target?: TargetAnswer | null;
  /** null: the account's risk per trade. */
  readonly riskPercent?: string | null;
  readonly method?: SizingMethod;
  /** The alert this plan adjusts: confirming it approves the alert. */
  readonly alertId?: number;
}

/** How /plan starts: a symbol typed after the command, or a prefilled draft (alert Adjust). */
export interface PlanStart {
  readonly symbol?: string;
  readonly draft?: PlanDraft;
}

type PlanConversation = Conversation<BotContext, FormContext>;

const EDITABLE_FIELDS = ["symbol", "side", "entry", "stop", "target", "risk", "method"] as const;

export function createPlanFeature(): BotFeature {
  return {
    name: "plan",
    commands: ["plan"],
    callbackActions: [PLAN_CARD_ACTION],
    create(setup) {
      const { deps } = setup;
      const composer = new Composer<BotContext>();
      // The bot's own API client (outside conversations every context carries it), for the
      // background edits that follow a confirmed order.
      let botApi: Api | undefined;
      composer.use((ctx, next) => {
        botApi ??= ctx.api;
        return next();
      });
      const settleAlert = (alertId: number, outcome: string) => {
        if (botApi === undefined) return;
        settleAlertCopies(botApi, deps, alertId, outcome).catch((error: unknown) => {
          deps.logger.warn({ err: error, alertId }, "alert copies not updated");
        });
      };
      const follow = (request: FollowRequest) => {
        const followMs = deps.planning?.orderFollowMs ?? DEFAULT_ORDER_FOLLOW_MS;
        if (botApi === undefined || followMs <= 0) return;
        followDecision(botApi, deps, request, { maxMs: followMs });
      };
      // Cards a stopped process left unfinished ("Working…", or an old step) are brought up to
      // date from their decisions.
      setup.onStart?.(async (api) => {
        botApi ??= api;
        if (deps.db === undefined) return;
        const resumed = await resumeCardFollows(deps.db, deps.now(), follow);
        if (resumed > 0) deps.logger.info({ resumed }, "confirmed plan cards followed again");
      });
      composer.use(
        createConversation<BotContext, FormContext>(
          (conversation, ctx, start: PlanStart = {}) =>
            runPlan(deps, { follow, settleAlert }, conversation, ctx, start),
          { id: PLAN_CONVERSATION, maxMillisecondsToWait: FORM_IDLE_MS },
        ),
      );
      composer.command("plan", ...guardCommand(commandSpec("plan")), async (ctx) => {
        if (deps.db === undefined || deps.market === undefined || deps.decisions === undefined) {
          await ctx.reply("Trading is not set up on this desk yet.");
          return;
        }
        const symbol = ctx.match.trim();
        // A new /plan replaces a form in progress.
        await ctx.conversation.exitAll();
        await ctx.conversation.enter(PLAN_CONVERSATION, symbol === "" ? {} : { symbol });
      });
      // /cancel passed on by a form that timed out meanwhile (an open form answers it itself).
      composer.command("cancel", async (ctx) => {
        await ctx.conversation.exitAll();
        await ctx.reply(
          "Nothing to cancel: the form is no longer open. /orders lists working orders.",
        );
      });
      // Presses of cards whose form is over (confirmed, cancelled, replaced, timed out).
      composer.callbackQuery(PLAN_CARD_ACTION.pattern, async (ctx) => {
        const press = readPlanCardPress(ctx.callbackQuery.data);
        if (press !== null && deps.now().getTime() >= press.expiresAt.getTime()) {
          await ctx.answerCallbackQuery({ text: "Too late: this plan expired.", show_alert: true });
          const text = ctx.callbackQuery.message?.text;
          if (text !== undefined && ctx.callbackQuery.message?.reply_markup !== undefined) {
            await ctx.editMessageText(`${escapeHtml(text)}\n\n<b>Expired.</b> Nothing was done.`, {
              parse_mode: "HTML",
            });
          }
          return;
        }
        await ctx.answerCallbackQuery({
          text: "This plan is no longer open. /plan starts a new one.",
        });
      });
      return composer;
    },
  };
}

interface PlanEffects {
  /** Follows a confirmed order in its message (in the background). */
  readonly follow: (request: FollowRequest) => void;
  /** Rewrites every copy of an alert this plan approved (in the background). */
  readonly settleAlert: (alertId: number, outcome: string) => void;
}

/** A card this form offered for Confirm: what a Cancel of the form must claim. */
interface OfferedCard {
  readonly cardId: string;
  readonly accountId: number;
  readonly card: PlanCardModel;
}

/** /cancel sent while the form waits for a text answer: leaves the form from wherever it is. */
class CancelCommand {
  constructor(readonly ctx: FormContext) {}
}

const CANCEL_COMMAND = /^\/cancel(@\w+)?(\s|$)/i;

/** The form itself; /cancel sent at a question ends it here. */
async function runPlan(
  deps: BotDeps,
  effects: PlanEffects,
  conversation: PlanConversation,
  ctx: FormContext,
  start: PlanStart,
): Promise<void> {
  const offered: OfferedCard[] = [];
  try {
    await planUntilDone(deps, effects, conversation, ctx, start, offered);
  } catch (error) {
    if (!(error instanceof CancelCommand)) throw error;
    const outcome = await cancelOffered(deps, conversation, ctx, offered);
    await error.ctx.reply(cancelReply(outcome), { parse_mode: "HTML" });
  }
}

/**
 * Claims every card this form offered for Confirm as cancelled: a Confirm of one of them may still
 * be in flight (a card left by Edit included). A card a Confirm took first answers for them all.
 */
async function cancelOffered(
  deps: BotDeps,
  conversation: PlanConversation,
  ctx: FormContext,
  offered: readonly OfferedCard[],
): Promise<CardCancel> {
  if (offered.length === 0) return { ok: true, code: "CANCELLED" };
  const telegramUserId = ctx.deskUser.telegramUserId;
  const outcomes = await conversation.external(() =>
    Promise.all(
      offered.map((entry) =>
        cancelCard(deps, telegramUserId, entry.accountId, entry.card, entry.cardId),
      ),
    ),
  );
  return (
    outcomes.find((outcome) => outcome.code === "CARD_CONFIRMED") ??
    outcomes.find((outcome) => outcome.code === "UNKNOWN") ?? { ok: true, code: "CANCELLED" }
  );
}

/** The chat's answer to a cancel of the form. */
function cancelReply(outcome: CardCancel): string {
  switch (outcome.code) {
    case "CANCELLED":
      return "Cancelled. Nothing was sent.";
    case "CARD_CONFIRMED":
      return `Not cancelled: this plan was already confirmed as decision #${outcome.decisionId} and sent for execution. To cancel its entry, use its Cancel button under /orders.`;
    case "UNKNOWN":
      return escapeHtml(outcome.message);
  }
}

/** The form until it ends: asked, priced, shown as a card, confirmed, edited or cancelled. */
async function planUntilDone(
  deps: BotDeps,
  effects: PlanEffects,
  conversation: PlanConversation,
  ctx: FormContext,
  start: PlanStart,
  offered: OfferedCard[],
): Promise<void> {
  const telegramUserId = ctx.deskUser.telegramUserId;
  let draft: PlanDraft = start.draft ?? {};
  if (start.symbol !== undefined && draft.symbol === undefined) {
    const symbol = readSymbol(start.symbol);
    if (symbol.ok) draft = await withSymbol(deps, conversation, ctx, draft, symbol.value);
    else await ctx.reply(escapeHtml(symbol.problem), { parse_mode: "HTML" });
  }
  const ttlMs = deps.planning?.confirmationMs ?? DEFAULT_CONFIRMATION_MS;

  for (;;) {
    draft = await completeDraft(deps, conversation, ctx, draft);
    const priced = await conversation.external(() => priceDraft(deps, telegramUserId, draft));
    if (!priced.ok) {
      await ctx.reply(`${escapeHtml(priced.message)} /plan to try again.`, { parse_mode: "HTML" });
      return;
    }
    const { card } = priced;
    const cardId = await conversation.external(() =>
      randomBytes(8).readBigUInt64BE().toString(36).slice(0, 12),
    );
    const expiresAtMs = await conversation.external(() => deps.now().getTime() + ttlMs);
    const expiresAt = new Date(expiresAtMs);
    const minutes = Math.max(1, Math.round(ttlMs / 60_000));
    const footer = card.canConfirm
      ? `Confirm within ${minutes} minute${minutes === 1 ? "" : "s"}; after that it expires and nothing is done.`
      : "Edit the plan or cancel it.";
    const sent = await ctx.reply(renderPlanCard(card, footer), {
      parse_mode: "HTML",
      reply_markup: planCardKeyboard(cardId, expiresAt, card.canConfirm),
    });
    const settle = (outcome: string) =>
      ctx.api.editMessageText(sent.chat.id, sent.message_id, renderPlanCard(card, outcome), {
        parse_mode: "HTML",
      });
    // Newest first: the card on screen is the one a cancel settles.
    if (card.canConfirm) offered.unshift({ cardId, accountId: priced.accountId, card });

    const press = await waitForCardPress(conversation, cardId, ttlMs, () =>
      conversation.external(() =>
        cardDecision(deps, priced.accountId, cardId).catch((error: unknown) => {
          deps.logger.warn({ err: error, cardId }, "open card's decision not looked up");
          return null;
        }),
      ),
    );
    if (press.answer === "decided") {
      // A stop after the Confirm (or Cancel) stored it and before this form's end was saved:
      // the card lost its buttons, so say what became of it and end the form.
      await press.ctx.reply(
        press.decision.cancelled
          ? "This plan was already cancelled: nothing was sent. /plan starts a new plan."
          : `This plan was already confirmed: decision #${press.decision.id} was sent for execution. /orders shows its entry; /plan starts a new plan.`,
      );
      return;
    }
    if (press.answer === "cancel") {
      const outcome = await cancelOffered(deps, conversation, ctx, offered);
      if (press.ctx.callbackQuery !== undefined) {
        await press.ctx.answerCallbackQuery(
          outcome.code === "CANCELLED"
            ? { text: "Cancelled." }
            : {
                text:
                  outcome.code === "CARD_CONFIRMED"
                    ? `Too late to cancel: already confirmed (decision #${outcome.decisionId}) and sent for execution. Cancel its entry from /orders.`
                    : outcome.message.slice(0, 200),
                show_alert: true,
              },
        );
      }
      // The card is settled by the Confirm that took it, or stays as it is when the claim failed.
      if (outcome.code === "CANCELLED") await settle("<b>Cancelled.</b> Nothing was done.");
      // /cancel is always answered in the chat; the button only when a pop-up is not enough.
      if (press.ctx.callbackQuery === undefined || outcome.code !== "CANCELLED") {
        await press.ctx.reply(cancelReply(outcome), { parse_mode: "HTML" });
      }
      return;
    }
    if (press.answer === "edit") {
      await press.ctx.answerCallbackQuery();
      await settle("<i>Editing…</i>");
      draft = await editDraft(conversation, ctx, draft);
      continue;
    }
    const pressedAt = await conversation.external(() => deps.now().getTime());
    if (pressedAt >= expiresAtMs) {
      // An earlier press made in time (held past the chat's timeout) may have confirmed the card:
      // its decision is on the way and that press shows it on the card.
      const earlier = await conversation.external(() =>
        cardDecision(deps, priced.accountId, cardId).catch((error: unknown) => {
          deps.logger.warn({ err: error, cardId }, "expired card's decision not looked up");
          return null;
        }),
      );
      if (earlier !== null && !earlier.cancelled) {
        await press.ctx.answerCallbackQuery({
          text: `Already confirmed: decision #${earlier.id} was sent for execution before the plan expired.`,
          show_alert: true,
        });
        return;
      }
      await press.ctx.answerCallbackQuery({
        text: "Too late: this plan expired.",
        show_alert: true,
      });
      await settle("<b>Expired.</b> Nothing was done.");
      return;
    }
    if (!card.canConfirm) {
      await press.ctx.answerCallbackQuery({
        text: "This plan breaks a rule: edit it first.",
        show_alert: true,
      });
      continue;
    }
    await press.ctx.answerCallbackQuery();
    await settle("<i>Working…</i>");
    const submitted = await conversation.external(async () => {
      try {
        return await submitCard(
          deps,
          telegramUserId,
          priced.accountId,
          card,
          draft.alertId,
          cardId,
          { chatId: sent.chat.id, messageId: sent.message_id },
        );
      } catch (error) {
        deps.logger.error({ err: error, symbol: card.symbol }, "confirmed plan not stored");
        return {
          ok: false as const,
          message:
            "The database did not answer: the plan may not have been stored. Check /orders before trying again.",
        };
      }
    });
    const confirmedText = (decisionId: number) => confirmedCardText(card, decisionId);
    if (!submitted.ok && "code" in submitted && submitted.code === "CARD_CANCELLED") {
      // The card's Cancel claimed it while this press was held: nothing was stored or sent.
      await settle(`<b>Cancelled.</b> Nothing was sent: ${escapeHtml(submitted.message)}`);
      return;
    }
    if (!submitted.ok && "decisionId" in submitted) {
      // Another press of this card made the decision and follows it: only undo this press's
      // "Working…".
      await settle(confirmedText(submitted.decisionId));
      return;
    }
    if (!submitted.ok) {
      // A withdrawn decision (NOT_QUEUED) has given its alert back already, in its transaction.
      await settle(`<b>Not sent.</b> ${escapeHtml(submitted.message)}`);
      if (
        "code" in submitted &&
        submitted.code === "ALERT_EXPIRED" &&
        draft.alertId !== undefined
      ) {
        const expiredAlert = draft.alertId;
        await conversation.external(() => {
          effects.settleAlert(expiredAlert, "<b>Expired.</b> Nothing was done.");
          return null;
        });
      }
      return;
    }
    const confirmed = confirmedText(submitted.decisionId);
    await settle(confirmed);
    const alertId = draft.alertId;
    const trader = ctx.from?.first_name ?? "a trader";
    // The card's message was kept with the decision (submitCard): fills answer it, and a
    // restarted bot brings the card up to date.
    await conversation.external(() => {
      if (alertId !== undefined) {
        effects.settleAlert(
          alertId,
          `<b>Approved</b> by ${escapeHtml(trader)} (adjusted): decision #${submitted.decisionId}, ${escapeHtml(card.quantity ?? "")} ${escapeHtml(card.symbol)} sent for execution.`,
        );
      }
      effects.follow({
        chatId: sent.chat.id,
        messageId: sent.message_id,
        decisionId: submitted.decisionId,
        render: (progress) => renderFollowedCard(card, submitted.decisionId, progress),
      });
      return null;
    });
    return;
  }
}

/** Asks for every field the draft is missing, in order. */
async function completeDraft(
  deps: BotDeps,
  conversation: PlanConversation,
  ctx: FormContext,
  start: PlanDraft,
): Promise<PlanDraft> {
  let draft = start;
  while (draft.symbol === undefined) {
    const symbol = readSymbol(await ask(conversation, ctx, "Which symbol? (for example AAPL)"));
    if (!symbol.ok) {
      await ctx.reply(escapeHtml(symbol.problem), { parse_mode: "HTML" });
      continue;
    }
    draft = await withSymbol(deps, conversation, ctx, draft, symbol.value);
  }
  const symbol = draft.symbol;
  const shortable = draft.shortable !== false;
  const side: "long" | "short" =
    draft.side ??
    (await askFor(
      conversation,
      ctx,
      `${escapeHtml(symbol)}: long or short?`,
      (text): Answer<"long" | "short"> => {
        const answer = readSide(text);
        if (answer.ok && answer.value === "short" && !shortable) {
          return refusal(`${symbol} cannot be sold short at the broker. Send long, or /cancel.`);
        }
        return answer;
      },
    ));
  draft = { ...draft, side };
  if (draft.entry === undefined) {
    const quote = await conversation.external(async () => {
      try {
        return (await deps.market?.getLatestQuote(symbol)) ?? null;
      } catch (error) {
        // The entry can still be a limit price; the card prices a market entry afresh.
        deps.logger.warn({ err: error, symbol }, "quote lookup failed");
        return null;
      }
    });
    draft = { ...draft, quote };
    const entry = await askFor(
      conversation,
      ctx,
      `Entry: <b>market</b> or a limit price.\n${quoteLine(symbol, quote)}`,
      readEntry,
    );
    draft = { ...draft, entry };
  }
  const expected = expectedEntry(draft);
  if (draft.stop === undefined) {
    const stop = await askFor(
      conversation,
      ctx,
      "Stop: a price (185.50), a distance in percent (2%) or in dollars ($3).",
      (text): Answer<StopAnswer> => {
        const answer = readStop(text);
        const wrongSide =
          !answer.ok || expected === null ? null : stopSideProblem(side, expected, answer.value);
        return wrongSide === null ? answer : refusal(wrongSide);
      },
    );
    draft = { ...draft, stop };
  }
  if (draft.target === undefined) {
    const target = await askFor(
      conversation,
      ctx,
      "Target: a price, or a multiple of the risk such as 3R. <b>skip</b> for 2R.",
      (text): Answer<TargetAnswer | null> => {
        const answer = readTarget(text);
        const wrongSide =
          !answer.ok || expected === null ? null : targetSideProblem(side, expected, answer.value);
        return wrongSide === null ? answer : refusal(wrongSide);
      },
    );
    draft = { ...draft, target };
  }
  if (draft.riskPercent === undefined) {
    const riskPercent = await askFor(
      conversation,
      ctx,
      "Risk per trade in % of equity (such as 0.5)? <b>skip</b> for the account's setting.",
      readRiskPercent,
    );
    draft = { ...draft, riskPercent };
  }
  if (draft.method === undefined) {
    const method = await askFor(
      conversation,
      ctx,
      "Sizing: 1 risk %, 2 half Kelly, 3 conservative, 4 aggressive? <b>skip</b> for risk %.",
      readSizingMethod,
    );
    draft = { ...draft, method };
  }
  return draft;
}

/** Checks a symbol with the broker; asks again (by leaving it unset) when it cannot be traded. */
async function withSymbol(
  deps: BotDeps,
  conversation: PlanConversation,
  ctx: FormContext,
  draft: PlanDraft,
  symbol: string,
): Promise<PlanDraft> {
  const asset = await conversation.external(async () => {
    try {
      return { ok: true as const, asset: (await deps.market?.getAsset(symbol)) ?? null };
    } catch (error) {
      deps.logger.warn({ err: error, symbol }, "asset lookup failed");
      return { ok: false as const };
    }
  });
  if (!asset.ok) {
    await ctx.reply(
      "The broker could not be reached to check the symbol. Send it again, or /cancel.",
    );
    return draft;
  }
  if (asset.asset === null) {
    await ctx.reply(
      `The broker does not know ${escapeHtml(symbol)}. Send another symbol, or /cancel.`,
      {
        parse_mode: "HTML",
      },
    );
    return draft;
  }
  if (!asset.asset.tradable) {
    await ctx.reply(
      `${escapeHtml(symbol)} is not tradable at the broker. Send another symbol, or /cancel.`,
      {
        parse_mode: "HTML",
      },
    );
    return draft;
  }
  return { ...draft, symbol, shortable: asset.asset.shortable };
}

/** Lets the trader pick a field to change, then forgets it (and what depends on it). */
async function editDraft(
  conversation: PlanConversation,
  ctx: FormContext,
  draft: PlanDraft,
): Promise<PlanDraft> {
  const field = await askFor(
    conversation,
    ctx,
    `What do you want to change? ${EDITABLE_FIELDS.join(", ")}`,
    (text): Answer<(typeof EDITABLE_FIELDS)[number]> => {
      const word = text.trim().toLowerCase();
      const found = EDITABLE_FIELDS.find((candidate) => candidate === word);
      return found === undefined
        ? { ok: false, problem: `Send one of: ${EDITABLE_FIELDS.join(", ")}.` }
        : { ok: true, value: found };
    },
  );
  switch (field) {
    case "symbol":
      // A plan in another symbol is the trader's own, not the alert's: it must not take the
      // alert away from the others (nor count as the alert's trade).
      return {};
    case "side": {
      // The other side is not the alert's trade either: approving the alert with it would tell
      // every trader a long alert was taken by a short.
      const { alertId: _alert, ...own } = draft;
      return { ...own, side: undefined, stop: undefined, target: undefined };
    }
    case "entry":
      return { ...draft, entry: undefined, stop: undefined, target: undefined };
    case "stop":
      return { ...draft, stop: undefined };
    case "target":
      return { ...draft, target: undefined };
    case "risk":
      return { ...draft, riskPercent: undefined };
    case "method":
      return { ...draft, method: undefined };
  }
}

function refusal<T>(problem: string): Answer<T> {
  return { ok: false, problem };
}

/** Asks until `read` accepts the answer, explaining each refusal. */
async function askFor<T>(
  conversation: PlanConversation,
  ctx: FormContext,
  prompt: string,
  read: (text: string) => Answer<T>,
): Promise<T> {
  let text = await ask(conversation, ctx, prompt);
  for (;;) {
    const answer = read(text);
    if (answer.ok) return answer.value;
    await ctx.reply(escapeHtml(answer.problem), { parse_mode: "HTML" });
    text = await readText(conversation, ctx);
  }
}

async function ask(
  conversation: PlanConversation,
  ctx: FormContext,
  prompt: string,
): Promise<string> {
  await ctx.reply(prompt, { parse_mode: "HTML" });
  return readText(conversation, ctx);
}

/**
 * The next text message. Other commands pass through and leave the form open (a new /plan
 * replaces it); buttons of other messages reach their own handlers.
 */
async function readText(conversation: PlanConversation, ctx: FormContext): Promise<string> {
  for (;;) {
    const update = await conversation.wait();
    const text = update.message?.text;
    if (text === undefined) {
      if (update.callbackQuery !== undefined) await conversation.skip({ next: true });
      await ctx.reply("Please answer with text, or /cancel to leave the plan.");
      continue;
    }
    if (CANCEL_COMMAND.test(text)) throw new CancelCommand(update);
    if (/^\/plan(@\w+)?(\s|$)/i.test(text)) await conversation.halt({ next: true });
    if (text.startsWith("/")) await conversation.skip({ next: true });
    return text;
  }
}

type CardPress =
  | { readonly answer: "confirm" | "edit" | "cancel"; readonly ctx: FormContext }
  /** The card's key already holds its decision (or its Cancel's claim). */
  | {
      readonly answer: "decided";
      readonly decision: { readonly id: number; readonly cancelled: boolean };
      readonly ctx: FormContext;
    };

/**
 * Waits for a press of this card's buttons (/cancel counts as its Cancel); other updates are
 * answered or passed on. A message is first checked against the card's decision: a form saved
 * before its Confirm outlives a stop that came after it.
 */
async function waitForCardPress(
  conversation: PlanConversation,
  cardId: string,
  ttlMs: number,
  decisionOfCard: () => Promise<{ readonly id: number; readonly cancelled: boolean } | null>,
): Promise<CardPress> {
  for (;;) {
    // Real time, a little past the card's own expiry: the card's clock decides, this only
    // bounds how long an abandoned card holds the form.
    const update = await conversation.wait({ maxMilliseconds: ttlMs + FORM_IDLE_MS });
    const data = update.callbackQuery?.data;
    if (data !== undefined) {
      const press = readPlanCardPress(data);
      if (press === null || press.card !== cardId) await conversation.skip({ next: true });
      else return { answer: press.answer, ctx: update };
    }
    const text = update.message?.text;
    if (text !== undefined && CANCEL_COMMAND.test(text)) return { answer: "cancel", ctx: update };
    if (text !== undefined && /^\/plan(@\w+)?(\s|$)/i.test(text))
      await conversation.halt({ next: true });
    if (text?.startsWith("/")) await conversation.skip({ next: true });
    const decision = await decisionOfCard();
    if (decision !== null) return { answer: "decided", decision, ctx: update };
    await update.reply("Use the buttons under the plan, or /cancel.");
  }
}

function quoteLine(symbol: string, quote: QuoteFacts | null | undefined): string {
  if (quote === null || quote === undefined) return `No quote for ${escapeHtml(symbol)} right now.`;
  const parts = [
    quote.bid === null ? null : `bid ${priceText(quote.bid)}`,
    quote.ask === null ? null : `ask ${priceText(quote.ask)}`,
    quote.last === null ? null : `last ${priceText(quote.last)}`,
  ].filter((part) => part !== null);
  return parts.length === 0
    ? `No quote for ${escapeHtml(symbol)} right now.`
    : `${escapeHtml(symbol)}: ${parts.join(", ")}`;
}

/** The entry the trader expects: the limit, or the quote a market order would take. */
function expectedEntry(draft: PlanDraft): Decimal | null {
  if (draft.entry?.type === "limit") return new Decimal(draft.entry.price);
  const quote = draft.quote;
  if (quote === null || quote === undefined || draft.side === undefined) return null;
  const toDecimal = (text: string | null) => (text === null ? null : new Decimal(text));
  return marketEntryPrice(
    { bid: toDecimal(quote.bid), ask: toDecimal(quote.ask), last: toDecimal(quote.last) },
    draft.side,
  );
}

/** The trade input of a complete draft. */
export function tradeInputOf(draft: PlanDraft): TradeInput | null {
  const { symbol, side, entry, stop } = draft;
  if (symbol === undefined || side === undefined || entry === undefined || stop === undefined)
    return null;
  const target = draft.target ?? null;
  return {
    symbol,
    side,
    entryType: entry.type,
    limitPrice: entry.type === "limit" ? new Decimal(entry.price) : null,
    stop:
      stop.kind === "price"
        ? { kind: "price", price: new Decimal(stop.value) }
        : stop.kind === "percent"
          ? { kind: "percent", percent: new Decimal(stop.value) }
          : { kind: "amount", amount: new Decimal(stop.value) },
    target:
      target === null
        ? null
        : target.kind === "price"
          ? { kind: "price", price: new Decimal(target.value) }
          : { kind: "r", multiple: new Decimal(target.value) },
    riskPercent: draft.riskPercent == null ? null : new Decimal(draft.riskPercent),
    sizingMethod: draft.method ?? "risk_percent",
  };
}

/** Prices a complete draft for the user's account: the plan card. */
function priceDraft(deps: BotDeps, telegramUserId: number, draft: PlanDraft): Promise<Priced> {
  const input = tradeInputOf(draft);
  if (input === null) return Promise.resolve({ ok: false, message: "The plan is incomplete." });
  return priceTrade(deps, telegramUserId, input);
}
