import { and, asc, eq, inArray, like, sql } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import type { Order, OrderStatus } from "../domain/order";
import type { Database } from "./database";
import { appendLog, type LogEntry } from "./executionLog";
import type { ExitReason } from "./schema";
import { endedStatuses, orders, positions } from "./schema";

type OrderRow = typeof orders.$inferSelect;

/**
 * An order as stored: the domain `Order` (what the broker told us, folded by the state machine)
 * plus where it belongs (account, trade, parent entry, protected fill) and the execution figures
 * kept for the audit trail.
 */
export interface OrderRecord {
  readonly id: number;
  readonly accountId: number;
  readonly tradeId: number | null;
  readonly parentOrderId: number | null;
  readonly protectsFillId: number | null;
  readonly replacesOrderId: number | null;
  readonly order: Order;
  /** For EXIT orders: the reason the trade closes when this order brings it flat. */
  readonly exitReason: ExitReason | null;
  readonly extendedHours: boolean;
  readonly trailPercent: Decimal | null;
  readonly expectedPrice: Decimal | null;
  readonly estimatedSlippage: Decimal | null;
  readonly actualSlippage: Decimal | null;
  readonly commission: Decimal;
  readonly submittedAt: Date | null;
  readonly acceptedAt: Date | null;
  readonly filledAt: Date | null;
  readonly canceledAt: Date | null;
  readonly expiredAt: Date | null;
  readonly rejectedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The domain order held in a row. */
export function orderOfRow(row: OrderRow): Order {
  return {
    clientOrderId: row.clientOrderId,
    brokerOrderId: row.brokerOrderId,
    symbol: row.symbol,
    side: row.side,
    type: row.type,
    timeInForce: row.timeInForce,
    orderClass: row.orderClass,
    role: row.role,
    quantity: row.quantity,
    filledQuantity: row.filledQuantity,
    filledNotional: row.filledNotional,
    averageFillPrice: row.filledAvgPrice,
    limitPrice: row.limitPrice,
    stopPrice: row.stopPrice,
    status: row.status,
    statusBeforePending: row.statusBeforePending,
    appliedExecutionIds: row.appliedExecutionIds,
    replacedByOrderId: row.replacedByBrokerOrderId,
    rejection:
      row.rejectionSource === "broker" || row.rejectionSource === "risk"
        ? { source: row.rejectionSource, reason: row.rejectionReason ?? "" }
        : null,
    updatedAt: row.lastEventAt.toISOString(),
  };
}

/** The record of a row. */
export function orderRecordOfRow(row: OrderRow): OrderRecord {
  return {
    id: row.id,
    accountId: row.accountId,
    tradeId: row.tradeId,
    parentOrderId: row.parentOrderId,
    protectsFillId: row.protectsFillId,
    replacesOrderId: row.replacesOrderId,
    order: orderOfRow(row),
    exitReason: row.exitReason,
    extendedHours: row.extendedHours,
    trailPercent: row.trailPercent,
    expectedPrice: row.expectedPrice,
    estimatedSlippage: row.estimatedSlippage,
    actualSlippage: row.actualSlippage,
    commission: row.commission,
    submittedAt: row.submittedAt,
    acceptedAt: row.acceptedAt,
    filledAt: row.filledAt,
    canceledAt: row.canceledAt,
    expiredAt: row.expiredAt,
    rejectedAt: row.rejectedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The columns a domain order sets (everything the state machine may change, and its identity). */
export function orderColumns(order: Order) {
  return {
    clientOrderId: order.clientOrderId,
    brokerOrderId: order.brokerOrderId,
    symbol: order.symbol,
    side: order.side,
    type: order.type,
    timeInForce: order.timeInForce,
    orderClass: order.orderClass,
    role: order.role,
    quantity: order.quantity,
    filledQuantity: order.filledQuantity,
    filledNotional: order.filledNotional,
    filledAvgPrice: order.averageFillPrice,
    limitPrice: order.limitPrice,
    stopPrice: order.stopPrice,
    status: order.status,
    statusBeforePending: order.statusBeforePending,
    appliedExecutionIds: [...order.appliedExecutionIds],
    replacedByBrokerOrderId: order.replacedByOrderId,
    rejectionSource: order.rejection?.source ?? null,
    rejectionReason: order.rejection?.reason ?? null,
    lastEventAt: new Date(order.updatedAt),
  };
}

export interface NewOrder {
  readonly accountId: number;
  /** From the domain's `createOrder`: status `pending_new` (or `held` for a bracket leg). */
  readonly order: Order;
  readonly tradeId?: number | null;
  readonly parentOrderId?: number | null;
  readonly protectsFillId?: number | null;
  readonly replacesOrderId?: number | null;
  /** Required for EXIT orders: MANUAL_EXIT or FLATTENED. */
  readonly exitReason?: ExitReason | null;
  readonly extendedHours?: boolean;
  readonly trailPercent?: Decimal | null;
  readonly expectedPrice?: Decimal | null;
  readonly estimatedSlippage?: Decimal | null;
}

/** Protective roles: the orders that keep a position's risk bounded. */
const PROTECTIVE_ROLES = ["STOP_LOSS", "TAKE_PROFIT"] as const;

/** Whether an order of this role protects a position (a stop or a target). */
export function isProtectiveRole(role: Order["role"]): boolean {
  return (PROTECTIVE_ROLES as readonly string[]).includes(role);
}

/**
 * Records an order before it is sent. Idempotent: when an order with the same client order id, or
 * a protective order of the same role for the same entry fill, already exists, nothing is written
 * and `created` is false, so of two workers racing to protect a fill exactly one sends. A new
 * stop or target joins its position's protective orders.
 */
export async function insertOrder(
  db: Database,
  input: NewOrder,
  source: string,
  at: Date,
): Promise<{ readonly record: OrderRecord; readonly created: boolean }> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(orders)
      .values(newOrderRow(input, at))
      .onConflictDoNothing()
      .returning();
    if (!row) {
      const existing = await findExistingOrder(tx, input);
      if (!existing) throw new Error("order neither inserted nor found");
      return { record: existing, created: false };
    }
    if (isProtectiveRole(row.role)) {
      await tx
        .update(positions)
        .set({ protectiveOrderIds: sql`array_append(${positions.protectiveOrderIds}, ${row.id})` })
        .where(and(eq(positions.accountId, row.accountId), eq(positions.symbol, row.symbol)));
    }
    await appendLog(tx, orderCreatedLog(row, source, at));
    return { record: orderRecordOfRow(row), created: true };
  });
}

/** The row to insert for a new order. */
export function newOrderRow(input: NewOrder, at: Date): typeof orders.$inferInsert {
  return {
    ...orderColumns(input.order),
    accountId: input.accountId,
    tradeId: input.tradeId ?? null,
    parentOrderId: input.parentOrderId ?? null,
    protectsFillId: input.protectsFillId ?? null,
    replacesOrderId: input.replacesOrderId ?? null,
    exitReason: input.exitReason ?? null,
    extendedHours: input.extendedHours ?? false,
    trailPercent: input.trailPercent ?? null,
    expectedPrice: input.expectedPrice ?? null,
    estimatedSlippage: input.estimatedSlippage ?? null,
    createdAt: at,
    updatedAt: at,
  };
}

/** The audit entry of an order just recorded. */
export function orderCreatedLog(row: OrderRow, source: string, at: Date): LogEntry {
  return {
    entity: "order",
    entityId: row.id,
    event: "CREATED",
    statusAfter: row.status,
    details: {
      clientOrderId: row.clientOrderId,
      symbol: row.symbol,
      role: row.role,
      class: row.orderClass,
      type: row.type,
      side: row.side,
      quantity: row.quantity,
      limitPrice: row.limitPrice,
      stopPrice: row.stopPrice,
      timeInForce: row.timeInForce,
      parentOrderId: row.parentOrderId,
      protectsFillId: row.protectsFillId,
      replacesOrderId: row.replacesOrderId,
      expectedPrice: row.expectedPrice,
      estimatedSlippage: row.estimatedSlippage,
    },
    source,
    accountId: row.accountId,
    tradeId: row.tradeId,
    orderId: row.id,
    occurredAt: at,
  };
}

async function findExistingOrder(db: Database, input: NewOrder): Promise<OrderRecord | null> {
  const byClientId = await findOrderByClientOrderId(db, input.order.clientOrderId);
  if (byClientId || input.protectsFillId == null) return byClientId;
  const [row] = await db
    .select()
    .from(orders)
    .where(and(eq(orders.protectsFillId, input.protectsFillId), eq(orders.role, input.order.role)));
  return row ? orderRecordOfRow(row) : null;
}

/** The order with this id, or null. */
export async function findOrder(db: Database, id: number): Promise<OrderRecord | null> {
  const [row] = await db.select().from(orders).where(eq(orders.id, id));
  return row ? orderRecordOfRow(row) : null;
}

/** The order with this client order id (ours, deterministic), or null. */
export async function findOrderByClientOrderId(
  db: Database,
  clientOrderId: string,
): Promise<OrderRecord | null> {
  const [row] = await db.select().from(orders).where(eq(orders.clientOrderId, clientOrderId));
  return row ? orderRecordOfRow(row) : null;
}

/** The order with this broker order id, or null. */
export async function findOrderByBrokerOrderId(
  db: Database,
  brokerOrderId: string,
): Promise<OrderRecord | null> {
  const [row] = await db.select().from(orders).where(eq(orders.brokerOrderId, brokerOrderId));
  return row ? orderRecordOfRow(row) : null;
}

/** Orders of an account that can still fill or be cancelled (not in a final status), oldest first. */
export async function listOpenOrders(db: Database, accountId: number): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), sql`${orders.status} not in ${endedStatuses}`))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** A trade's orders, oldest first. */
export async function listOrdersForTrade(db: Database, tradeId: number): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(eq(orders.tradeId, tradeId))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** An account's orders in the given statuses, oldest first. */
export async function listOrdersByStatus(
  db: Database,
  accountId: number,
  statuses: readonly OrderStatus[],
): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), inArray(orders.status, [...statuses])))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** An account's orders whose client order id starts with `prefix`, oldest first. */
export async function listOrdersWithClientIdPrefix(
  db: Database,
  accountId: number,
  prefix: string,
): Promise<OrderRecord[]> {
  const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), like(orders.clientOrderId, `${escaped}%`)))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}
