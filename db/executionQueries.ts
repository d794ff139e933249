/**
 * Paged reads of an account's orders (with their fills), fills and audit events, newest first:
 * what the execution API lists. Each page takes `limit` rows below `beforeId` (the last id of the
 * previous page).
 */
import { and, desc, eq, gte, inArray, lt, lte, type SQL } from "drizzle-orm";
import type { OrderStatus } from "../domain/order";
import type { Database } from "./database";
import type { LoggedEvent } from "./executionLog";
import type { FillRecord } from "./fills";
import { executionLog, fills, orders } from "./schema";

/** An order as stored, every column. */
export type StoredOrder = typeof orders.$inferSelect;

/** An order with its fills in the order applied. */
export interface OrderWithFills {
  readonly order: StoredOrder;
  readonly fills: FillRecord[];
}

/** One page of a newest-first listing. */
export interface Page {
  readonly limit: number;
  /** Only ids below this (the next page). */
  readonly beforeId?: number;
}

/** Which orders to list: by status, symbol and creation time. */
export interface OrderPageFilter extends Page {
  readonly statuses?: readonly OrderStatus[];
  readonly symbol?: string;
  readonly from?: Date;
  readonly to?: Date;
}

/** Which fills to list: by symbol and fill time. */
export interface FillPageFilter extends Page {
  readonly symbol?: string;
  readonly from?: Date;
  readonly to?: Date;
}

/** An account's orders, newest first, each with its fills. */
export async function listOrdersWithFills(
  db: Database,
  accountId: number,
  filter: OrderPageFilter,
): Promise<OrderWithFills[]> {
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
    )
    .orderBy(fills.id);
  return rows.map((order) => ({
    order,
    fills: fillRows.filter((fill) => fill.orderId === order.id),
  }));
}

/** An account's fills, newest first. */
export async function listAccountFills(
  db: Database,
  accountId: number,
  filter: FillPageFilter,
): Promise<FillRecord[]> {
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
export async function listAccountLogEvents(
  db: Database,
  accountId: number,
  page: Page,
): Promise<LoggedEvent[]> {
  const conditions: SQL[] = [eq(executionLog.accountId, accountId)];
  if (page.beforeId !== undefined) conditions.push(lt(executionLog.id, page.beforeId));
  return db
    .select()
    .from(executionLog)
    .where(and(...conditions))
    .orderBy(desc(executionLog.id))
    .limit(page.limit);
}
