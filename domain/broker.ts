/**
 * The broker port: what the product needs from a broker, in trading terms. Types only; the
 * Alpaca adapter (and anything that stands in for it) implements `Broker`.
 *
 * Identifiers: a *client order id* is ours (deterministic, chosen before submitting, at most 128
 * characters, unique per account forever); a *broker order id* is the broker's. Quantities and
 * prices are `Decimal`; a short position has a negative quantity. Instants are `Date`s; trading
 * days are `YYYY-MM-DD` strings in America/New_York.
 */
import type { Decimal } from "./money";
import type { OrderClass, OrderSide, OrderStatus, OrderType, TimeInForce } from "./order";
import type { Ok, Refusal } from "./outcome";

/** Why a broker call failed, as a stable code. */
export type BrokerErrorCode =
  | "INSUFFICIENT_BUYING_POWER"
  /** The shares a sell (or a buy to cover) needs are held by other orders or not there. */
  | "INSUFFICIENT_QUANTITY"
  | "INVALID"
  | "NOT_FOUND"
  | "DUPLICATE_CLIENT_ORDER_ID"
  | "RATE_LIMITED"
  | "NETWORK"
  | "TIMEOUT"
  | "FORBIDDEN"
  | "UNAUTHORIZED"
  | "SERVER_ERROR";

/**
 * A failed broker call. `retryable` says whether the same call may succeed later unchanged;
 * `brokerCode` is the broker's own code when it sent one (e.g. "40310000"); `retryAfterMs` is
 * the broker's suggested wait, when it gave one. The message never holds credentials.
 */
export interface BrokerFailure extends Refusal<BrokerErrorCode> {
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly brokerCode?: string;
  readonly retryAfterMs?: number;
}

/** Either the broker's answer or a coded failure. */
export type BrokerResult<T> = Ok<T> | BrokerFailure;

/** How an order enters the market. */
export type OrderEntry =
  | { readonly type: "market" }
  | { readonly type: "limit"; readonly limitPrice: Decimal }
  | { readonly type: "stop"; readonly stopPrice: Decimal }
  | { readonly type: "stop_limit"; readonly stopPrice: Decimal; readonly limitPrice: Decimal }
  | {
      readonly type: "trailing_stop";
      readonly trail: { readonly price: Decimal } | { readonly percent: Decimal };
    };

/** Entries an order group may start with (the broker refuses trailing stops in groups). */
export type GroupEntry = Exclude<OrderEntry, { readonly type: "trailing_stop" }>;

/** The profit-taking exit of a group: a limit order. */
export interface TakeProfitLeg {
  readonly limitPrice: Decimal;
}

/** The protective exit of a group: a stop, or a stop-limit when `limitPrice` is given. */
export interface StopLossLeg {
  readonly stopPrice: Decimal;
  readonly limitPrice?: Decimal;
}

/** What every order request carries. `qty` is in shares (fractional only for simple day orders). */
/** Whether an order opens a position or closes one, on which side. */
export type PositionIntent = "buy_to_open" | "buy_to_close" | "sell_to_open" | "sell_to_close";

/** The intent of an order on `side` that closes a position: a sell closes a long. */
export function closingIntent(side: OrderSide): PositionIntent {
  return side === "sell" ? "sell_to_close" : "buy_to_close";
}

export interface OrderRequestCommon {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly qty: Decimal;
  readonly timeInForce: TimeInForce;
  /** Extended hours: the broker accepts it only for simple limit orders, day or gtc. */
  readonly extendedHours?: boolean;
  /**
   * A closing intent makes the broker refuse the order beyond the position held, instead of
   * opening the other side with the rest (an exit or close that outlived its position).
   */
  readonly positionIntent?: PositionIntent;
}

/** A lone order. */
export interface SimpleOrderRequest extends OrderRequestCommon {
  readonly orderClass: "simple";
  readonly entry: OrderEntry;
}

/** An entry with both exits; the exits are held until the entry is completely filled. */
export interface BracketOrderRequest extends OrderRequestCommon {
  readonly orderClass: "bracket";
  readonly entry: GroupEntry;
  readonly takeProfit: TakeProfitLeg;
  readonly stopLoss: StopLossLeg;
}

/** Two exits for an existing position, one cancelling the other. `side` is the exits' side. */
export interface OcoOrderRequest extends OrderRequestCommon {
  readonly orderClass: "oco";
  readonly takeProfit: TakeProfitLeg;
  readonly stopLoss: StopLossLeg;
}

/** An entry with exactly one exit. */
export interface OtoOrderRequest extends OrderRequestCommon {
  readonly orderClass: "oto";
  readonly entry: GroupEntry;
  readonly exit: { readonly takeProfit: TakeProfitLeg } | { readonly stopLoss: StopLossLeg };
}

/** Any order the product submits. */
export type OrderRequest =
  | SimpleOrderRequest
  | BracketOrderRequest
  | OcoOrderRequest
  | OtoOrderRequest;

/** Changes to a working order. The broker answers with a new order that replaces it. */
export interface OrderReplacement {
  readonly qty?: Decimal;
  readonly limitPrice?: Decimal;
  readonly stopPrice?: Decimal;
  /** New trail (price or percent, whichever the order uses) for a trailing stop. */
  readonly trail?: Decimal;
  readonly timeInForce?: TimeInForce;
  /** Client order id of the replacing order; the broker makes one up when absent. */
  readonly clientOrderId?: string;
}

/** An order as the broker sees it. Group orders carry their exits in `legs`. */
export interface BrokerOrder {
  readonly brokerOrderId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly orderClass: OrderClass;
  readonly timeInForce: TimeInForce;
  readonly status: OrderStatus;
  /** Null for orders placed by notional amount. */
  readonly qty: Decimal | null;
  readonly notional: Decimal | null;
  readonly filledQty: Decimal;
  readonly filledAvgPrice: Decimal | null;
  readonly limitPrice: Decimal | null;
  readonly stopPrice: Decimal | null;
  readonly trailPrice: Decimal | null;
  readonly trailPercent: Decimal | null;
  readonly extendedHours: boolean;
  readonly legs: readonly BrokerOrder[];
  /** Broker order id this order replaced, and the one that replaced it. */
  readonly replaces: string | null;
  readonly replacedBy: string | null;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
  readonly submittedAt: Date | null;
  readonly filledAt: Date | null;
  readonly canceledAt: Date | null;
  readonly expiredAt: Date | null;
  readonly failedAt: Date | null;
}

/** Which orders to list. */
export interface OrderQuery {
  /** Default "open". */
  readonly status?: "open" | "closed" | "all";
  /** Default 100; the broker caps it at 500. */
  readonly limit?: number;
  readonly after?: Date;
  readonly until?: Date;
  readonly direction?: "asc" | "desc";
  readonly symbols?: readonly string[];
  /** Return group exits inside their parent (default true). */
  readonly nested?: boolean;
}

/** One order's answer to "cancel all". `httpStatus` 200 means the cancel was accepted. */
export interface CancelOutcome {
  readonly brokerOrderId: string;
  readonly httpStatus: number;
}

/** An open position. `qty` is signed: negative for a short. */
export interface BrokerPosition {
  readonly symbol: string;
  readonly assetId: string;
  readonly side: "long" | "short";
  readonly qty: Decimal;
  /** Shares not tied up in open orders. */
  readonly qtyAvailable: Decimal | null;
  readonly avgEntryPrice: Decimal;
  readonly currentPrice: Decimal | null;
  readonly lastdayPrice: Decimal | null;
  readonly marketValue: Decimal | null;
  readonly costBasis: Decimal;
  readonly unrealizedPl: Decimal | null;
  readonly unrealizedIntradayPl: Decimal | null;
}

/** How much of a position to close: everything when absent. */
export type CloseAmount = { readonly qty: Decimal } | { readonly percentage: Decimal };

/** One position's answer to "close all": the closing order, or why it could not be placed. */
export interface ClosePositionOutcome {
  readonly symbol: string;
  readonly result: BrokerResult<BrokerOrder>;
}

/** The account snapshot the risk checks read. `lastEquity` is equity at the previous close. */
export interface BrokerAccount {
  readonly accountId: string;
  readonly accountNumber: string | null;
  readonly status: string;
  readonly currency: string;
  readonly cash: Decimal;
  readonly equity: Decimal;
  readonly lastEquity: Decimal;
  readonly buyingPower: Decimal;
  readonly portfolioValue: Decimal | null;
  readonly longMarketValue: Decimal | null;
  readonly shortMarketValue: Decimal | null;
  readonly multiplier: Decimal | null;
  readonly tradingBlocked: boolean;
  readonly accountBlocked: boolean;
  readonly tradeSuspendedByUser: boolean;
  readonly shortingEnabled: boolean;
}

/** How cash moved into or out of the account other than by trading. */
export type CashTransferKind = "deposit" | "withdrawal" | "journal";

/**
 * One cash movement the broker booked: a deposit or withdrawal (Alpaca CSD, CSW) or a cash
 * journal between accounts (JNLC). It moves equity without being P&L.
 */
export interface CashTransfer {
  readonly id: string;
  readonly kind: CashTransferKind;
  /** Signed: positive into the account, negative out of it. */
  readonly amount: Decimal;
  /** When the broker booked it. */
  readonly at: Date;
  /** A canceled transfer moved nothing. */
  readonly canceled: boolean;
}

/** The broker's market clock. */
export interface MarketClock {
  readonly timestamp: Date;
  readonly isOpen: boolean;
  readonly nextOpen: Date;
  readonly nextClose: Date;
}

/** One trading day: date and core session times, in America/New_York (`HH:MM`). */
export interface TradingDay {
  readonly date: string;
  readonly open: string;
  readonly close: string;
}

/** What the broker says about a symbol. */
export interface BrokerAsset {
  readonly assetId: string;
  readonly symbol: string;
  readonly name: string;
  readonly exchange: string;
  readonly assetClass: string;
  readonly status: "active" | "inactive";
  readonly tradable: boolean;
  readonly shortable: boolean;
  readonly easyToBorrow: boolean;
  readonly fractionable: boolean;
  readonly marginable: boolean;
}

/** The latest quote for a symbol. A side without a quote is null (the broker sends zero). */
export interface LatestQuote {
  readonly symbol: string;
  readonly bidPrice: Decimal | null;
  readonly bidSize: Decimal;
  readonly askPrice: Decimal | null;
  readonly askSize: Decimal;
  readonly timestamp: Date;
}

/** Order events on the trade updates stream (the broker's names). */
export const TRADE_UPDATE_EVENTS = [
  "new",
  "fill",
  "partial_fill",
  "canceled",
  "expired",
  "done_for_day",
  "replaced",
  "rejected",
  "pending_new",
  "stopped",
  "pending_cancel",
  "pending_replace",
  "calculated",
  "suspended",
  "order_replace_rejected",
  "order_cancel_rejected",
] as const;

/** One of `TRADE_UPDATE_EVENTS`. */
export type TradeUpdateEvent = (typeof TRADE_UPDATE_EVENTS)[number];

/**
 * One order event. For fills, `price` and `qty` are this execution's (not the order's
 * average), `positionQty` is the signed position after it, and `executionId` identifies the
 * execution so the same fill applied twice changes nothing.
 */
export interface TradeUpdate {
  readonly event: TradeUpdateEvent;
  readonly executionId: string | null;
  readonly price: Decimal | null;
  readonly qty: Decimal | null;
  readonly positionQty: Decimal | null;
  readonly order: BrokerOrder;
  readonly timestamp: Date;
}

/**
 * Events may have been missed (the broker does not replay them), so the listener must re-read
 * orders and positions over REST: after the first subscription (nothing was heard before it),
 * after every reconnect, and after an event the adapter could not read.
 */
export interface ResyncNeeded {
  readonly reason: "connected" | "reconnected" | "unreadable_update";
  /** How many times the stream has reconnected since it was opened. */
  readonly reconnects: number;
}

/** What a trade updates subscriber hears. */
export interface TradeUpdateListener {
  onTradeUpdate(update: TradeUpdate): void;
  onResyncNeeded(signal: ResyncNeeded): void;
  /** Stream trouble worth logging (dropped connection, unreadable message); it keeps going. */
  onStreamError?(message: string): void;
}

/** A live trade updates subscription; reconnects by itself until closed. */
export interface TradeUpdateSubscription {
  close(): Promise<void>;
}

/** The broker, in the product's terms. Every call answers a result; none throws for broker errors. */
export interface Broker {
  /**
   * Submits an order. Never creates a second order for the same client order id: after an
   * ambiguous failure it looks the order up first, and a duplicate client order id answers the
   * existing order. A caller retrying an earlier attempt (a job's second run) passes
   * `lookUpFirst`, so an order that already exists is answered without posting again.
   */
  submitOrder(
    request: OrderRequest,
    options?: { readonly lookUpFirst?: boolean },
  ): Promise<BrokerResult<BrokerOrder>>;
  getOrderByClientOrderId(clientOrderId: string): Promise<BrokerResult<BrokerOrder>>;
  getOrder(brokerOrderId: string): Promise<BrokerResult<BrokerOrder>>;
  listOrders(query?: OrderQuery): Promise<BrokerResult<readonly BrokerOrder[]>>;
  cancelOrder(brokerOrderId: string): Promise<BrokerResult<{ readonly brokerOrderId: string }>>;
  cancelAllOrders(): Promise<BrokerResult<readonly CancelOutcome[]>>;
  replaceOrder(
    brokerOrderId: string,
    replacement: OrderReplacement,
  ): Promise<BrokerResult<BrokerOrder>>;
  listPositions(): Promise<BrokerResult<readonly BrokerPosition[]>>;
  getPosition(symbol: string): Promise<BrokerResult<BrokerPosition>>;
  closePosition(symbol: string, amount?: CloseAmount): Promise<BrokerResult<BrokerOrder>>;
  closeAllPositions(options?: {
    readonly cancelOrders?: boolean;
  }): Promise<BrokerResult<readonly ClosePositionOutcome[]>>;
  getAccount(): Promise<BrokerResult<BrokerAccount>>;
  /** Cash transfers (deposits, withdrawals, cash journals) booked after `after`, oldest first. */
  listCashTransfers(after: Date): Promise<BrokerResult<readonly CashTransfer[]>>;
  getClock(): Promise<BrokerResult<MarketClock>>;
  /** Trading days from `start` to `end` inclusive (`YYYY-MM-DD`). */
  getCalendar(start: string, end: string): Promise<BrokerResult<readonly TradingDay[]>>;
  getAsset(symbol: string): Promise<BrokerResult<BrokerAsset>>;
  /** Latest quotes by symbol; symbols without a quote are absent from the map. */
  getLatestQuotes(
    symbols: readonly string[],
  ): Promise<BrokerResult<ReadonlyMap<string, LatestQuote>>>;
  /**
   * Opens the trade updates stream; answers once it is listening (or why it could not). An
   * abort of `options.signal` gives the open up at once (a stopping worker does not wait it out).
   */
  subscribeTradeUpdates(
    listener: TradeUpdateListener,
    options?: { readonly signal?: AbortSignal },
  ): Promise<BrokerResult<TradeUpdateSubscription>>;
}
