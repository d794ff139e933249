import type { OrderRole, OrderSide } from "./order";
import type { ExitReason } from "./trade";
import type { TradingState } from "./tradingState";

/**
 * What the desk tells a trader, as data: producers (the lifecycle jobs) write these payloads to
 * the notification outbox in the same transaction as the change they report; the bot renders
 * them. Payloads are JSON-safe: decimals travel as strings, instants as ISO-8601 strings.
 */

/** A decimal written as a string, e.g. "190.10". */
export type DecimalString = string;

export interface EntrySubmittedNotice {
  readonly kind: "ENTRY_SUBMITTED";
  readonly decisionId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly quantity: DecimalString;
  readonly orderType: "market" | "limit";
  readonly limitPrice: DecimalString | null;
  readonly stopPrice: DecimalString;
  readonly targetPrice: DecimalString | null;
  readonly clientOrderId: string;
}

export interface OrderFilledNotice {
  readonly kind: "ORDER_FILLED";
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly role: OrderRole;
  readonly executionId: string;
  readonly fillQuantity: DecimalString;
  readonly fillPrice: DecimalString;
  /** Cumulative after this fill. */
  readonly filledQuantity: DecimalString;
  readonly orderQuantity: DecimalString;
  /** True when this fill completed the order. */
  readonly complete: boolean;
  readonly clientOrderId: string;
}

export interface ProtectionPlacedNotice {
  readonly kind: "PROTECTION_PLACED";
  readonly tradeId: number;
  readonly symbol: string;
  readonly quantity: DecimalString;
  readonly stopPrice: DecimalString;
  readonly targetPrice: DecimalString | null;
}

export interface TradeClosedNotice {
  readonly kind: "TRADE_CLOSED";
  readonly tradeId: number;
  readonly symbol: string;
  readonly exitReason: ExitReason;
  readonly quantity: DecimalString;
  readonly averageEntryPrice: DecimalString;
  readonly averageExitPrice: DecimalString;
  readonly realizedPnl: DecimalString;
  readonly rMultiple: DecimalString | null;
}

export interface OrderRejectedNotice {
  readonly kind: "ORDER_REJECTED";
  readonly decisionId: number | null;
  readonly tradeId: number | null;
  readonly symbol: string;
  /** A stable code: a risk check's, a broker failure's, or the broker's rejection. */
  readonly code: string;
  readonly reason: string;
}

export interface OrderCanceledNotice {
  readonly kind: "ORDER_CANCELED";
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly role: OrderRole;
  readonly clientOrderId: string;
  readonly filledQuantity: DecimalString;
  readonly reason: string;
}

export interface TradingStateChangedNotice {
  readonly kind: "TRADING_STATE_CHANGED";
  readonly accountId: number;
  readonly from: "ACTIVE" | "REDUCING" | "HALTED";
  readonly to: "ACTIVE" | "REDUCING" | "HALTED";
  readonly setBy: "AUTO" | "MANUAL";
  readonly reason: string;
  /** The day's P&L and the limit when the daily-loss rule acted. */
  readonly pnlToday: DecimalString | null;
  readonly lossLimit: DecimalString | null;
}

export interface DailyLossWarningNotice {
  readonly kind: "DAILY_LOSS_WARNING";
  readonly accountId: number;
  readonly pnlToday: DecimalString;
  readonly lossLimit: DecimalString;
  readonly remaining: DecimalString;
}

export interface ReconciliationIncidentNotice {
  readonly kind: "RECONCILIATION_INCIDENT";
  readonly accountId: number;
  readonly symbol: string | null;
  /** A stable code, e.g. MANUAL_CLOSE_FOUND, POSITION_ADOPTED, MISSED_FILL_INFERRED, STOP_REPLACED. */
  readonly incident: string;
  readonly detail: string;
}

/**
 * The result of closing one position for a kill switch: /flatten (by hand or after an automatic
 * halt) or /close. `closed` means the closing order is at the broker (its fill is reported as
 * usual); `failed` says why, and `nextStep` what the desk does and what the trader can do.
 */
export interface PositionCloseResultNotice {
  readonly kind: "POSITION_CLOSE_RESULT";
  readonly accountId: number;
  readonly symbol: string;
  /** What asked for the close: "flatten" (every position) or "close" (this one). */
  readonly action: "flatten" | "close";
  readonly outcome: "closed" | "failed";
  /** The shares being closed, when known. */
  readonly quantity: DecimalString | null;
  /** The average fill price, when the close had filled by the time it was reported. */
  readonly price: DecimalString | null;
  /** Why it failed: a stable code and the broker's words; null when closed. */
  readonly code: string | null;
  readonly reason: string | null;
  readonly nextStep: string | null;
  /** Who asked: `user:<telegram id>`, or `system:<rule>` for an automatic flatten. */
  readonly requestedBy: string;
}

export interface DailySummaryNotice {
  readonly kind: "DAILY_SUMMARY";
  readonly accountId: number;
  /** The New York trading date, YYYY-MM-DD. */
  readonly tradingDate: string;
  readonly equity: DecimalString;
  readonly pnlToday: DecimalString;
  readonly realizedPnl: DecimalString;
  readonly unrealizedPnl: DecimalString;
  readonly tradesClosed: number;
  readonly wins: number;
  readonly losses: number;
  readonly openPositions: number;
}

/** Every notice the desk can send. */
export type Notice =
  | EntrySubmittedNotice
  | OrderFilledNotice
  | ProtectionPlacedNotice
  | TradeClosedNotice
  | OrderRejectedNotice
  | OrderCanceledNotice
  | TradingStateChangedNotice
  | DailyLossWarningNotice
  | ReconciliationIncidentNotice
  | PositionCloseResultNotice
  | DailySummaryNotice;

export type NoticeKind = Notice["kind"];

/** What a trader switches on, silences or off in /settings; each notice belongs to one. */
export const NOTICE_CATEGORIES = [
  "submissions",
  "fills",
  "protection",
  "exits",
  "rejections",
  "killSwitch",
  "reconciliation",
  "dailySummary",
  /** Pattern alerts offered for approval (sent by the bot, not through the outbox). */
  "alerts",
] as const;
export type NoticeCategory = (typeof NOTICE_CATEGORIES)[number];

/** How a trader wants one category delivered. */
export type NoticeDelivery = "on" | "silent" | "off";

const CATEGORY_OF: Readonly<Record<NoticeKind, NoticeCategory>> = {
  ENTRY_SUBMITTED: "submissions",
  ORDER_FILLED: "fills",
  PROTECTION_PLACED: "protection",
  TRADE_CLOSED: "exits",
  ORDER_REJECTED: "rejections",
  ORDER_CANCELED: "submissions",
  TRADING_STATE_CHANGED: "killSwitch",
  DAILY_LOSS_WARNING: "killSwitch",
  RECONCILIATION_INCIDENT: "reconciliation",
  // A kill switch's own result: heard even when the trader turned kill-switch notices off.
  POSITION_CLOSE_RESULT: "killSwitch",
  DAILY_SUMMARY: "dailySummary",
};

/**
 * Every notice kind this version writes and renders. An outbox row of another kind was written
 * by a newer version (a rolling deploy), or is broken.
 */
export const NOTICE_KINDS = Object.keys(CATEGORY_OF) as readonly NoticeKind[];

/** The /settings category a notice belongs to. */
export function categoryOfNotice(kind: NoticeKind): NoticeCategory {
  return CATEGORY_OF[kind];
}

/**
 * How a notice reaches a trader given their settings. Kill-switch notices are never switched
 * off completely: a halted account must always be heard about, at worst silently.
 */
export function deliveryOfNotice(
  kind: NoticeKind,
  settings: Partial<Record<NoticeCategory, NoticeDelivery>>,
): NoticeDelivery {
  const category = categoryOfNotice(kind);
  const chosen = settings[category] ?? "on";
  if (category === "killSwitch" && chosen === "off") return "silent";
  return chosen;
}

/**
 * The notice of a trading state change, keyed by the account, the time of the state left and the
 * new state's mode and time, so every path that makes or retries the change writes one message
 * per reader. The state left is in the key because a state can come back: at the open an
 * automatic halt gives way to the trader's reduce-only it had overridden, as it was (same time),
 * and that return must not pass for the reduce-only's own notice. The day's P&L and the limit go
 * with a change the daily-loss rule made.
 */
export function tradingStateChangedNotice(
  accountId: number,
  before: Pick<TradingState, "mode" | "since">,
  after: Pick<TradingState, "mode" | "setBy" | "reason" | "since">,
  dailyLoss: { readonly pnlToday: DecimalString; readonly lossLimit: DecimalString } | null = null,
): { readonly key: string; readonly notice: TradingStateChangedNotice } {
  return {
    key: `state-${accountId}-${before.since}-${after.since}-${after.mode}`,
    notice: {
      kind: "TRADING_STATE_CHANGED",
      accountId,
      from: before.mode,
      to: after.mode,
      setBy: after.setBy,
      reason: after.reason,
      pnlToday: dailyLoss?.pnlToday ?? null,
      lossLimit: dailyLoss?.lossLimit ?? null,
    },
  };
}

/** One symbol's close as the kill switch saw it. */
export type PositionCloseOutcome =
  | {
      readonly symbol: string;
      readonly ok: true;
      readonly quantity: DecimalString | null;
      readonly price: DecimalString | null;
    }
  | {
      readonly symbol: string;
      readonly ok: false;
      readonly code: string;
      readonly message: string;
    };

/**
 * The notice of one symbol's close for /flatten or /close, keyed by the request, the symbol and
 * the outcome, so a job retried many times tells each symbol's first failure once and, if the
 * retries run out, that the desk gave up. A failure says whether the desk retries (`willRetry`)
 * or the trader must close the position themselves.
 */
export function positionCloseResultNotice(request: {
  readonly accountId: number;
  readonly action: PositionCloseResultNotice["action"];
  readonly requestId: string;
  readonly requestedBy: string;
  readonly willRetry: boolean;
  readonly outcome: PositionCloseOutcome;
}): { readonly key: string; readonly notice: PositionCloseResultNotice } {
  const { outcome } = request;
  const base = {
    kind: "POSITION_CLOSE_RESULT",
    accountId: request.accountId,
    symbol: outcome.symbol,
    action: request.action,
    requestedBy: request.requestedBy,
  } as const;
  const keyOf = (what: string) =>
    `${request.action}-${request.requestId}-${outcome.symbol}-${what}`;
  if (outcome.ok) {
    return {
      key: keyOf("closed"),
      notice: {
        ...base,
        outcome: "closed",
        quantity: outcome.quantity,
        price: outcome.price,
        code: null,
        reason: null,
        nextStep: null,
      },
    };
  }
  return {
    key: keyOf(request.willRetry ? "failed" : "failed-final"),
    notice: {
      ...base,
      outcome: "failed",
      quantity: null,
      price: null,
      code: outcome.code,
      reason: outcome.message,
      nextStep: request.willRetry
        ? "Its stop stays in place and the desk retries the close."
        : `Its stop stays in place, but the desk has stopped retrying: close it with /close ${outcome.symbol} or at the broker.`,
    },
  };
}
