/**
 * Reads and locks the lifecycle jobs need beside the main repositories: recent orders for the
 * duplicate and rate checks, a parent's legs, a trade's entry fills, who hears about an account,
 * and transaction-scoped advisory locks that serialize work on one account or one symbol.
 */
import { and, asc, desc, eq, gte, inArray, or, sql } from "drizzle-orm";
import { type Decimal, dec } from "../domain/money";
import { compileStatement, type Database, runCompiled, runCompiledText } from "./database";
import type { FillRecord } from "./fills";
import { parseJsonNumbersAsText, rowOfJson } from "./jsonRows";
import { createOrderStateCache, type OrderStateCache, rememberSnapshot } from "./orderStateCache";
import { type OrderRecord, orderRecordOfRow } from "./orders";
import { brokerAccounts, endedStatuses, fills, orders, positions, trades, users } from "./schema";

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

/** Order rows as the database returns them (by column name), as records. */
function orderRecordsOf(rows: readonly Record<string, unknown>[]): OrderRecord[] {
  return rows.map((row) => orderRecordOfRow(rowOfJson<OrderRow>(orders, row)));
}

// The reads each entry and each order report make are compiled once (text and parameters), so
// only their values are sent: building a select of every order column costs the client more
// than the database spends running it.
const childOrdersStatement = compileStatement(
  sql`select * from ${orders} where ${orders.parentOrderId} = ${sql.placeholder("parent")}
      order by ${orders.id}`,
);
// Migration 0010: the lock, then the read (with row versions) on a snapshot taken once the lock
// is held, as one JSON text.
const reportedOrdersStatement = compileStatement(
  sql`select report_after_lock(${sql.placeholder("lock")}, ${sql.placeholder("broker")},
      ${sql.placeholder("client")}, ${sql.placeholder("legBrokers")}::jsonb, ${sql.placeholder("legClients")}::jsonb) as report`,
);
const entriesSinceStatement = compileStatement(
  sql`select * from ${orders}
      where ${orders.accountId} = ${sql.placeholder("account")}
        and ${orders.symbol} = ${sql.placeholder("symbol")}
        and ${orders.role} in ('ENTRY', 'SLICE')
        and ${orders.createdAt} >= ${sql.placeholder("since")}
      order by ${orders.id}`,
);
const entryTimesSinceStatement = compileStatement(
  sql`select ${orders.createdAt} as created_at from ${orders}
      where ${orders.accountId} = ${sql.placeholder("account")}
        and ${orders.role} in ('ENTRY', 'SLICE')
        and ${orders.createdAt} >= ${sql.placeholder("since")}
        and (${orders.symbol} <> ${sql.placeholder("exceptSymbol")} or ${orders.createdAt} < ${sql.placeholder("exceptSince")})`,
);
// An entry is priced at its limit, else its stop, else its trade's planned entry (a market
// entry's quote when it was decided): a market entry in another symbol than the one checked has
// no quote in the snapshot, and must not count as nothing.
const workingEntryPrice = sql`coalesce(${orders.limitPrice}, ${orders.stopPrice}, ${trades.plannedEntry})`;
const workingEntriesStatement = compileStatement(
  sql`select ${orders.symbol} as symbol, ${orders.side}::text as side,
        sum(${orders.quantity} - ${orders.filledQuantity})::text as remaining,
        sum((${orders.quantity} - ${orders.filledQuantity}) * ${workingEntryPrice})::text as notional
      from ${orders} left join ${trades} on ${trades.id} = ${orders.tradeId}
      where ${orders.accountId} = ${sql.placeholder("account")}
        and ${orders.role} in ('ENTRY', 'SLICE')
        and ${orders.status} not in ${endedStatuses}
      group by 1, 2, ${workingEntryPrice} is null`,
);

/**
 * Takes a transaction-scoped advisory lock on a name (released at commit or rollback, or when the
 * connection dies). Call it inside `db.transaction`: work under the same name runs one at a time
 * across every process.
 */
export async function lockName(tx: Database, name: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`);
}

/**
 * Lets the calling transaction commit without waiting for its log to reach the disk
 * (`synchronous_commit` off for it alone): its changes are seen, and its locks released, one
 * disk flush sooner. Nothing may act on them outside the database before `awaitEarlierCommits`.
 */
export async function commitWithoutFlushWait(tx: Database): Promise<void> {
  await tx.execute(sql`set local synchronous_commit to off`);
}

/**
 * Waits until the commits this process has seen are on disk: a transaction of its own (an id
 * assigned, nothing written) commits with a flush of the log up to its commit record, which
 * comes after theirs. Concurrent callers share one flush.
 */
export async function awaitEarlierCommits(db: Database): Promise<void> {
  await db.execute(sql`select pg_current_xact_id()`);
}

/** An account's orders created at or after `since`, oldest first (the duplicate and rate checks). */
export async function listOrdersCreatedSince(
  db: Database,
  accountId: number,
  since: Date,
): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), gte(orders.createdAt, since)))
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** The legs recorded under a parent order (bracket or OCO exits), oldest first. */
export async function listChildOrders(db: Database, parentOrderId: number): Promise<OrderRecord[]> {
  return orderRecordsOf(await runCompiled(db, childOrdersStatement, { parent: parentOrderId }));
}

/** The most recent fill of a trade's entry orders (ENTRY or SLICE), or null. */
export async function findLatestEntryFill(
  db: Database,
  tradeId: number,
): Promise<FillRecord | null> {
  const [row] = await db
    .select({ fill: fills })
    .from(fills)
    .innerJoin(orders, eq(orders.id, fills.orderId))
    .where(and(eq(orders.tradeId, tradeId), inArray(orders.role, ["ENTRY", "SLICE"])))
    .orderBy(desc(fills.id))
    .limit(1);
  return row?.fill ?? null;
}

/**
 * The Telegram chats told about an account: its owner, or every admin and trader when it has no
 * owner. A private chat's id is the user's Telegram id.
 */
export async function listAccountRecipients(db: Database, accountId: number): Promise<number[]> {
  const owners = await db
    .select({ chatId: users.telegramUserId })
    .from(brokerAccounts)
    .innerJoin(users, eq(users.id, brokerAccounts.ownerUserId))
    .where(eq(brokerAccounts.id, accountId));
  if (owners.length > 0) return owners.map((o) => o.chatId);
  const staff = await db
    .select({ chatId: users.telegramUserId })
    .from(users)
    .where(or(eq(users.role, "admin"), eq(users.role, "trader")))
    .orderBy(asc(users.id));
  return staff.map((s) => s.chatId);
}

/** An account's orders with any of these broker order ids or client order ids. */
export async function listOrdersByIds(
  db: Database,
  accountId: number,
  brokerOrderIds: readonly string[],
  clientOrderIds: readonly string[],
): Promise<OrderRecord[]> {
  if (brokerOrderIds.length === 0 && clientOrderIds.length === 0) return [];
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        eq(orders.accountId, accountId),
        or(
          brokerOrderIds.length > 0
            ? inArray(orders.brokerOrderId, [...brokerOrderIds])
            : undefined,
          clientOrderIds.length > 0
            ? inArray(orders.clientOrderId, [...clientOrderIds])
            : undefined,
        ),
      ),
    );
  return rows.map(orderRecordOfRow);
}

/** An account's entry orders (ENTRY, SLICE) that can still fill, oldest first: the exposure the checks count. */
export async function listOpenEntryOrders(db: Database, accountId: number): Promise<OrderRecord[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        eq(orders.accountId, accountId),
        inArray(orders.role, ["ENTRY", "SLICE"]),
        sql`${orders.status} not in ${endedStatuses}`,
      ),
    )
    .orderBy(asc(orders.id));
  return rows.map(orderRecordOfRow);
}

/** What an account's working entries add up to, per symbol and side. */
export interface WorkingEntryTotal {
  readonly symbol: string;
  readonly side: "buy" | "sell";
  /** Quantity still to fill. */
  readonly remainingQuantity: Decimal;
  /**
   * Remaining quantity at each order's limit price, else its stop price, else its trade's planned
   * entry; null for entries with none of them (no trade behind a market entry).
   */
  readonly notional: Decimal | null;
}

/**
 * An account's working entries summed per symbol and side (priced and unpriced apart): what the
 * exposure checks need, in one row per symbol instead of one per order. A market entry counts at
 * its trade's planned entry, so it is priced even when the checks have no quote for its symbol.
 */
export async function sumWorkingEntries(
  db: Database,
  accountId: number,
): Promise<WorkingEntryTotal[]> {
  const rows = await runCompiled<{
    symbol: string;
    side: "buy" | "sell";
    remaining: string;
    notional: string | null;
  }>(db, workingEntriesStatement, { account: accountId });
  return rows.map((r) => ({
    symbol: r.symbol,
    side: r.side,
    remainingQuantity: dec(r.remaining),
    notional: r.notional === null ? null : dec(r.notional),
  }));
}

/**
 * When an account's entries were created since `since` (the order-rate rule), leaving out those
 * in `exceptSymbol` created at or after `exceptSince` (the caller reads those in full; by default
 * every one in that symbol).
 */
export async function listEntryTimesSince(
  db: Database,
  accountId: number,
  since: Date,
  exceptSymbol: string,
  exceptSince: Date = since,
): Promise<Date[]> {
  const rows = await runCompiled<{ created_at: unknown }>(db, entryTimesSinceStatement, {
    account: accountId,
    since: since.toISOString(),
    exceptSymbol,
    exceptSince: exceptSince.toISOString(),
  });
  return rows.map((r) => orders.createdAt.mapFromDriverValue(r.created_at as string) as Date);
}

/** An account's entries in one symbol created since `since` (the duplicate rule), oldest first. */
export async function listEntriesSince(
  db: Database,
  accountId: number,
  symbol: string,
  since: Date,
): Promise<OrderRecord[]> {
  return orderRecordsOf(
    await runCompiled(db, entriesSinceStatement, {
      account: accountId,
      symbol,
      since: since.toISOString(),
    }),
  );
}

/** What an order report is matched against: our order, the legs stored under it, and its legs' own rows. */
export interface ReportedOrders {
  /** Our order the report is about (by broker id, else client id), or null. */
  readonly order: OrderRecord | null;
  /** The legs stored under `order`, oldest first. */
  readonly children: readonly OrderRecord[];
  /** Every order of `order`'s trade (itself included), oldest first; empty without a trade. */
  readonly tradeOrders: readonly OrderRecord[];
  /** Our order a reported leg is (by broker id, else client id), wherever it is stored, or null. */
  leg(leg: { readonly brokerOrderId: string; readonly clientOrderId: string }): OrderRecord | null;
  /**
   * The rows read (orders, and the order's position and trade) with their versions, for the
   * report's events to be applied from without reading them again.
   */
  readonly cache: OrderStateCache;
}

/**
 * Takes the transaction-scoped lock `lock`, then reads, in the same statement and on what was
 * committed once the lock was granted, the orders an order report touches: the order (by broker
 * id, else client id), the legs stored under it, the other orders of its trade, and any order
 * matching one of the reported legs.
 */
export async function lockReportedOrders(
  tx: Database,
  lock: string,
  order: { readonly brokerOrderId: string; readonly clientOrderId: string },
  legs: readonly { readonly brokerOrderId: string; readonly clientOrderId: string }[],
): Promise<ReportedOrders> {
  const [read] = await runCompiledText<{ report: string }>(tx, reportedOrdersStatement, {
    lock,
    broker: order.brokerOrderId,
    client: order.clientOrderId,
    legBrokers: JSON.stringify(legs.map((l) => l.brokerOrderId)),
    legClients: JSON.stringify(legs.map((l) => l.clientOrderId).filter((id) => id.length > 0)),
  });
  const [orderRows, position, trade] = parseJsonNumbersAsText(read?.report ?? "[[],null,null]") as [
    [Record<string, unknown>, string][],
    [Record<string, unknown>, string] | null,
    [Record<string, unknown>, string] | null,
  ];
  const versioned = orderRows.map(([row, version]) => ({
    row: rowOfJson<OrderRow>(orders, row),
    version,
  }));
  const rows = versioned.map((v) => orderRecordOfRow(v.row));
  // The rows as read, for the report's events to start from (their writes check the versions).
  const cache = createOrderStateCache();
  const positionRead = position && {
    row: rowOfJson<PositionRow>(positions, position[0]),
    version: position[1],
  };
  const tradeRead = trade && { row: rowOfJson<TradeRow>(trades, trade[0]), version: trade[1] };
  for (const v of versioned) {
    rememberSnapshot(
      cache,
      v,
      positionRead,
      tradeRead && v.row.tradeId === tradeRead.row.id ? tradeRead : null,
    );
  }
  const match = (wanted: { readonly brokerOrderId: string; readonly clientOrderId: string }) =>
    rows.find((r) => r.order.brokerOrderId === wanted.brokerOrderId) ??
    (wanted.clientOrderId === ""
      ? undefined
      : rows.find((r) => r.order.clientOrderId === wanted.clientOrderId)) ??
    null;
  const found = match(order);
  return {
    order: found,
    children: found === null ? [] : rows.filter((r) => r.parentOrderId === found.id),
    tradeOrders: found?.tradeId == null ? [] : rows.filter((r) => r.tradeId === found.tradeId),
    leg: match,
    cache,
  };
}
