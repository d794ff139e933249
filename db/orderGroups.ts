/**
 * Recording a group of orders (a parent and its legs, e.g. an OCO's take-profit and its stop)
 * inside the caller's transaction in one statement: the orders (the legs take the parent's new
 * id), their audit entries and the position's protective ids together. The same rows as
 * `insertOrder` writes one order at a time (a savepoint and three statements each), in one round
 * trip on the way to the broker. The statement is built once per shape and compiled.
 */
import type { Query } from "drizzle-orm";
import { sql } from "drizzle-orm";
import { compileStatement, type Database, runCompiled } from "./database";
import { type LogEntry, logRowsJson } from "./executionLog";
import { jsonRow, parseJsonNumbersAsText, rowOfJson } from "./jsonRows";
import {
  insertOrder,
  isProtectiveRole,
  type NewOrder,
  newOrderRow,
  type OrderRecord,
  orderCreatedLog,
  orderRecordOfRow,
} from "./orders";
import { executionLog, orders, positions } from "./schema";

type OrderRow = typeof orders.$inferSelect;

/** An order of the group and whether this call recorded it (false: it was there already). */
export interface GroupMember {
  readonly record: OrderRecord;
  readonly created: boolean;
}

const statements = new Map<string, Query>();

/**
 * The statement for rows setting `columns`. Parameters: the parent's JSON row, the legs' JSON
 * rows, the client order ids of the protective orders, the account and symbol of the position,
 * and the CREATED log entries (each with the client order id as its entity id, replaced by the
 * new order's id). Answers the orders it inserted, as one JSON array.
 */
function groupStatement(columns: readonly string[]): Query {
  const key = columns.join(",");
  let statement = statements.get(key);
  if (statement) return statement;
  const legColumns = columns.filter((name) => name !== "parent_order_id");
  const list = (names: readonly string[], prefix = "") =>
    sql.raw(names.map((name) => `${prefix}"${name}"`).join(", "));
  const protective = sql`n.client_order_id in (select jsonb_array_elements_text(${sql.placeholder("protective")}::jsonb))`;
  statement = compileStatement(
    sql`with p as (insert into ${orders} (${list(columns)}) select ${list(columns, "j.")}
      from jsonb_populate_record(null::${orders}, ${sql.placeholder("parent")}::jsonb) as j
      on conflict do nothing returning *),
    l as (insert into ${orders} (${list(legColumns)}, "parent_order_id")
      select ${list(legColumns, "j.")}, p.id
      from p, jsonb_populate_recordset(null::${orders}, ${sql.placeholder("legs")}::jsonb) as j
      on conflict do nothing returning *),
    n as (select * from p union all select * from l),
    u as (update ${positions} set protective_order_ids = array_cat(protective_order_ids,
        (select array_agg(n.id order by n.id) from n where ${protective}))
      where account_id = ${sql.placeholder("accountId")} and symbol = ${sql.placeholder("symbol")}
        and exists (select 1 from n where ${protective}) returning 1),
    g as (insert into ${executionLog} (entity, entity_id, event, status_before, status_after, details, source, account_id, decision_id, trade_id, order_id, occurred_at)
      select e.entity, n.id::text, e.event, e.status_before, e.status_after,
        e.details || jsonb_build_object('parentOrderId', n.parent_order_id), e.source,
        e.account_id, e.decision_id, e.trade_id, n.id, e.occurred_at
      from n join jsonb_to_recordset(${sql.placeholder("logs")}::jsonb) as e(entity log_entity, entity_id text, event text, status_before text, status_after text, details jsonb, source text, account_id bigint, decision_id bigint, trade_id bigint, occurred_at timestamptz)
        on e.entity_id = n.client_order_id
      order by n.id returning 1)
    select coalesce(json_agg(n order by n.id), '[]')::text as rows from n`,
  );
  statements.set(key, statement);
  return statement;
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
  const parentRow = jsonRow(orders, newOrderRow({ ...parent, parentOrderId: null }, at));
  const legRows = legs.map((leg) => jsonRow(orders, newOrderRow(leg, at)));
  const all = [parent, ...legs];
  // Each audit entry as `insertOrder` writes it, told from its row before the insert (the ids
  // come from the statement).
  const logs: LogEntry[] = [parentRow, ...legRows].map((row, i) => ({
    ...orderCreatedLog(
      { ...rowOfJson<OrderRow>(orders, JSON.parse(row.json) as Record<string, unknown>), id: 0 },
      source,
      at,
    ),
    entityId: all[i]?.order.clientOrderId ?? "",
  }));
  const [answer] = await runCompiled<{ rows: string }>(tx, groupStatement(parentRow.columns), {
    parent: parentRow.json,
    legs: `[${legRows.map((r) => r.json).join(",")}]`,
    protective: JSON.stringify(
      all.filter((o) => isProtectiveRole(o.order.role)).map((o) => o.order.clientOrderId),
    ),
    accountId: parent.accountId,
    symbol: parent.order.symbol,
    logs: logRowsJson(logs),
  });
  const inserted = parseJsonNumbersAsText(answer?.rows ?? "[]") as Record<string, unknown>[];
  const byClientId = new Map(
    inserted.map((json) => {
      const row = rowOfJson<OrderRow>(orders, json);
      return [row.clientOrderId, row] as const;
    }),
  );
  // Whatever was recorded before (a retry, a race) is found one order at a time, as `insertOrder` does.
  const insertedParent = byClientId.get(parent.order.clientOrderId);
  const parentMember = insertedParent
    ? { record: orderRecordOfRow(insertedParent), created: true }
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
