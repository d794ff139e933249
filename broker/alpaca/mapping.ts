/**
 * Translation between the broker port's trading terms and the Alpaca SDK's shapes. Decimals
 * travel as strings both ways; nothing here does arithmetic in floating point.
 */
import type { marketData, streaming, trading } from "@alpacahq/alpaca-trade-api";
import {
  type BrokerAccount,
  type BrokerAsset,
  type BrokerOrder,
  type BrokerPosition,
  type CashTransfer,
  type CashTransferKind,
  type GroupEntry,
  type LatestQuote,
  type MarketClock,
  type OrderEntry,
  type OrderReplacement,
  type OrderRequest,
  type StopLossLeg,
  type TakeProfitLeg,
  TRADE_UPDATE_EVENTS,
  type TradeUpdate,
  type TradingDay,
} from "../../domain/broker";
import { Decimal } from "../../domain/money";
import {
  ORDER_CLASSES,
  ORDER_SIDES,
  ORDER_STATUSES,
  ORDER_TYPES,
  type OrderClass,
  type OrderSide,
  type OrderStatus,
  type OrderType,
  TIMES_IN_FORCE,
  type TimeInForce,
} from "../../domain/order";
import { FRACTIONAL_QUANTITY_DECIMALS, isOnTick } from "../../domain/tick";
import { UnreadableBrokerResponse } from "./errors";

/** A request the adapter refuses to send (it would be a 422 at best, a wrong order at worst). */
export class InvalidOrderRequest extends Error {
  override name = "InvalidOrderRequest";
}

// ---------------------------------------------------------------------------------------------
// Outgoing: domain -> wire strings

/** Formats a price for the broker: on the tick grid, 2 decimals at or above $1, 4 below. */
export function formatPrice(price: Decimal, field: string): string {
  if (!price.isFinite() || price.lte(0)) {
    throw new InvalidOrderRequest(`${field} must be a positive price, got ${price.toString()}`);
  }
  if (!isOnTick(price)) {
    throw new InvalidOrderRequest(
      `${field} ${price.toString()} is not on the tick grid (cents at or above $1, hundredths of a cent below)`,
    );
  }
  return price.toFixed(price.gte(1) ? 2 : 4);
}

/** Formats a share quantity: positive, at most 9 decimals, plain notation. */
export function formatQuantity(qty: Decimal, field = "qty"): string {
  if (!qty.isFinite() || qty.lte(0)) {
    throw new InvalidOrderRequest(`${field} must be positive, got ${qty.toString()}`);
  }
  if (qty.decimalPlaces() > FRACTIONAL_QUANTITY_DECIMALS) {
    throw new InvalidOrderRequest(
      `${field} ${qty.toString()} has more than ${FRACTIONAL_QUANTITY_DECIMALS} decimals`,
    );
  }
  return qty.toFixed();
}

export function formatPercentage(percent: Decimal, field: string): string {
  if (!percent.isFinite() || percent.lte(0)) {
    throw new InvalidOrderRequest(`${field} must be positive, got ${percent.toString()}`);
  }
  return percent.toFixed();
}

function entryFields(entry: OrderEntry): Partial<trading.PostOrderRequest> & {
  type: trading.OrderType;
} {
  switch (entry.type) {
    case "market":
      return { type: "market" };
    case "limit":
      return { type: "limit", limitPrice: formatPrice(entry.limitPrice, "limit price") };
    case "stop":
      return { type: "stop", stopPrice: formatPrice(entry.stopPrice, "stop price") };
    case "stop_limit":
      return {
        type: "stop_limit",
        stopPrice: formatPrice(entry.stopPrice, "stop price"),
        limitPrice: formatPrice(entry.limitPrice, "limit price"),
      };
    case "trailing_stop":
      return "price" in entry.trail
        ? { type: "trailing_stop", trailPrice: formatPrice(entry.trail.price, "trail price") }
        : {
            type: "trailing_stop",
            trailPercent: formatPercentage(entry.trail.percent, "trail percent"),
          };
  }
}

function takeProfitFields(leg: TakeProfitLeg): trading.PostOrderRequestTakeProfit {
  return { limitPrice: formatPrice(leg.limitPrice, "take-profit limit price") };
}

function stopLossFields(leg: StopLossLeg): trading.PostOrderRequestStopLoss {
  return leg.limitPrice === undefined
    ? { stopPrice: formatPrice(leg.stopPrice, "stop-loss stop price") }
    : {
        stopPrice: formatPrice(leg.stopPrice, "stop-loss stop price"),
        limitPrice: formatPrice(leg.limitPrice, "stop-loss limit price"),
      };
}

function groupEntryFields(entry: GroupEntry): ReturnType<typeof entryFields> {
  return entryFields(entry);
}

/**
 * Builds the SDK's order request from ours. Throws `InvalidOrderRequest` for values the broker
 * would refuse (off-tick prices, non-positive or over-precise quantities).
 */
export function toPostOrderRequest(request: OrderRequest): trading.PostOrderRequest {
  if (request.clientOrderId.length === 0 || request.clientOrderId.length > 128) {
    throw new InvalidOrderRequest("client order id must be 1 to 128 characters");
  }
  const common = {
    symbol: request.symbol,
    side: request.side,
    qty: formatQuantity(request.qty),
    timeInForce: request.timeInForce,
    clientOrderId: request.clientOrderId,
    ...(request.extendedHours === undefined ? {} : { extendedHours: request.extendedHours }),
    ...(request.positionIntent === undefined ? {} : { positionIntent: request.positionIntent }),
  };
  switch (request.orderClass) {
    case "simple":
      return { ...common, ...entryFields(request.entry) };
    case "bracket":
      return {
        ...common,
        ...groupEntryFields(request.entry),
        orderClass: "bracket",
        takeProfit: takeProfitFields(request.takeProfit),
        stopLoss: stopLossFields(request.stopLoss),
      };
    case "oco":
      // Alpaca's OCO is typed as a limit order: the take-profit is the parent.
      return {
        ...common,
        type: "limit",
        orderClass: "oco",
        takeProfit: takeProfitFields(request.takeProfit),
        stopLoss: stopLossFields(request.stopLoss),
      };
    case "oto":
      return {
        ...common,
        ...groupEntryFields(request.entry),
        orderClass: "oto",
        ...("takeProfit" in request.exit
          ? { takeProfit: takeProfitFields(request.exit.takeProfit) }
          : { stopLoss: stopLossFields(request.exit.stopLoss) }),
      };
  }
}

/** Builds the SDK's replace request from ours. */
export function toPatchOrderRequest(replacement: OrderReplacement): trading.PatchOrderRequest {
  const patch: trading.PatchOrderRequest = {};
  if (replacement.qty !== undefined) patch.qty = formatQuantity(replacement.qty);
  if (replacement.limitPrice !== undefined) {
    patch.limitPrice = formatPrice(replacement.limitPrice, "limit price");
  }
  if (replacement.stopPrice !== undefined) {
    patch.stopPrice = formatPrice(replacement.stopPrice, "stop price");
  }
  if (replacement.trail !== undefined) patch.trail = formatPercentage(replacement.trail, "trail");
  if (replacement.timeInForce !== undefined) patch.timeInForce = replacement.timeInForce;
  if (replacement.clientOrderId !== undefined) patch.clientOrderId = replacement.clientOrderId;
  if (Object.keys(patch).length === 0) {
    throw new InvalidOrderRequest("a replacement must change at least one field");
  }
  return patch;
}

// ---------------------------------------------------------------------------------------------
// Incoming: wire -> domain

function unreadable(what: string, value: unknown): never {
  throw new UnreadableBrokerResponse(`${what}: ${JSON.stringify(value) ?? String(value)}`);
}

/** A decimal from the wire (a decimal string, or a JSON number the SDK already parsed). */
function decimalOrNull(value: unknown, what: string): Decimal | null {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "string" || typeof value === "number") {
    // A JSON number's shortest round-trip text is the text the broker sent (prices and sizes
    // have far fewer than 15 significant digits), so String() recovers it exactly.
    const text = typeof value === "number" ? String(value) : value;
    try {
      const d = new Decimal(text);
      if (d.isFinite()) return d;
    } catch {
      // fall through to the error below
    }
  }
  return unreadable(what, value);
}

function decimal(value: unknown, what: string): Decimal {
  return decimalOrNull(value, what) ?? unreadable(what, value);
}

function dateOrNull(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (typeof value === "string" && value !== "") {
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? null : parsed;
  }
  return null;
}

function date(value: unknown, what: string): Date {
  return dateOrNull(value) ?? unreadable(what, value);
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown, what: string): T {
  const found = allowed.find((candidate) => candidate === value);
  return found ?? unreadable(what, value);
}

function text(value: unknown, what: string): string {
  return typeof value === "string" && value !== "" ? value : unreadable(what, value);
}

/** The order fields the adapter reads; `trading.Order` and `trading.OrderLeg` both have them. */
interface WireOrder {
  assetClass?: string;
  id?: string;
  clientOrderId?: string;
  symbol?: string;
  side?: string;
  type?: string;
  orderClass?: string;
  timeInForce?: string;
  status?: string;
  qty?: string | null;
  notional?: string | null;
  filledQty?: string;
  filledAvgPrice?: string | null;
  limitPrice?: string | null;
  stopPrice?: string | null;
  trailPrice?: string | null;
  trailPercent?: string | null;
  extendedHours?: boolean;
  legs?: ReadonlyArray<object> | null;
  replaces?: string | null;
  replacedBy?: string | null;
  createdAt?: Date | null;
  updatedAt?: Date | null;
  submittedAt?: Date | null;
  filledAt?: Date | null;
  canceledAt?: Date | null;
  expiredAt?: Date | null;
  failedAt?: Date | null;
}

function orderClassOf(value: unknown): OrderClass {
  // Alpaca sends "" (or nothing) for simple orders.
  if (value === undefined || value === null || value === "") return "simple";
  return oneOf(ORDER_CLASSES, value, "order class");
}

/**
 * Whether an order is a stock order, the only kind the desk trades. The account may also hold
 * options orders placed elsewhere (a multi-leg one has no symbol or side of its own), which the
 * desk neither reads nor must fail on.
 */
export function isStockOrder(wire: Pick<WireOrder, "assetClass" | "orderClass">): boolean {
  if (wire.orderClass === "mleg") return false;
  return wire.assetClass === undefined || wire.assetClass === "us_equity";
}

/** Reads an order (or a leg, which has the same shape) from the SDK. */
export function fromOrder(wire: WireOrder): BrokerOrder {
  const legs = (wire.legs ?? []).map((leg) => fromOrder(leg as WireOrder));
  return {
    brokerOrderId: text(wire.id, "order id"),
    clientOrderId: text(wire.clientOrderId, "client order id"),
    symbol: text(wire.symbol, "order symbol"),
    side: oneOf<OrderSide>(ORDER_SIDES, wire.side, "order side"),
    type: oneOf<OrderType>(ORDER_TYPES, wire.type, "order type"),
    orderClass: orderClassOf(wire.orderClass),
    timeInForce: oneOf<TimeInForce>(TIMES_IN_FORCE, wire.timeInForce, "time in force"),
    status: oneOf<OrderStatus>(ORDER_STATUSES, wire.status, "order status"),
    qty: decimalOrNull(wire.qty, "order qty"),
    notional: decimalOrNull(wire.notional, "order notional"),
    filledQty: decimalOrNull(wire.filledQty, "filled qty") ?? new Decimal(0),
    filledAvgPrice: decimalOrNull(wire.filledAvgPrice, "filled average price"),
    limitPrice: decimalOrNull(wire.limitPrice, "limit price"),
    stopPrice: decimalOrNull(wire.stopPrice, "stop price"),
    trailPrice: decimalOrNull(wire.trailPrice, "trail price"),
    trailPercent: decimalOrNull(wire.trailPercent, "trail percent"),
    extendedHours: wire.extendedHours === true,
    legs,
    replaces: wire.replaces ?? null,
    replacedBy: wire.replacedBy ?? null,
    createdAt: dateOrNull(wire.createdAt),
    updatedAt: dateOrNull(wire.updatedAt),
    submittedAt: dateOrNull(wire.submittedAt),
    filledAt: dateOrNull(wire.filledAt),
    canceledAt: dateOrNull(wire.canceledAt),
    expiredAt: dateOrNull(wire.expiredAt),
    failedAt: dateOrNull(wire.failedAt),
  };
}

/** Whether a position is in a stock (the account may hold options contracts besides). */
export function isStockPosition(wire: Pick<trading.Position, "assetClass">): boolean {
  const assetClass: string | undefined = wire.assetClass;
  return assetClass === undefined || assetClass === "us_equity";
}

/** Reads a position. */
export function fromPosition(wire: trading.Position): BrokerPosition {
  const qty = decimal(wire.qty, "position qty");
  const side = wire.side === "short" || qty.isNegative() ? "short" : "long";
  return {
    symbol: text(wire.symbol, "position symbol"),
    assetId: typeof wire.assetId === "string" ? wire.assetId : "",
    side,
    // Alpaca reports short quantities as negative already; make sure of it.
    qty: side === "short" ? qty.abs().neg() : qty,
    qtyAvailable: decimalOrNull(wire.qtyAvailable, "position qty available"),
    avgEntryPrice: decimal(wire.avgEntryPrice, "average entry price"),
    currentPrice: decimalOrNull(wire.currentPrice, "current price"),
    lastdayPrice: decimalOrNull(wire.lastdayPrice, "last day price"),
    marketValue: decimalOrNull(wire.marketValue, "market value"),
    costBasis: decimal(wire.costBasis, "cost basis"),
    unrealizedPl: decimalOrNull(wire.unrealizedPl, "unrealized P&L"),
    unrealizedIntradayPl: decimalOrNull(wire.unrealizedIntradayPl, "unrealized intraday P&L"),
  };
}

/** Reads the account. */
export function fromAccount(wire: trading.Account): BrokerAccount {
  return {
    accountId: text(wire.id, "account id"),
    accountNumber: typeof wire.accountNumber === "string" ? wire.accountNumber : null,
    status: String(wire.status ?? "UNKNOWN"),
    currency: typeof wire.currency === "string" ? wire.currency : "USD",
    cash: decimal(wire.cash, "cash"),
    equity: decimal(wire.equity, "equity"),
    lastEquity: decimal(wire.lastEquity, "last equity"),
    buyingPower: decimal(wire.buyingPower, "buying power"),
    portfolioValue: decimalOrNull(wire.portfolioValue, "portfolio value"),
    longMarketValue: decimalOrNull(wire.longMarketValue, "long market value"),
    shortMarketValue: decimalOrNull(wire.shortMarketValue, "short market value"),
    multiplier: decimalOrNull(wire.multiplier, "multiplier"),
    tradingBlocked: wire.tradingBlocked === true,
    accountBlocked: wire.accountBlocked === true,
    tradeSuspendedByUser: wire.tradeSuspendedByUser === true,
    shortingEnabled: wire.shortingEnabled === true,
  };
}

/** The account activity types that move cash in or out, and what each is. */
export const CASH_TRANSFER_ACTIVITIES: Readonly<Record<string, CashTransferKind>> = {
  CSD: "deposit",
  CSW: "withdrawal",
  JNLC: "journal",
  // Cash moved in or out between brokers (ACATS): signed by its direction, as a journal is.
  ACATC: "journal",
};

/**
 * Reads a cash activity (CSD, CSW, JNLC, ACATC). A deposit is counted in and a withdrawal out whatever
 * sign the broker printed; a journal (cash or between brokers) keeps its sign. Booked at `created_at`, else on its `date`
 * (midday New York, so the date is the New York one).
 */
export function fromCashActivity(wire: trading.GetAccountActivities200ResponseInner): CashTransfer {
  const type = String(wire.activityType ?? "");
  const kind = CASH_TRANSFER_ACTIVITIES[type] ?? unreadable("cash activity type", type);
  const net = decimal(wire.netAmount, "cash activity net amount");
  const amount = kind === "deposit" ? net.abs() : kind === "withdrawal" ? net.abs().neg() : net;
  const day = dateOrNull(wire.date);
  const at =
    dateOrNull(wire.createdAt) ??
    (day ? new Date(day.getTime() + 17 * 3_600_000) : unreadable("cash activity time", wire.date));
  return {
    id: text(wire.id, "cash activity id"),
    kind,
    amount,
    at,
    canceled: wire.status === "canceled",
  };
}

/** Reads the `/v2/clock` answer. */
export function fromClock(wire: trading.LegacyClock): MarketClock {
  if (typeof wire.isOpen !== "boolean") unreadable("clock is_open", wire.isOpen);
  return {
    timestamp: date(wire.timestamp, "clock timestamp"),
    isOpen: wire.isOpen,
    nextOpen: date(wire.nextOpen, "clock next open"),
    nextClose: date(wire.nextClose, "clock next close"),
  };
}

const HOUR_MINUTE = /^\d{2}:\d{2}$/;

/** Reads one `/v2/calendar` day. The SDK parses `date` as UTC midnight, so its ISO date is the day. */
export function fromCalendarDay(wire: trading.LegacyCalendarDay): TradingDay {
  const day = date(wire.date, "calendar date").toISOString().slice(0, 10);
  if (!HOUR_MINUTE.test(wire.open)) unreadable("calendar open", wire.open);
  if (!HOUR_MINUTE.test(wire.close)) unreadable("calendar close", wire.close);
  return { date: day, open: wire.open, close: wire.close };
}

/** Reads an asset. */
export function fromAsset(wire: trading.Assets): BrokerAsset {
  return {
    assetId: text(wire.id, "asset id"),
    symbol: text(wire.symbol, "asset symbol"),
    name: typeof wire.name === "string" ? wire.name : "",
    exchange: String(wire.exchange ?? ""),
    assetClass: String(wire._class ?? ""),
    status: oneOf(["active", "inactive"] as const, wire.status, "asset status"),
    tradable: wire.tradable === true,
    shortable: wire.shortable === true,
    easyToBorrow: wire.easyToBorrow === true,
    fractionable: wire.fractionable === true,
    marginable: wire.marginable === true,
  };
}

function positivePriceOrNull(value: unknown, what: string): Decimal | null {
  const price = decimalOrNull(value, what);
  return price === null || price.lte(0) ? null : price;
}

/** Reads a latest quote; a zero bid or ask means that side has no quote. */
export function fromQuote(symbol: string, wire: marketData.StockQuote): LatestQuote {
  return {
    symbol,
    bidPrice: positivePriceOrNull(wire.bp, "bid price"),
    bidSize: decimalOrNull(wire.bs, "bid size") ?? new Decimal(0),
    askPrice: positivePriceOrNull(wire.ap, "ask price"),
    askSize: decimalOrNull(wire.as, "ask size") ?? new Decimal(0),
    timestamp: date(wire.t, "quote timestamp"),
  };
}

/** Reads a trade update from the stream. */
export function fromTradeUpdate(wire: streaming.TradeUpdate): TradeUpdate {
  const order = fromOrder(wire.order);
  return {
    event: oneOf(TRADE_UPDATE_EVENTS, wire.event, "trade update event"),
    executionId:
      typeof wire.executionId === "string" && wire.executionId !== "" ? wire.executionId : null,
    price: decimalOrNull(wire.price, "execution price"),
    qty: decimalOrNull(wire.qty, "execution qty"),
    positionQty: decimalOrNull(wire.positionQty, "position qty"),
    order,
    timestamp:
      dateOrNull(wire.timestamp) ?? order.updatedAt ?? unreadable("trade update timestamp", null),
  };
}
