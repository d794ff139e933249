/**
 * Reads the reconciliation needs beside the main repositories: the orders to compare with the
 * broker's (working, or changed recently enough that a missed fill may still hide in them, and
 * older ones found by the broker's order ids) and how many positions of a symbol were adopted
 * before (the sequence in an adoption's client order id), and the decisions still executing
 * (settled once their execute job is gone).
 */
import { and, asc, count, eq, gte, inArray, like, or, sql } from "drizzle-orm";
import type { Database } from "./database";
import type { Decision } from "./decisions";
import { type OrderRecord, orderRecordOfRow } from "./orders";
import { decisions, endedStatuses, orders } from "./schema";

/**
 * An account's orders that are still working, or were changed at or after `since`, oldest first.
 * Each side of the `or` has its index (the working orders' partial one, the ended statuses named
 * as literals for it; the orders by change time), so the read does not grow with the history.
 */
export async function listOrdersToReconcile(
  db: Database,
  accountId: number,
  since: Date,
): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        eq(orders.accountId, accountId),
        or(sql`${orders.status} not in ${endedStatuses}`, gte(orders.updatedAt, since)),
      ),
    )
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/**
 * An account's orders with one of these client order ids or broker order ids, whatever their age,
 * oldest first. Both ids are unique and indexed: the read costs what the ids do, not the history.
 */
export async function listOrdersByIds(
  db: Database,
  accountId: number,
  ids: { readonly clientOrderIds: readonly string[]; readonly brokerOrderIds: readonly string[] },
): Promise<OrderRecord[]> {
  const clientOrderIds = [...new Set(ids.clientOrderIds)];
  const brokerOrderIds = [...new Set(ids.brokerOrderIds)];
  const matches = [
    ...(clientOrderIds.length > 0 ? [inArray(orders.clientOrderId, clientOrderIds)] : []),
    ...(brokerOrderIds.length > 0 ? [inArray(orders.brokerOrderId, brokerOrderIds)] : []),
  ];
  if (matches.length === 0) return [];
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), or(...matches)))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** How many orders of an account have a client order id starting with `prefix`. */
export async function countOrdersWithClientIdPrefix(
  db: Database,
  accountId: number,
  prefix: string,
): Promise<number> {
  const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
  const [row] = await db
    .select({ n: count() })
    .from(orders)
    .where(and(eq(orders.accountId, accountId), like(orders.clientOrderId, `${escaped}%`)));
  return row?.n ?? 0;
}

/** An account's decisions `approved` and not yet claimed for execution, oldest first. */
export async function listApprovedDecisions(db: Database, accountId: number): Promise<Decision[]> {
  return db
    .select()
    .from(decisions)
    .where(and(eq(decisions.accountId, accountId), eq(decisions.status, "approved")))
    .orderBy(asc(decisions.id));
}

/** An account's decisions still `executing`, oldest first. */
export async function listExecutingDecisions(db: Database, accountId: number): Promise<Decision[]> {
  return db
    .select()
    .from(decisions)
    .where(and(eq(decisions.accountId, accountId), eq(decisions.status, "executing")))
    .orderBy(asc(decisions.id));
}
