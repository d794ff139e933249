import type { orders, positions, trades } from "./schema";

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

/** A row with the row version (`xmin`) it had when read or written. */
export interface Versioned<T> {
  readonly row: T;
  readonly version: string;
}

/**
 * What applying an order event reads: the order, the account's position in its symbol (null when
 * flat) and the order's trade (null when it has none), each with its row version.
 */
export interface OrderSnapshot {
  readonly order: Versioned<OrderRow>;
  readonly position: Versioned<PositionRow> | null;
  readonly trade: Versioned<TradeRow> | null;
}

/**
 * The rows one worker last read or wrote while applying order events, so the next event of the
 * same order skips the read. Safe because every write checks the row versions: a row that another
 * worker changed meanwhile makes the write fail, and the event is applied again on fresh rows. One
 * per worker process; bounded (oldest orders are forgotten first).
 */
export interface OrderStateCache {
  readonly maxOrders: number;
  readonly orders: Map<number, Versioned<OrderRow>>;
  readonly orderIdsByClientOrderId: Map<string, number>;
  readonly orderIdsByBrokerOrderId: Map<string, number>;
  /** By `accountId:symbol`; null records a known flat position. */
  readonly positions: Map<string, Versioned<PositionRow> | null>;
  readonly trades: Map<number, Versioned<TradeRow>>;
}

/** An empty cache remembering at most `maxOrders` orders. */
export function createOrderStateCache(maxOrders = 10_000): OrderStateCache {
  return {
    maxOrders,
    orders: new Map(),
    orderIdsByClientOrderId: new Map(),
    orderIdsByBrokerOrderId: new Map(),
    positions: new Map(),
    trades: new Map(),
  };
}

/** The key of an account's position in a symbol. */
export function positionKey(accountId: number, symbol: string): string {
  return `${accountId}:${symbol}`;
}

/** The cached snapshot for an order, or null if any part of it is not cached. */
export function cachedSnapshot(
  cache: OrderStateCache,
  ref:
    | { readonly orderId: number }
    | { readonly clientOrderId: string }
    | { readonly brokerOrderId: string },
): OrderSnapshot | null {
  const id =
    "orderId" in ref
      ? ref.orderId
      : "clientOrderId" in ref
        ? cache.orderIdsByClientOrderId.get(ref.clientOrderId)
        : cache.orderIdsByBrokerOrderId.get(ref.brokerOrderId);
  if (id === undefined) return null;
  const order = cache.orders.get(id);
  if (!order) return null;
  const key = positionKey(order.row.accountId, order.row.symbol);
  if (!cache.positions.has(key)) return null;
  const position = cache.positions.get(key) ?? null;
  if (order.row.tradeId === null) return { order, position, trade: null };
  const trade = cache.trades.get(order.row.tradeId);
  return trade ? { order, position, trade } : null;
}

/** Remembers rows as read or written; a position of `undefined` is left as it was. */
export function rememberSnapshot(
  cache: OrderStateCache,
  order: Versioned<OrderRow>,
  position: Versioned<PositionRow> | null | undefined,
  trade: Versioned<TradeRow> | null,
): void {
  const { row } = order;
  cache.orders.delete(row.id);
  cache.orders.set(row.id, order);
  cache.orderIdsByClientOrderId.set(row.clientOrderId, row.id);
  if (row.brokerOrderId !== null) cache.orderIdsByBrokerOrderId.set(row.brokerOrderId, row.id);
  if (position !== undefined) cache.positions.set(positionKey(row.accountId, row.symbol), position);
  if (trade) cache.trades.set(trade.row.id, trade);
  while (cache.orders.size > cache.maxOrders) {
    const oldest = cache.orders.keys().next();
    if (oldest.done) break;
    forgetOrder(cache, oldest.value);
  }
}

/** Forgets an order and the position and trade read with it (after a lost race or an error). */
export function forgetSnapshot(cache: OrderStateCache, snapshot: OrderSnapshot): void {
  const { row } = snapshot.order;
  forgetOrder(cache, row.id);
  cache.positions.delete(positionKey(row.accountId, row.symbol));
  if (row.tradeId !== null) cache.trades.delete(row.tradeId);
}

function forgetOrder(cache: OrderStateCache, id: number): void {
  const entry = cache.orders.get(id);
  cache.orders.delete(id);
  if (!entry) return;
  cache.orderIdsByClientOrderId.delete(entry.row.clientOrderId);
  if (entry.row.brokerOrderId !== null)
    cache.orderIdsByBrokerOrderId.delete(entry.row.brokerOrderId);
  if (entry.row.tradeId !== null) cache.trades.delete(entry.row.tradeId);
}
