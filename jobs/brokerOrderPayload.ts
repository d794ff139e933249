/**
 * Broker orders and trade updates as JSON-safe job data (decimals as strings, instants as
 * ISO-8601), and back. Jobs travel through Redis, so nothing may depend on a class instance.
 */
import { z } from "zod";
import {
  type BrokerOrder,
  TRADE_UPDATE_EVENTS,
  type TradeUpdate,
  type TradeUpdateEvent,
} from "../domain/broker";
import { type Decimal, dec } from "../domain/money";
import {
  ORDER_CLASSES,
  ORDER_SIDES,
  ORDER_STATUSES,
  ORDER_TYPES,
  TIMES_IN_FORCE,
} from "../domain/order";

const decimalText = z.string().regex(/^[+-]?(\d+(\.\d*)?|\.\d+)$/, "a decimal string");
const instantText = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "an ISO-8601 instant");

/** A broker order as job data. */
export interface BrokerOrderData {
  readonly brokerOrderId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: BrokerOrder["side"];
  readonly type: BrokerOrder["type"];
  readonly orderClass: BrokerOrder["orderClass"];
  readonly timeInForce: BrokerOrder["timeInForce"];
  readonly status: BrokerOrder["status"];
  readonly qty: string | null;
  readonly notional: string | null;
  readonly filledQty: string;
  readonly filledAvgPrice: string | null;
  readonly limitPrice: string | null;
  readonly stopPrice: string | null;
  readonly trailPrice: string | null;
  readonly trailPercent: string | null;
  readonly extendedHours: boolean;
  readonly legs: readonly BrokerOrderData[];
  readonly replaces: string | null;
  readonly replacedBy: string | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  readonly submittedAt: string | null;
  readonly filledAt: string | null;
  readonly canceledAt: string | null;
  readonly expiredAt: string | null;
  readonly failedAt: string | null;
}

export const brokerOrderDataSchema: z.ZodType<BrokerOrderData> = z.lazy(() =>
  z.object({
    brokerOrderId: z.string().min(1),
    clientOrderId: z.string(),
    symbol: z.string().min(1),
    side: z.enum(ORDER_SIDES),
    type: z.enum(ORDER_TYPES),
    orderClass: z.enum(ORDER_CLASSES),
    timeInForce: z.enum(TIMES_IN_FORCE),
    status: z.enum(ORDER_STATUSES),
    qty: decimalText.nullable(),
    notional: decimalText.nullable(),
    filledQty: decimalText,
    filledAvgPrice: decimalText.nullable(),
    limitPrice: decimalText.nullable(),
    stopPrice: decimalText.nullable(),
    trailPrice: decimalText.nullable(),
    trailPercent: decimalText.nullable(),
    extendedHours: z.boolean(),
    legs: z.array(brokerOrderDataSchema),
    replaces: z.string().nullable(),
    replacedBy: z.string().nullable(),
    createdAt: instantText.nullable(),
    updatedAt: instantText.nullable(),
    submittedAt: instantText.nullable(),
    filledAt: instantText.nullable(),
    canceledAt: instantText.nullable(),
    expiredAt: instantText.nullable(),
    failedAt: instantText.nullable(),
  }),
);

/**
 * What the broker told us about one order: a streamed trade update (with its execution, for
 * fills), or an order report read over REST (polling, a submit's answer), which has no event.
 */
export interface OrderReportData {
  readonly event: TradeUpdateEvent | null;
  readonly executionId: string | null;
  readonly price: string | null;
  readonly qty: string | null;
  /** When the broker reported it. */
  readonly at: string;
  readonly order: BrokerOrderData;
}

export const orderReportDataSchema: z.ZodType<OrderReportData> = z.object({
  event: z.enum(TRADE_UPDATE_EVENTS).nullable(),
  executionId: z.string().min(1).nullable(),
  price: decimalText.nullable(),
  qty: decimalText.nullable(),
  at: instantText,
  order: brokerOrderDataSchema,
});

const text = (d: Decimal | null): string | null => (d === null ? null : d.toFixed());
const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
const decimalOf = (s: string | null): Decimal | null => (s === null ? null : dec(s));
const dateOf = (s: string | null): Date | null => (s === null ? null : new Date(s));

/** A broker order as job data. */
export function brokerOrderToData(order: BrokerOrder): BrokerOrderData {
  return {
    brokerOrderId: order.brokerOrderId,
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: order.side,
    type: order.type,
    orderClass: order.orderClass,
    timeInForce: order.timeInForce,
    status: order.status,
    qty: text(order.qty),
    notional: text(order.notional),
    filledQty: order.filledQty.toFixed(),
    filledAvgPrice: text(order.filledAvgPrice),
    limitPrice: text(order.limitPrice),
    stopPrice: text(order.stopPrice),
    trailPrice: text(order.trailPrice),
    trailPercent: text(order.trailPercent),
    extendedHours: order.extendedHours,
    legs: order.legs.map(brokerOrderToData),
    replaces: order.replaces,
    replacedBy: order.replacedBy,
    createdAt: iso(order.createdAt),
    updatedAt: iso(order.updatedAt),
    submittedAt: iso(order.submittedAt),
    filledAt: iso(order.filledAt),
    canceledAt: iso(order.canceledAt),
    expiredAt: iso(order.expiredAt),
    failedAt: iso(order.failedAt),
  };
}

/** Job data back to a broker order. */
export function brokerOrderFromData(data: BrokerOrderData): BrokerOrder {
  return {
    brokerOrderId: data.brokerOrderId,
    clientOrderId: data.clientOrderId,
    symbol: data.symbol,
    side: data.side,
    type: data.type,
    orderClass: data.orderClass,
    timeInForce: data.timeInForce,
    status: data.status,
    qty: decimalOf(data.qty),
    notional: decimalOf(data.notional),
    filledQty: dec(data.filledQty),
    filledAvgPrice: decimalOf(data.filledAvgPrice),
    limitPrice: decimalOf(data.limitPrice),
    stopPrice: decimalOf(data.stopPrice),
    trailPrice: decimalOf(data.trailPrice),
    trailPercent: decimalOf(data.trailPercent),
    extendedHours: data.extendedHours,
    legs: data.legs.map(brokerOrderFromData),
    replaces: data.replaces,
    replacedBy: data.replacedBy,
    createdAt: dateOf(data.createdAt),
    updatedAt: dateOf(data.updatedAt),
    submittedAt: dateOf(data.submittedAt),
    filledAt: dateOf(data.filledAt),
    canceledAt: dateOf(data.canceledAt),
    expiredAt: dateOf(data.expiredAt),
    failedAt: dateOf(data.failedAt),
  };
}

/** A streamed trade update as job data. */
export function tradeUpdateToReport(update: TradeUpdate): OrderReportData {
  return {
    event: update.event,
    executionId: update.executionId,
    price: text(update.price),
    qty: text(update.qty),
    at: update.timestamp.toISOString(),
    order: brokerOrderToData(update.order),
  };
}

/** An order read over REST as job data: no event, the order's own figures are the news. */
export function brokerOrderToReport(order: BrokerOrder, at: Date): OrderReportData {
  return {
    event: null,
    executionId: null,
    price: null,
    qty: null,
    at: (order.updatedAt ?? at).toISOString(),
    order: brokerOrderToData(order),
  };
}
