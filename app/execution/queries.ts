/**
 * Read models for /api/execution: orders with their fills, fills, and the audit trail, filtered
 * and paged. Read-only queries over the repositories' tables.
 */
import { and, desc, eq, gte, inArray, lt, lte, type SQL } from "drizzle-orm";
import type { Database } from "../../db/database";
import { executionLog, fills, orders } from "../../db/schema";
import type { OrderStatus } from "../../domain/order";

/** The seed's order filter words and the broker statuses they cover. */
export const ORDER_STATUS_FILTERS: Readonly<Record<string, readonly OrderStatus[]>> = {
  PENDING: [
    "pending_new",
    "accepted",
    "new",
    "partially_filled",
    "held",
    "pending_cancel",
    "pending_replace",
    "accepted_for_bidding",
    "calculated",
    "stopped",
    "suspended",
  ],
  FILLED: ["filled"],
  CANCELLED: ["canceled", "expired", "rejected", "replaced", "done_for_day"],
};

export interface OrderFilter {
  readonly statuses?: readonly OrderStatus[];
  readonly symbol?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit: number;
  /** Only ids below this (the next page of a newest-first listing). */
  readonly beforeId?: number;
}

export type OrderRow = typeof orders.$inferSelect;
export type FillRow = typeof fills.$inferSelect;
export type LogRow = typeof executionLog.$inferSelect;

/** An account's orders, newest first, each with its fills. */
export async function listOrdersWithFills(
  db: Database,
  accountId: number,
  filter: OrderFilter,
): Promise<{ order: OrderRow; fills: FillRow[] }[]> {
  const conditions: SQL[] = [eq(orders.accountId, accountId)];
  if (filter.statuses !== undefined) conditions.push(inArray(orders.status, [...filter.statuses]));
  if (filter.symbol !== undefined) conditions.push(eq(orders.symbol, filter.symbol));
  if (filter.from !== undefined) conditions.push(gte(orders.createdAt, filter.from));
  if (filter.to !== undefined) conditions.push(lte(orders.createdAt, filter.to));
  if (filter.beforeId !== undefined) conditions.push(lt(orders.id, filter.beforeId));
  const rows = await db
    .select()
    .from(orders)
    .where(and(...conditions))
    .orderBy(desc(orders.id))
    .limit(filter.limit);
  if (rows.length === 0) return [];
  const fillRows = await db
    .select()
    .from(fills)
    .where(
      inArray(
        fills.orderId,
        rows.map((row) => row.id),
      ),
    );
  return rows.map((order) => ({
    order,
    fills: fillRows.filter((fill) => fill.orderId === order.id).sort((a, b) => a.id - b.id),
  }));
}

/** An account's fills, newest first. */
export async function listFills(
  db: Database,
  accountId: number,
  filter: { symbol?: string; from?: Date; to?: Date; limit: number; beforeId?: number },
): Promise<FillRow[]> {
  const conditions: SQL[] = [eq(fills.accountId, accountId)];
  if (filter.symbol !== undefined) conditions.push(eq(fills.symbol, filter.symbol));
  if (filter.from !== undefined) conditions.push(gte(fills.filledAt, filter.from));
  if (filter.to !== undefined) conditions.push(lte(fills.filledAt, filter.to));
  if (filter.beforeId !== undefined) conditions.push(lt(fills.id, filter.beforeId));
  return db
    .select()
    .from(fills)
    .where(and(...conditions))
    .orderBy(desc(fills.id))
    .limit(filter.limit);
}

/** An account's audit events, newest first. */
export async function listLogEvents(
  db: Database,
  accountId: number,
  filter: { limit: number; beforeId?: number },
): Promise<LogRow[]> {
  const conditions: SQL[] = [eq(executionLog.accountId, accountId)];
  if (filter.beforeId !== undefined) conditions.push(lt(executionLog.id, filter.beforeId));
  return db
    .select()
    .from(executionLog)
    .where(and(...conditions))
    .orderBy(desc(executionLog.id))
    .limit(filter.limit);
}
