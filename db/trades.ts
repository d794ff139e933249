import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { createTrade, type NewTrade, type Trade } from "../domain/trade";
import { type Database, queryRows } from "./database";
import { parseJsonNumbersAsText, rowOfJson } from "./jsonRows";
import { isTransaction } from "./optimisticWrites";
import { insertOrderGroup } from "./orderGroups";
import {
  findOrderByClientOrderId,
  insertOrder,
  listOrdersForTrade,
  type NewOrder,
  type OrderRecord,
} from "./orders";
import { executionLog, type TradeStatus, trades } from "./schema";

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
  const row = await insertTradeWithLog(tx, input, planned, source, at);
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
  return { trade: tradeRecordOfRow(row), entry: orders.entry, legs: orders.legs, created: true };
}

/**
 * Inserts the trade with its CREATED log entry, in one statement (the trade's entry comes before
 * its orders', as when each was written on its own). Null when the decision's trade exists.
 */
async function insertTradeWithLog(
  tx: Database,
  input: NewTradeEntry,
  planned: Trade,
  source: string,
  at: Date,
): Promise<TradeRow | null> {
  // The plan's columns, which the CREATED entry also records.
  const plan = {
    symbol: planned.symbol,
    side: planned.side,
    plannedEntry: planned.plannedEntryPrice,
    plannedStop: planned.plannedStopPrice,
    plannedTarget: planned.plannedTargetPrice,
    plannedQuantity: planned.plannedQuantity,
    plannedRisk: planned.plannedRisk,
  };
  const insert = tx
    .insert(trades)
    .values({
      accountId: input.accountId,
      decisionId: input.decisionId,
      ...plan,
      ...tradeColumns(planned),
      createdAt: at,
      updatedAt: at,
    })
    .onConflictDoNothing()
    .returning();
  const details = JSON.stringify(plan);
  const [inserted] = await queryRows<{ row: string }>(
    tx,
    sql`with t as ${insert}, l as (
      insert into ${executionLog} (entity, entity_id, event, status_after, details, source,
        account_id, decision_id, trade_id, occurred_at)
      select 'trade', t.id::text, 'CREATED', t.status::text, ${details}::jsonb, ${source}::text,
        t.account_id, t.decision_id, t.id, ${at.toISOString()}::timestamptz
      from t
    )
    select row_to_json(t)::text as row from t`,
  );
  return inserted
    ? rowOfJson<TradeRow>(trades, parseJsonNumbersAsText(inserted.row) as Record<string, unknown>)
    : null;
}

/**
 * Records the entry and its legs of a trade just inserted, in one statement with their log
 * entries and the protective legs joined to the position. An entry already recorded belongs to
 * another trade (another worker recorded it meanwhile): that is an error, which undoes ours.
 */
async function insertNewEntryOrders(
  tx: Database,
  input: NewTradeEntry,
  tradeId: number,
  source: string,
  at: Date,
): Promise<{ readonly entry: OrderRecord; readonly legs: readonly OrderRecord[] }> {
  const group = await insertOrderGroup(
    tx,
    { ...input.entry, accountId: input.accountId, tradeId },
    (input.legs ?? []).map((leg) => ({ ...leg, accountId: input.accountId, tradeId })),
    source,
    at,
  );
  if (!group.parent.created) {
    throw new Error(
      `entry ${input.entry.order.clientOrderId} belongs to trade ${group.parent.record.tradeId ?? "unknown"}`,
    );
  }
  return { entry: group.parent.record, legs: group.legs.map((leg) => leg.record) };
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
