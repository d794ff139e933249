/**
 * After a plan is confirmed (or an alert approved), its message follows the order: sent, working
 * at the broker, filled, protected (or refused, cancelled, closed). The jobs write every step to
 * the database; this reads it there (the bot never asks the broker) and edits the message when
 * the step changes, until the order is protected or over, or the follow window ends.
 */
import { type Api, GrammyError } from "grammy";
import type { Database } from "../../db/database";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import { formatPrice } from "../../domain/tradePlan";
import type { BotDeps } from "../feature";
import { escapeHtml } from "../views/html";
import { dollars, type PlanCardModel, renderPlanCard } from "../views/planCard";

/** Where an order stands, as a line for its message; `done` when nothing more is expected. */
export interface OrderProgress {
  readonly line: string;
  readonly done: boolean;
}

const WORKING = new Set(["new", "accepted", "pending_new", "held", "partially_filled"]);
/** An entry in these can still fill (a cancel or replace under way has not ended it yet). */
const ENTRY_STILL_WORKING = new Set([...WORKING, "pending_cancel", "pending_replace"]);

/** Reads where the order of a decision stands. */
export async function readOrderProgress(
  deps: Pick<BotDeps, "db" | "executionWindow">,
  decisionId: number,
): Promise<OrderProgress> {
  const db = deps.db;
  if (db === undefined) return { line: "", done: true };
  // One snapshot: read apart, a fill committed between the trade and its orders showed the
  // entry ended with the trade's earlier quantity ("Filled 4 @", done), and the follow stopped.
  return db.transaction((tx) => progressIn(tx, deps.executionWindow, decisionId), {
    isolationLevel: "repeatable read",
    accessMode: "read only",
  });
}

async function progressIn(
  db: Database,
  executionWindow: BotDeps["executionWindow"],
  decisionId: number,
): Promise<OrderProgress> {
  const decision = await findDecision(db, decisionId);
  if (decision === null) return { line: "", done: true };
  if (decision.status === "failed" || decision.status === "expired") {
    const reason = decision.statusReason === null ? "" : `: ${escapeHtml(decision.statusReason)}`;
    return { line: `<b>Not executed</b>${reason}`, done: true };
  }
  const record = await findTradeByDecision(db, decisionId);
  if (record === null) {
    // Approved and not taken yet: with a window, it waits for the next opening (maybe tomorrow).
    const window = executionWindow;
    if (decision.status === "approved" && window?.kind === "window") {
      return {
        line: `Waiting for the execution window: entries are sent from ${window.start} to ${window.end} New York time on trading days.`,
        done: false,
      };
    }
    return { line: "Sending to the broker…", done: false };
  }
  const { trade } = record;
  if (trade.status === "CANCELLED") {
    // While the decision is still executing, the cancel may have raced the entry's send: the
    // broker can still fill it, and the fill is then stored on this trade (back to POSITION).
    if (decision.status === "executing") {
      return { line: "Cancelling: waiting for the broker's answer on the entry…", done: false };
    }
    // Ended without a fill, not always by a cancel: the broker may have refused it after taking
    // it, or its day ended.
    const entries = (await listOrdersForTrade(db, record.id)).filter(
      (entry) => entry.order.role === "ENTRY" || entry.order.role === "SLICE",
    );
    if (entries.some((entry) => entry.order.status === "rejected")) {
      return { line: "<b>Entry rejected by the broker.</b> Nothing was filled.", done: true };
    }
    if (entries.some((entry) => entry.order.status === "expired")) {
      return { line: "<b>Entry expired</b> at the broker, unfilled.", done: true };
    }
    return { line: "<b>Entry cancelled.</b>", done: true };
  }
  if (trade.status === "CLOSED") {
    const reason = trade.exitReason === null ? "" : ` (${trade.exitReason})`;
    return {
      line: `<b>Closed</b>${reason}: P&amp;L ${dollars(trade.realizedPnl.toString())}`,
      done: true,
    };
  }
  const orders = await listOrdersForTrade(db, record.id);
  if (trade.status === "ORDERED" || trade.averageEntryPrice === null) {
    // The entry is recorded before it is sent; only the broker's id says the broker has it.
    const acknowledged = orders.some(
      (entry) =>
        (entry.order.role === "ENTRY" || entry.order.role === "SLICE") &&
        entry.order.brokerOrderId !== null,
    );
    return acknowledged
      ? { line: "Submitted: the entry is working at the broker.", done: false }
      : { line: "Sending to the broker…", done: false };
  }
  const live = (role: string) =>
    orders.find((entry) => entry.order.role === role && WORKING.has(entry.order.status));
  // A part filled while the rest of the entry still works is not the whole position yet.
  const entryWorking = orders.some(
    (entry) =>
      (entry.order.role === "ENTRY" || entry.order.role === "SLICE") &&
      ENTRY_STILL_WORKING.has(entry.order.status),
  );
  const price = `$${formatPrice(trade.averageEntryPrice)}`;
  const filled = entryWorking
    ? `Filled ${escapeHtml(trade.entryQuantity.toString())} of ${escapeHtml(decision.quantity.toString())} @ ${price}; the rest of the entry is working.`
    : `Filled ${escapeHtml(trade.entryQuantity.toString())} @ ${price}.`;
  const stop = live("STOP_LOSS");
  const target = live("TAKE_PROFIT");
  if (stop === undefined) return { line: `${filled} Placing the stop…`, done: false };
  const stopPrice = stop.order.stopPrice ?? stop.order.limitPrice;
  const parts = [
    stopPrice === null ? "stop working" : `stop $${formatPrice(stopPrice)}`,
    target?.order.limitPrice == null ? null : `target $${formatPrice(target.order.limitPrice)}`,
  ].filter((part) => part !== null);
  return { line: `${filled}\n<b>Protected:</b> ${parts.join(", ")}.`, done: !entryWorking };
}

/** The line a confirmed card shows above its progress. */
export function confirmedCardText(card: PlanCardModel, decisionId: number): string {
  return `<b>Confirmed.</b> Decision #${decisionId} sent for execution: ${escapeHtml(card.quantity ?? "")} ${escapeHtml(card.symbol)}, risk ${dollars(card.riskAmount ?? "0")}.`;
}

/** A confirmed card with its progress line. */
export function renderFollowedCard(
  card: PlanCardModel,
  decisionId: number,
  progress: string,
): string {
  return renderPlanCard(card, `${confirmedCardText(card, decisionId)}\n${progress}`);
}

/** Telegram refusing an edit that would change nothing: the message already shows it. */
function unchanged(error: unknown): boolean {
  return (
    error instanceof GrammyError &&
    error.error_code === 400 &&
    /message is not modified/i.test(error.description)
  );
}

/** Under the last step shown when the follow ends before the order settles. */
export const NO_LONGER_UPDATED =
  "<i>No longer updated here: /orders and /positions show where it stands.</i>";

/** Telegram refusing an edit in a way no retry changes (a flood wait or a 5xx passes). */
function refusedForGood(error: unknown): boolean {
  return error instanceof GrammyError && (error.error_code === 400 || error.error_code === 403);
}

export interface FollowRequest {
  readonly chatId: number;
  readonly messageId: number;
  readonly decisionId: number;
  /** The message's HTML with the progress line. */
  render(progress: string): string;
}

export interface FollowOptions {
  readonly intervalMs?: number;
  /** How long to follow (default 10 minutes); after that /orders and the notices take over. */
  readonly maxMs?: number;
}

/**
 * Follows a decision in the background, editing the message at each new step. Returns a function
 * that stops following (also stopped when done or after `maxMs`). Failures are logged, never
 * thrown: the message is a convenience, the notices are the record.
 */
export function followDecision(
  api: Api,
  deps: Pick<BotDeps, "db" | "logger" | "executionWindow">,
  request: FollowRequest,
  options: FollowOptions = {},
): () => void {
  const intervalMs = options.intervalMs ?? 1_000;
  const deadline = Date.now() + (options.maxMs ?? 10 * 60_000);
  let shown = "";
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const step = async () => {
    if (stopped) return;
    try {
      const progress = await readOrderProgress(deps, request.decisionId);
      if (progress.line !== "" && progress.line !== shown) {
        await api
          .editMessageText(request.chatId, request.messageId, request.render(progress.line), {
            parse_mode: "HTML",
          })
          .catch((error: unknown) => {
            // A follow taken up again after a restart may find the card already showing it.
            if (!unchanged(error)) throw error;
          });
        shown = progress.line;
      }
      if (progress.done) stopped = true;
    } catch (error) {
      deps.logger.debug({ err: error, decisionId: request.decisionId }, "order progress not shown");
      // Refused for good (the message deleted, the chat gone or upgraded, the bot blocked): trying
      // every second would only take the chat's turns from the bot's replies.
      if (refusedForGood(error)) stopped = true;
    }
    if (stopped) return;
    if (Date.now() >= deadline) {
      // The step shown would otherwise read as current for good ("working", "placing the stop").
      if (shown !== "") {
        await api
          .editMessageText(
            request.chatId,
            request.messageId,
            request.render(`${shown}\n${NO_LONGER_UPDATED}`),
            {
              parse_mode: "HTML",
            },
          )
          .catch((error: unknown) => {
            deps.logger.debug(
              { err: error, decisionId: request.decisionId },
              "follow end not shown",
            );
          });
      }
      return;
    }
    timer = setTimeout(() => void step(), intervalMs);
    timer.unref();
  };
  timer = setTimeout(() => void step(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
