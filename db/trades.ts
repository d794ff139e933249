import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { createTrade, type NewTrade, type Trade } from "../domain/trade";
import type { Database } from "./database";
import { appendLog, type LogEntry } from "./executionLog";
import { isTransaction } from "./optimisticWrites";
import {
  findOrderByClientOrderId,
  insertOrder,
  isProtectiveRole,
  listOrdersForTrade,
  type NewOrder,
  newOrderRow,
  type OrderRecord,
  orderCreatedLog,
  orderRecordOfRow,
} from "./orders";
import { orders, positions, type TradeStatus, trades } from "./schema";

type TradeRow = typeof trades.$inferSelect;

/** A journalled trade: the domain `Trade` plus where it came from. */
export interface TradeRecord {
  readonly id: number;
  readonly accountId: number;
  readonly decisionId: number | null;
  readonly trade: Trade;
  readonly createdAt: Date;
}

/** The domain trade held in a row (its id is the row id as text). */
export function tradeOfRow(row: TradeRow): Trade {
  return {
    id: String(row.id),
    symbol: row.symbol,
    side: row.side,
    plannedEntryPrice: row.plannedEntry,
    plannedStopPrice: row.plannedStop,
    plannedTargetPrice: row.plannedTarget,
    plannedQuantity: row.plannedQuantity,
    plannedRisk: row.plannedRisk,
    status: row.status,
    quantity: row.quantity,
    costBasis: row.costBasis,
    entryQuantity: row.entryQuantity,
    entryNotional: row.entryNotional,
    averageEntryPrice: row.entryPrice,
    exitQuantity: row.exitQuantity,
    exitNotional: row.exitNotional,
    averageExitPrice: row.exitPrice,
    realizedPnl: row.realizedPnl,
    commissions: row.commissions,
    rMultiple: row.rMultiple,
    exitReason: row.exitReason,
    openedAt: row.openedAt?.toISOString() ?? null,
    closedAt: row.closedAt?.toISOString() ?? null,
    updatedAt: row.lastEventAt.toISOString(),
  };
}

/** The record of a row. */
export function tradeRecordOfRow(row: TradeRow): TradeRecord {
  return {
    id: row.id,
    accountId: row.accountId,
    decisionId: row.decisionId,
    trade: tradeOfRow(row),
    createdAt: row.createdAt,
  };
}

/** The columns a domain trade sets (everything its lifecycle may change). */
export function tradeColumns(trade: Trade) {
  return {
    status: trade.status,
    quantity: trade.quantity,
    costBasis: trade.costBasis,
    entryQuantity: trade.entryQuantity,
    entryNotional: trade.entryNotional,
    entryPrice: trade.averageEntryPrice,
    exitQuantity: trade.exitQuantity,
    exitNotional: trade.exitNotional,
    exitPrice: trade.averageExitPrice,
    exitReason: trade.exitReason,
    realizedPnl: trade.realizedPnl,
    rMultiple: trade.rMultiple,
    commissions: trade.commissions,
    openedAt: trade.openedAt === null ? null : new Date(trade.openedAt),
    closedAt: trade.closedAt === null ? null : new Date(trade.closedAt),
    lastEventAt: new Date(trade.updatedAt),
  };
}

export interface NewTradeEntry {
  readonly accountId: number;
  /** The decision this trade executes; null for an adopted position. */
  readonly decisionId: number | null;
  readonly plan: Omit<NewTrade, "id">;
  /** The entry order (role ENTRY), from the domain's `createOrder`. */
  readonly entry: Omit<NewOrder, "accountId" | "tradeId" | "parentOrderId">;
  /** Bracket legs (stop, target) held at the broker until the entry fills. */
  readonly legs?: readonly Omit<NewOrder, "accountId" | "tradeId" | "parentOrderId">[];
}

export interface TradeEntryRecorded {
  readonly trade: TradeRecord;
  readonly entry: OrderRecord;
  readonly legs: readonly OrderRecord[];
  /** False when this decision's trade was recorded before (a retried job): nothing was written. */
  readonly created: boolean;
}

/**
 * Journals a trade (ORDERED, from the domain's `createTrade`) with its entry order and bracket
 * legs, before anything is sent, in one transaction. A decision has at most one trade: a retry
 * returns the trade and orders recorded the first time.
 */
export async function recordTradeEntry(
  db: Database,
  input: NewTradeEntry,
  source: string,
  at: Date,
): Promise<TradeEntryRecorded> {
  // Inside the caller's transaction no savepoint is needed: a failure aborts the caller's work,
  // as it would have after the savepoint rolled back and the error propagated.
  if (isTransaction(db)) return recordTradeEntryIn(db, input, source, at);
  return db.transaction((tx) => recordTradeEntryIn(tx, input, source, at));
}

async function recordTradeEntryIn(
  tx: Database,
  input: NewTradeEntry,
  source: string,
  at: Date,
): Promise<TradeEntryRecorded> {
  const planned = createTrade({ ...input.plan, id: "new" }, at.toISOString());
  if (input.decisionId === null) {
    // Without a decision, the entry's client order id is what makes a retry find its trade.
    const known = await findOrderByClientOrderId(tx, input.entry.order.clientOrderId);
    const knownTrade = known?.tradeId == null ? null : await findTrade(tx, known.tradeId);
    if (known && knownTrade) {
      const legs = (await listOrdersForTrade(tx, knownTrade.id)).filter(
        (o) => o.parentOrderId === known.id,
      );
      return { trade: knownTrade, entry: known, legs, created: false };
    }
  }
  const [row] = await tx
    .insert(trades)
    .values({
      accountId: input.accountId,
      decisionId: input.decisionId,
      symbol: planned.symbol,
      side: planned.side,
      plannedEntry: planned.plannedEntryPrice,
      plannedStop: planned.plannedStopPrice,
      plannedTarget: planned.plannedTargetPrice,
      plannedQuantity: planned.plannedQuantity,
      plannedRisk: planned.plannedRisk,
      ...tradeColumns(planned),
      createdAt: at,
      updatedAt: at,
    })
    .onConflictDoNothing()
    .returning();
  if (!row) {
    if (input.decisionId === null) throw new Error("trade without decision was not inserted");
    const [existing] = await tx
      .select()
      .from(trades)
      .where(eq(trades.decisionId, input.decisionId));
    if (!existing) throw new Error("trade neither inserted nor found");
    const orders = await insertEntryOrders(tx, input, existing.id, source, at);
    return { trade: tradeRecordOfRow(existing), ...orders, created: false };
  }
  const orders = await insertNewEntryOrders(tx, input, row.id, source, at);
  // The trade's log entry comes first, then its orders', as when each was written on its own.
  await appendLog(tx, [
    {
      entity: "trade",
      entityId: row.id,
      event: "CREATED",
      statusAfter: row.status,
      details: {
        symbol: row.symbol,
        side: row.side,
        plannedEntry: row.plannedEntry,
        plannedStop: row.plannedStop,
        plannedTarget: row.plannedTarget,
        plannedQuantity: row.plannedQuantity,
        plannedRisk: row.plannedRisk,
      },
      source,
      accountId: row.accountId,
      decisionId: row.decisionId,
      tradeId: row.id,
      occurredAt: at,
    },
    ...orders.logs,
  ]);
  return { trade: tradeRecordOfRow(row), entry: orders.entry, legs: orders.legs, created: true };
}

/**
 * Records the entry and its legs of a trade just inserted: the entry, then the legs in one
 * statement, then the protective legs joined to the position in one more. The log entries are
 * returned for the caller to write with the trade's. An entry already recorded belongs to another
 * trade (another worker recorded it meanwhile): that is an error, which undoes ours.
 */
async function insertNewEntryOrders(
  tx: Database,
  input: NewTradeEntry,
  tradeId: number,
  source: string,
  at: Date,
): Promise<{
  readonly entry: OrderRecord;
  readonly legs: readonly OrderRecord[];
  readonly logs: readonly LogEntry[];
}> {
  const [entryRow] = await tx
    .insert(orders)
    .values(newOrderRow({ ...input.entry, accountId: input.accountId, tradeId }, at))
    .onConflictDoNothing()
    .returning();
  if (!entryRow) {
    const existing = await findOrderByClientOrderId(tx, input.entry.order.clientOrderId);
    throw new Error(
      `entry ${input.entry.order.clientOrderId} belongs to trade ${existing?.tradeId ?? "unknown"}`,
    );
  }
  const legInputs = input.legs ?? [];
  const legRows =
    legInputs.length === 0
      ? []
      : await tx
          .insert(orders)
          .values(
            legInputs.map((leg) =>
              newOrderRow(
                { ...leg, accountId: input.accountId, tradeId, parentOrderId: entryRow.id },
                at,
              ),
            ),
          )
          .onConflictDoNothing()
          .returning();
  const byClientId = new Map(legRows.map((r) => [r.clientOrderId, r]));
  const legs: OrderRecord[] = [];
  for (const leg of legInputs) {
    const inserted = byClientId.get(leg.order.clientOrderId);
    if (inserted) {
      legs.push(orderRecordOfRow(inserted));
      continue;
    }
    // Recorded before under this client order id: it is answered as found, as one insert would.
    const existing = await findOrderByClientOrderId(tx, leg.order.clientOrderId);
    if (!existing) throw new Error("order neither inserted nor found");
    legs.push(existing);
  }
  const created = [
    entryRow,
    ...legInputs.flatMap((leg) => {
      const r = byClientId.get(leg.order.clientOrderId);
      return r ? [r] : [];
    }),
  ];
  const protective = created.filter((r) => isProtectiveRole(r.role));
  for (const symbol of new Set(protective.map((r) => r.symbol))) {
    const ids = protective.filter((r) => r.symbol === symbol).map((r) => r.id);
    await tx
      .update(positions)
      .set({
        // The ids as one text parameter: the statement's text stays the same (prepared once).
        protectiveOrderIds: sql`array_cat(${positions.protectiveOrderIds}, string_to_array(${ids.map((id) => String(Number(id))).join(",")}, ',')::bigint[])`,
      })
      .where(and(eq(positions.accountId, input.accountId), eq(positions.symbol, symbol)));
  }
  return {
    entry: orderRecordOfRow(entryRow),
    legs,
    logs: created.map((r) => orderCreatedLog(r, source, at)),
  };
}

/** Records (or finds, on a retry) the entry and its legs; one after the other, as savepoints nest. */
async function insertEntryOrders(
  db: Database,
  input: NewTradeEntry,
  tradeId: number,
  source: string,
  at: Date,
): Promise<{ readonly entry: OrderRecord; readonly legs: readonly OrderRecord[] }> {
  const entry = await insertOrder(
    db,
    { ...input.entry, accountId: input.accountId, tradeId },
    source,
    at,
  );
  const legs: OrderRecord[] = [];
  for (const leg of input.legs ?? []) {
    const inserted = await insertOrder(
      db,
      { ...leg, accountId: input.accountId, tradeId, parentOrderId: entry.record.id },
      source,
      at,
    );
    legs.push(inserted.record);
  }
  return { entry: entry.record, legs };
}

/** The trade with this id, or null. */
export async function findTrade(db: Database, id: number): Promise<TradeRecord | null> {
  const [row] = await db.select().from(trades).where(eq(trades.id, id));
  return row ? tradeRecordOfRow(row) : null;
}

/** The trade executing this decision, or null. */
export async function findTradeByDecision(
  db: Database,
  decisionId: number,
): Promise<TradeRecord | null> {
  const [row] = await db.select().from(trades).where(eq(trades.decisionId, decisionId));
  return row ? tradeRecordOfRow(row) : null;
}

/** An account's trades, newest first, optionally only in some statuses. */
export async function listTrades(
  db: Database,
  accountId: number,
  options: { readonly statuses?: readonly TradeStatus[]; readonly limit?: number } = {},
): Promise<TradeRecord[]> {
  const rows = await db
    .select()
    .from(trades)
    .where(
      options.statuses
        ? and(eq(trades.accountId, accountId), inArray(trades.status, [...options.statuses]))
        : eq(trades.accountId, accountId),
    )
    .orderBy(desc(trades.id))
    .limit(options.limit ?? 100);
  return rows.map(tradeRecordOfRow);
}
