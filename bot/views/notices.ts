/**
 * Notices (domain/notifications.ts) as Telegram HTML. One notice renders as one block; fills that
 * arrive together are merged per order into one block with a line per execution, so a burst of
 * partial fills reads as a few messages and every execution is still listed.
 */

import {
  type DailySummaryNotice,
  NOTICE_KINDS,
  type Notice,
  type OrderFilledNotice,
  type PositionCloseResultNotice,
} from "../../domain/notifications";
import { averagePrice, pnl, price, quantity, rMultiple, usd } from "./format";
import { bold, code, escapeHtml } from "./html";

/**
 * The notice an outbox row carries, or null when the row is not a notice this version knows
 * (its kind and payload disagree, or the kind is unknown).
 */
export function noticeOfRow(kind: string, payload: Record<string, unknown>): Notice | null {
  if (!(NOTICE_KINDS as readonly string[]).includes(kind) || payload.kind !== kind) return null;
  return payload as unknown as Notice;
}

const ROLE_NAMES: Record<OrderFilledNotice["role"], string> = {
  ENTRY: "entry",
  STOP_LOSS: "stop",
  TAKE_PROFIT: "target",
  EXIT: "exit",
  SLICE: "entry slice",
};

const EXIT_TITLES: Record<string, string> = {
  STOPPED_OUT: "Stopped out",
  PROFIT_TAKEN: "Target hit",
  MANUAL_EXIT: "Position closed",
  FLATTENED: "Flattened",
};

const MODE_TITLES: Record<string, string> = {
  ACTIVE: "Trading resumed",
  REDUCING: "Reduce-only: exits only",
  HALTED: "Trading halted",
};

const INCIDENT_TITLES: Record<string, string> = {
  MANUAL_CLOSE_FOUND: "Manual close found",
  POSITION_ADOPTED: "Position adopted",
  MISSED_FILL_INFERRED: "Missed fill applied",
  STOP_REPLACED: "Stop replaced",
};

/** One execution as a line of a fill block: `10 @ 190.10 · 30/200`. */
function fillLine(fill: OrderFilledNotice): string {
  return `${quantity(fill.fillQuantity)} @ ${price(fill.fillPrice)} · ${quantity(
    fill.filledQuantity,
  )}/${quantity(fill.orderQuantity)}${fill.complete ? " · complete" : ""}`;
}

/** The head of a block of fills of one order. */
export function fillHeader(fills: readonly OrderFilledNotice[]): string {
  const first = fills[0];
  if (first === undefined) return "";
  const complete = fills.some((fill) => fill.complete);
  const title =
    fills.length > 1
      ? `${fills.length} fills`
      : complete
        ? `${ROLE_NAMES[first.role][0]?.toUpperCase()}${ROLE_NAMES[first.role].slice(1)} filled`
        : "Partial fill";
  return `${bold(title)} ${bold(first.symbol)} ${first.side} · ${ROLE_NAMES[first.role]}${
    complete && fills.length > 1 ? " · complete" : ""
  }`;
}

/** The lines of a block of fills of one order (one per execution). */
export function fillLines(fills: readonly OrderFilledNotice[]): string[] {
  return fills.map(fillLine);
}

/** A block of fills of one order: the head, then one line per execution. */
export function renderFills(fills: readonly OrderFilledNotice[]): string {
  return [fillHeader(fills), ...fillLines(fills)].join("\n");
}

function renderDailySummary(notice: DailySummaryNotice): string {
  return [
    `${bold(`Daily summary ${notice.tradingDate}`)}`,
    `Equity ${usd(notice.equity)} · day ${pnl(notice.pnlToday)}`,
    `Realized ${pnl(notice.realizedPnl)} · unrealized ${pnl(notice.unrealizedPnl)}`,
    `Trades closed ${notice.tradesClosed} (${notice.wins} won, ${notice.losses} lost) · open positions ${notice.openPositions}`,
  ].join("\n");
}

const CLOSE_ACTIONS: Record<PositionCloseResultNotice["action"], string> = {
  flatten: "Flatten",
  close: "Close",
};

const AUTOMATIC_REQUESTERS: Record<string, string> = {
  "system:daily-loss": "automatic, after the daily-loss halt",
  "system:drawdown": "automatic, after the drawdown halt",
};

/** Who asked for a close, in words: `user:42` is "asked by user 42". */
function requesterWords(requestedBy: string): string {
  const automatic = AUTOMATIC_REQUESTERS[requestedBy];
  if (automatic !== undefined) return automatic;
  if (requestedBy.startsWith("system:")) return "automatic";
  const user = /^user:(\d+)$/.exec(requestedBy);
  return `asked by ${escapeHtml(user ? `user ${user[1]}` : requestedBy)}`;
}

/**
 * One symbol's close for a kill switch: `Flatten AAPL: closing 100 at market`, or why it failed
 * and what happens next, then who asked.
 */
function renderPositionCloseResult(notice: PositionCloseResultNotice): string {
  const action = CLOSE_ACTIONS[notice.action];
  const who = requesterWords(notice.requestedBy);
  if (notice.outcome === "closed") {
    const shares = notice.quantity === null ? "" : ` ${quantity(notice.quantity)}`;
    const how = notice.price === null ? "at market" : `@ ${price(notice.price)}`;
    const verb = notice.price === null ? "closing" : "closed";
    return `${bold(action)} ${bold(notice.symbol)}: ${verb}${shares} ${how} · ${who}`;
  }
  const why = `${escapeHtml(notice.reason ?? "not closed")}${
    notice.code === null ? "" : ` (${code(notice.code)})`
  }`;
  const next = notice.nextStep === null ? "" : `\n${escapeHtml(notice.nextStep)}`;
  return `${bold(`${action} failed`)} ${bold(notice.symbol)}: ${why} · ${who}${next}`;
}

/** A notice as an HTML block. */
export function renderNotice(notice: Notice): string {
  switch (notice.kind) {
    case "ENTRY_SUBMITTED": {
      const entry =
        notice.orderType === "limit" && notice.limitPrice !== null
          ? `limit ${price(notice.limitPrice)}`
          : "market";
      return [
        `${bold("Entry submitted")} ${bold(notice.symbol)} ${notice.side} ${quantity(notice.quantity)} ${entry}`,
        `Stop ${price(notice.stopPrice)} · ${notice.targetPrice === null ? "no target" : `target ${price(notice.targetPrice)}`}`,
        `Order ${code(notice.clientOrderId)}`,
      ].join("\n");
    }
    case "ORDER_FILLED":
      return renderFills([notice]);
    case "PROTECTION_PLACED":
      return `${bold("Protected")} ${bold(notice.symbol)} ${quantity(notice.quantity)} · stop ${price(
        notice.stopPrice,
      )} · ${notice.targetPrice === null ? "no target" : `target ${price(notice.targetPrice)}`}`;
    case "TRADE_CLOSED": {
      const r = notice.rMultiple === null ? "" : ` (${rMultiple(notice.rMultiple)})`;
      return [
        `${bold(EXIT_TITLES[notice.exitReason] ?? "Closed")} ${bold(notice.symbol)} ${quantity(notice.quantity)}`,
        `${averagePrice(notice.averageEntryPrice)} → ${averagePrice(notice.averageExitPrice)} · ${pnl(notice.realizedPnl)}${r}`,
      ].join("\n");
    }
    case "ORDER_REJECTED":
      return `${bold("Rejected")} ${bold(notice.symbol)}: ${escapeHtml(notice.reason)} (${code(notice.code)})`;
    case "ORDER_CANCELED":
      return `${bold("Cancelled")} ${bold(notice.symbol)} ${ROLE_NAMES[notice.role]} · filled ${quantity(
        notice.filledQuantity,
      )} · ${escapeHtml(notice.reason)}`;
    case "TRADING_STATE_CHANGED": {
      const who = notice.setBy === "AUTO" ? "automatic" : "by hand";
      const loss =
        notice.pnlToday === null || notice.lossLimit === null
          ? ""
          : `\nDay's P&amp;L ${pnl(notice.pnlToday)}, limit ${usd(notice.lossLimit)}`;
      return `${bold(MODE_TITLES[notice.to] ?? notice.to)} (${who}, was ${escapeHtml(notice.from)}): ${escapeHtml(
        notice.reason,
      )}${loss}`;
    }
    case "DAILY_LOSS_WARNING":
      return `${bold("Daily loss warning")}: day's P&amp;L ${pnl(notice.pnlToday)} against a ${usd(
        notice.lossLimit,
      )} limit; ${usd(notice.remaining)} left before trading halts.`;
    case "RECONCILIATION_INCIDENT": {
      const title = INCIDENT_TITLES[notice.incident] ?? `Reconciliation: ${notice.incident}`;
      const symbol = notice.symbol === null ? "" : ` ${bold(notice.symbol)}`;
      return `${bold(title)}${symbol}: ${escapeHtml(notice.detail)}`;
    }
    case "POSITION_CLOSE_RESULT":
      return renderPositionCloseResult(notice);
    case "DAILY_SUMMARY":
      return renderDailySummary(notice);
  }
}
