/**
 * Recording a group of orders (a parent and its legs, e.g. an OCO's take-profit and its stop)
 * inside the caller's transaction in two round trips: the orders in one statement (the legs take
 * the parent's new id), then their audit entries and the position's protective ids together. The
 * same rows as `insertOrder` writes one order at a time (with a savepoint and three statements
 * each), in fewer round trips on the way to the broker.
 */
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type Database, queryRows } from "./database";
import { appendLog } from "./executionLog";
import {
  insertOrder,
  isProtectiveRole,
  type NewOrder,
  newOrderRow,
  type OrderRecord,
  orderCreatedLog,
  orderRecordOfRow,
} from "./orders";
import { orders, positions } from "./schema";

type OrderRow = typeof orders.$inferSelect;

/** An order of the group and whether this call recorded it (false: it was there already). */
export interface GroupMember {
  readonly record: OrderRecord;
  readonly created: boolean;
}

const columns = getTableColumns(orders) as Record<string, PgColumn>;

/** A row to insert, keyed by column name, each value in its driver form (as drizzle sends it). */
function driverRecord(values: Record<string, unknown>): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const column = columns[key];
    if (!column) throw new Error(`${key} is not a column of orders`);
    if (value === undefined) continue;
    record[column.name] = value === null ? null : column.mapToDriverValue(value);
  }
  return record;
}

/** A returned row (column names, driver values) as drizzle would map it. */
function rowOfDriverRecord(raw: Record<string, unknown>): OrderRow {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(columns)) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as OrderRow;
}

/**
 * Records `parent` and its `legs` (their `parentOrderId` is set to the parent's id) inside the
 * caller's transaction. Idempotent like `insertOrder`: when the parent or a leg exists already
 * (same client order id, or same role for the same protected fill), it is answered as found with
 * `created` false, and nothing else is written for it. New protective orders join their
 * position's protective ids, and every new order gets its CREATED audit entry.
 */
export async function insertOrderGroup(
  tx: Database,
  parent: NewOrder,
  legs: readonly NewOrder[],
  source: string,
  at: Date,
): Promise<{ readonly parent: GroupMember; readonly legs: readonly GroupMember[] }> {
  const parentRecord = driverRecord(newOrderRow({ ...parent, parentOrderId: null }, at));
  const legRecords = legs.map((leg) => {
    const { parent_order_id: _, ...rest } = driverRecord(newOrderRow(leg, at));
    return rest;
  });
  const names = Object.keys(parentRecord);
  const legNames = names.filter((name) => name !== "parent_order_id");
  const list = (of: readonly string[], prefix = "") =>
    sql.raw(of.map((name) => `${prefix}"${name}"`).join(", "));
  const inserted = await queryRows<Record<string, unknown>>(
    tx,
    sql`with p as (insert into ${orders} (${list(names)}) select ${list(names, "j.")}
      from jsonb_populate_record(null::${orders}, ${JSON.stringify(parentRecord)}::jsonb) as j
      on conflict do nothing returning *),
    l as (insert into ${orders} (${list(legNames)}, "parent_order_id") select ${list(legNames, "j.")}, p.id
      from p, jsonb_populate_recordset(null::${orders}, ${JSON.stringify(legRecords)}::jsonb) as j
      on conflict do nothing returning *)
    select * from p union all select * from l`,
  );
  const rows = inserted.map(rowOfDriverRecord).sort((a, b) => a.id - b.id);
  if (rows.length > 0) {
    // Sent together: one round trip on the transaction's connection.
    const protective = rows.filter((r) => isProtectiveRole(r.role)).map((r) => r.id);
    await Promise.all([
      appendLog(
        tx,
        rows.map((r) => orderCreatedLog(r, source, at)),
      ),
      protective.length === 0
        ? null
        : tx
            .update(positions)
            .set({
              protectiveOrderIds: sql`array_cat(${positions.protectiveOrderIds}, ${`{${protective.join(",")}}`}::bigint[])`,
            })
            .where(
              and(
                eq(positions.accountId, parent.accountId),
                eq(positions.symbol, parent.order.symbol),
              ),
            ),
    ]);
  }
  const byClientId = new Map(rows.map((r) => [r.clientOrderId, r]));
  // Whatever was recorded before (a retry, a race) is found one order at a time, as `insertOrder` does.
  const parentRow = byClientId.get(parent.order.clientOrderId);
  const parentMember = parentRow
    ? { record: orderRecordOfRow(parentRow), created: true }
    : await insertOrder(tx, { ...parent, parentOrderId: null }, source, at);
  const members: GroupMember[] = [];
  for (const leg of legs) {
    const row = byClientId.get(leg.order.clientOrderId);
    members.push(
      row
        ? { record: orderRecordOfRow(row), created: true }
        : await insertOrder(tx, { ...leg, parentOrderId: parentMember.record.id }, source, at),
    );
  }
  return { parent: parentMember, legs: members };
}
