import { and, eq, gt, inArray, ne, notInArray, or, type SQL, sql } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import { type Decimal, ZERO } from "../domain/money";
import { type Order, type OrderEvent, TERMINAL_ORDER_STATUSES } from "../domain/order";
import {
  type AppliedFill,
  applyOrderEvent,
  isTerminal,
  type OrderEventNote,
  type OrderEventRefusal,
} from "../domain/orderStateMachine";
import { type Ok, ok, type Refusal, refuse } from "../domain/outcome";
import {
  applyFillToPosition,
  averageEntryPrice,
  flatPosition,
  marketValue,
  type PositionFillApplied,
  unrealizedPnl,
} from "../domain/position";
import {
  applyTradeFill,
  cancelTrade,
  isEntryRole,
  type TradeFill,
  type TradeRefusal,
} from "../domain/trade";
import { type Database, queryRows } from "./database";
import { type LogEntry, logRows } from "./executionLog";
import type { FillRecord } from "./fills";
import {
  cachedSnapshot,
  forgetSnapshot,
  type OrderSnapshot,
  type OrderStateCache,
  positionKey,
  rememberSnapshot,
} from "./orderStateCache";
import {
  isProtectiveRole,
  type OrderRecord,
  orderColumns,
  orderOfRow,
  orderRecordOfRow,
} from "./orders";
import { type PositionRecord, positionOfRow, positionRecordOfRow } from "./positions";
import { type EventSource, executionLog, fills, orders, positions, trades } from "./schema";
import { type TradeRecord, tradeColumns, tradeOfRow, tradeRecordOfRow } from "./trades";

/** Which order an event is for: ours by id or client order id, or the broker's id. */
export type OrderRef =
  | { readonly orderId: number }
  | { readonly clientOrderId: string }
  | { readonly brokerOrderId: string };

export interface OrderEventContext {
  readonly source: EventSource;
  /**
   * The worker's cache of rows it last read or wrote: the next event of the same order skips the
   * read (every write still checks row versions, so a stale entry only costs a retry).
   */
  readonly cache?: OrderStateCache;
  /** Commission of a fill event (zero when absent). */
  readonly commission?: Decimal;
  /** When we write it (the event carries its own time). */
  readonly recordedAt: Date;
}

/** What applying an event stored. */
export interface OrderUpdate {
  /** The order after the event. */
  readonly record: OrderRecord;
  /** False for a duplicate execution or a repeated status: nothing was written. */
  readonly changed: boolean;
  readonly note: OrderEventNote;
  /** The fill stored by this event, if it was one. */
  readonly fill: FillRecord | null;
  /** The position after a fill (null when it went flat, or when the event was no fill). */
  readonly position: PositionRecord | null;
  /** True when this fill brought the position flat (its row was removed). */
  readonly positionClosed: boolean;
  /** The trade after the event, when the event changed it. */
  readonly trade: TradeRecord | null;
  /** Set when the trade journal refused the fill (recorded and flagged in the log). */
  readonly tradeRefusal: TradeRefusal | null;
}

export type OrderUpdateOutcome = Ok<OrderUpdate> | Refusal<"UNKNOWN_ORDER"> | OrderEventRefusal;

function refCondition(ref: OrderRef): SQL {
  if ("orderId" in ref) return eq(orders.id, ref.orderId);
  if ("clientOrderId" in ref) return eq(orders.clientOrderId, ref.clientOrderId);
  return eq(orders.brokerOrderId, ref.brokerOrderId);
}

function refText(ref: OrderRef): string {
  if ("orderId" in ref) return `order ${ref.orderId}`;
  if ("clientOrderId" in ref) return `client order id ${ref.clientOrderId}`;
  return `broker order id ${ref.brokerOrderId}`;
}

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

/**
 * Whether a failed write lost a race and should run again on fresh rows: a row it writes changed
 * after it was read (serialization failure from `require_written`), or a position or fill it
 * inserts was inserted by someone else first (unique violation).
 */
function lostRace(error: unknown): "retry" | "retry-once" | null {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const fields = current as { code?: unknown; constraint?: unknown; constraint_name?: unknown };
    if (fields.code === "40001") return "retry";
    if (fields.code === "23505") {
      const constraint = fields.constraint_name ?? fields.constraint;
      if (constraint === "positions_account_symbol") return "retry";
      // Once: the fresh read shows the execution as a duplicate; if not, it is another order's.
      if (constraint === "fills_execution_id_unique") return "retry-once";
    }
  }
  return null;
}

/** Whether a handle is a transaction (where a failed statement would abort the caller's work). */
function isTransaction(db: Database): boolean {
  return db instanceof PgTransaction;
}

/** The row version of the row a statement wrote. */
const rowVersion = sql<string>`xmin::text`.as("version");

/** SQL that aborts the statement with a serialization failure unless `written` equals `expected`. */
function requireWritten(written: SQL, expected: number, what: string): SQL {
  return sql`require_written(${written}, ${expected}, ${what})`;
}

/** Enough for every concurrent writer of one symbol to get its turn: each round, one wins. */
const MAX_ATTEMPTS = 50;

/**
 * Applies one broker event (or our own denial) to an order, atomically, in two statements:
 *
 * 1. Read the order with the account's position in its symbol and the order's trade, and the
 *    row version (`xmin`) of each.
 * 2. Ask the domain: the order state machine folds the event (a duplicate execution or a repeated
 *    status writes nothing; a refused event is logged as `EVENT_REFUSED` and nothing else
 *    changes); a fill then goes through the position math and the trade journal.
 * 3. Write order, fill, position, trade and execution log in ONE statement (one implicit
 *    transaction, so all of it or none). Each row is written only if it is still the version
 *    read, and a new position or fill is a plain insert: if another worker changed or inserted
 *    any of them first, the statement fails as a whole and everything is run again on fresh rows.
 *
 * Concurrent calls with the same fill: one writes; the others find the order changed, read it
 * again, see the execution among the order's applied ones and write nothing. The unique execution
 * id is the last guard. Called inside a transaction, each attempt runs in a savepoint.
 */
export async function applyOrderUpdate(
  db: Database,
  ref: OrderRef,
  event: OrderEvent,
  context: OrderEventContext,
): Promise<OrderUpdateOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      // The cache serves the first attempt only; after a lost race, read fresh rows. Inside a
      // caller's transaction each attempt gets a savepoint, so a lost race undoes only itself.
      const useCache = attempt === 1;
      const outcome = isTransaction(db)
        ? await db.transaction((savepoint) =>
            applyOrderUpdateOnce(savepoint, ref, event, context, useCache),
          )
        : await applyOrderUpdateOnce(db, ref, event, context, useCache);
      if (outcome !== "STALE") return outcome;
    } catch (error) {
      const race = lostRace(error);
      if (race === null || attempt >= (race === "retry-once" ? 2 : MAX_ATTEMPTS)) throw error;
    }
  }
}

/** Reads an order with its position and trade and the row version of each; null if no such order. */
async function readSnapshot(db: Database, ref: OrderRef): Promise<OrderSnapshot | null> {
  const [read] = await db
    .select({
      order: orders,
      orderVersion: sql<string>`${orders}.xmin::text`,
      position: positions,
      positionVersion: sql<string | null>`${positions}.xmin::text`,
      trade: trades,
      tradeVersion: sql<string | null>`${trades}.xmin::text`,
    })
    .from(orders)
    .leftJoin(
      positions,
      and(eq(positions.accountId, orders.accountId), eq(positions.symbol, orders.symbol)),
    )
    .leftJoin(trades, eq(trades.id, orders.tradeId))
    .where(refCondition(ref));
  if (!read) return null;
  return {
    order: { row: read.order, version: read.orderVersion },
    position:
      read.position && read.positionVersion !== null
        ? { row: read.position, version: read.positionVersion }
        : null,
    trade:
      read.trade && read.tradeVersion !== null
        ? { row: read.trade, version: read.tradeVersion }
        : null,
  };
}

/**
 * One attempt. "STALE" asks for another attempt on fresh rows: a cached snapshot said the event
 * changes nothing, which only a fresh read may conclude (except for a duplicate execution, which
 * a stale order already proves).
 */
async function applyOrderUpdateOnce(
  db: Database,
  ref: OrderRef,
  event: OrderEvent,
  context: OrderEventContext,
  useCache: boolean,
): Promise<OrderUpdateOutcome | "STALE"> {
  const cache = context.cache;
  const cached = useCache && cache ? cachedSnapshot(cache, ref) : null;
  const snapshot = cached ?? (await readSnapshot(db, ref));
  if (!snapshot) return refuse("UNKNOWN_ORDER", `no order with ${refText(ref)}`);
  if (cache && !cached) rememberSnapshot(cache, snapshot.order, snapshot.position, snapshot.trade);
  try {
    return await applyToSnapshot(db, snapshot, cached !== null, event, context);
  } catch (error) {
    if (cache) forgetSnapshot(cache, snapshot);
    throw error;
  }
}

async function applyToSnapshot(
  db: Database,
  snapshot: OrderSnapshot,
  fromCache: boolean,
  event: OrderEvent,
  context: OrderEventContext,
): Promise<OrderUpdateOutcome | "STALE"> {
  const tx = db;
  const locked = {
    orderVersion: snapshot.order.version,
    position: snapshot.position?.row ?? null,
    positionVersion: snapshot.position?.version ?? null,
    trade: snapshot.trade?.row ?? null,
    tradeVersion: snapshot.trade?.version ?? null,
  };
  const row = snapshot.order.row;
  const before = orderOfRow(row);
  const eventAt = new Date(event.at);
  const logContext = {
    source: context.source,
    accountId: row.accountId,
    tradeId: row.tradeId,
    orderId: row.id,
    occurredAt: eventAt,
  };

  const orderUnchanged = sql`${orders}.xmin::text = ${locked.orderVersion}`;

  const outcome = applyOrderEvent(before, event);
  if (!outcome.ok) {
    // Flag it only if the order is still as judged; if it moved meanwhile, judge again.
    const refusal = logRows([
      {
        ...logContext,
        entity: "order",
        entityId: row.id,
        event: "EVENT_REFUSED",
        statusBefore: row.status,
        statusAfter: row.status,
        details: { code: outcome.code, message: outcome.message, to: outcome.to, received: event },
      },
    ]);
    await queryRows(
      tx,
      sql`with o as (${tx
        .select({ id: orders.id })
        .from(orders)
        .where(and(eq(orders.id, row.id), orderUnchanged))
        .for("update")}), l as ${tx.insert(executionLog).values(refusal)} select ${requireWritten(
        sql`(select count(*) from o)`,
        1,
        "order",
      )} as checked`,
    );
    return outcome;
  }
  const applied = outcome.value;
  if (!applied.changed && fromCache && applied.note !== "DUPLICATE_EXECUTION") return "STALE";
  if (!applied.changed) {
    return ok({
      record: orderRecordOfRow(row),
      changed: false,
      note: applied.note,
      fill: null,
      position: null,
      positionClosed: false,
      trade: null,
      tradeRefusal: null,
    });
  }

  const currentPosition = locked.position;
  const tradeRow = locked.trade;
  const positionUnchanged = sql`${positions}.xmin::text = ${locked.positionVersion}`;
  const tradeUnchanged = sql`${trades}.xmin::text = ${locked.tradeVersion}`;
  // Each conditional write reports its row, so a write that found the row changed is seen.
  let positionWriteExpected = false;
  let tradeWriteExpected = false;

  const after = applied.order;
  const commission = applied.fill ? (context.commission ?? null) : null;
  const leavesProtection =
    isProtectiveRole(row.role) && !isTerminal(row.status) && isTerminal(after.status);
  const writes: SQL[] = [];
  const logs: LogEntry[] = [
    {
      ...logContext,
      entity: "order",
      entityId: row.id,
      event: event.event.toUpperCase(),
      statusBefore: row.status,
      statusAfter: after.status,
      details: {
        note: applied.note,
        received: event,
        filledQuantity: after.filledQuantity,
        averageFillPrice: after.averageFillPrice,
        ...(commission ? { commission } : {}),
      },
    },
  ];

  const orderSet = {
    ...orderColumns(after),
    ...statusTimes(row, after, eventAt),
    commission: commission ? row.commission.plus(commission) : row.commission,
    actualSlippage: actualSlippage(row.side, row.expectedPrice, after.averageFillPrice),
    updatedAt: context.recordedAt,
  };
  writes.push(
    sql`o as ${tx
      .update(orders)
      .set({ ...changedFields(row, orderSet), updatedAt: context.recordedAt })
      .where(and(eq(orders.id, row.id), orderUnchanged))
      .returning({ id: orders.id, version: rowVersion })}`,
  );
  const orderAfter: OrderRow = { ...row, ...orderSet };

  let fillValues: Omit<FillRecord, "id"> | null = null;
  let positionAfter: Omit<PositionRow, "id" | "protectiveOrderIds"> | null = null;
  let positionId: number | null = currentPosition?.id ?? null;
  let positionClosed = false;
  let positionCte = false;
  let tradeAfter: TradeRow | null = null;
  let tradeRefusal: TradeRefusal | null = null;

  if (applied.fill) {
    const fill = applied.fill;
    fillValues = {
      orderId: row.id,
      accountId: row.accountId,
      executionId: fill.executionId,
      symbol: row.symbol,
      side: row.side,
      quantity: fill.quantity,
      price: fill.price,
      commission: commission ?? ZERO,
      cumulativeQuantity: after.filledQuantity,
      orderAvgPrice: after.averageFillPrice ?? fill.price,
      source: context.source,
      filledAt: new Date(fill.at),
      recordedAt: context.recordedAt,
    };
    writes.push(sql`f as ${tx.insert(fills).values(fillValues).returning({ id: fills.id })}`);

    const moved = applyFillToPosition(
      currentPosition ? positionOfRow(currentPosition) : flatPosition(row.symbol),
      {
        side: row.side,
        quantity: fill.quantity,
        price: fill.price,
        ...(commission ? { commission } : {}),
      },
    );
    // The state machine already refused invalid fills, so a refusal here is a bug.
    if (!moved.ok) throw new Error(`position refused a fill the order accepted: ${moved.message}`);
    const position = moved.value.position;
    logs.push({
      ...logContext,
      entity: "position",
      entityId: `${row.accountId}:${row.symbol}`,
      event: positionEvent(currentPosition !== null, moved.value),
      statusBefore: currentPosition ? currentPosition.quantity.toFixed() : "0",
      statusAfter: position.quantity.toFixed(),
      details: {
        executionId: fill.executionId,
        realizedPnl: moved.value.realizedPnl,
        costBasis: position.costBasis,
        averageCost: averageEntryPrice(position),
      },
    });
    if (position.quantity.isZero()) {
      positionClosed = true;
      positionId = null;
      if (currentPosition) {
        positionWriteExpected = true;
        positionCte = true;
        writes.push(
          sql`p as ${tx
            .delete(positions)
            .where(and(eq(positions.id, currentPosition.id), positionUnchanged))
            .returning({
              id: positions.id,
              protectiveOrderIds: positions.protectiveOrderIds,
              version: rowVersion,
            })}`,
        );
      }
    } else {
      const figures = {
        quantity: position.quantity,
        costBasis: position.costBasis,
        averageCost: averageEntryPrice(position) ?? fill.price,
        realizedPnl: position.realizedPnl,
        commissions: position.commissions,
        updatedAt: context.recordedAt,
      };
      if (currentPosition) {
        const valuation = currentPosition.markPrice
          ? {
              marketValue: marketValue(position, currentPosition.markPrice),
              unrealizedPnl: unrealizedPnl(position, currentPosition.markPrice),
            }
          : {};
        const tradeId = currentPosition.tradeId ?? row.tradeId;
        positionAfter = { ...currentPosition, ...figures, ...valuation, tradeId };
        positionWriteExpected = true;
        positionCte = true;
        writes.push(
          sql`p as ${tx
            .update(positions)
            .set({
              ...figures,
              ...valuation,
              tradeId,
              ...(leavesProtection
                ? {
                    protectiveOrderIds: sql`array_remove(${positions.protectiveOrderIds}, ${row.id}::bigint)`,
                  }
                : {}),
            })
            .where(and(eq(positions.id, currentPosition.id), positionUnchanged))
            .returning({
              id: positions.id,
              protectiveOrderIds: positions.protectiveOrderIds,
              version: rowVersion,
            })}`,
        );
      } else {
        const opened = {
          ...figures,
          accountId: row.accountId,
          tradeId: row.tradeId,
          symbol: row.symbol,
          openedAt: new Date(fill.at),
        };
        positionAfter = {
          ...opened,
          markPrice: null,
          marketValue: null,
          unrealizedPnl: null,
          markedAt: null,
        };
        positionWriteExpected = true;
        positionCte = true;
        writes.push(
          sql`p as ${tx
            .insert(positions)
            .values({
              ...opened,
              protectiveOrderIds: liveProtectiveOrderIds(
                row.accountId,
                row.symbol,
                isTerminal(after.status) ? row.id : null,
              ),
            })
            .returning({
              id: positions.id,
              protectiveOrderIds: positions.protectiveOrderIds,
              version: rowVersion,
            })}`,
        );
      }
    }

    if (tradeRow) {
      const trade = tradeOfRow(tradeRow);
      const journal = applyTradeFill(
        trade,
        tradeFillOf(row.role, row.exitReason, row.side, fill, commission),
      );
      if (journal.ok) {
        const next = journal.value.trade;
        const tradeSet = { ...tradeColumns(next), updatedAt: context.recordedAt };
        tradeAfter = { ...tradeRow, ...tradeSet };
        tradeWriteExpected = true;
        writes.push(
          sql`t as ${tx
            .update(trades)
            .set({ ...changedFields(tradeRow, tradeSet), updatedAt: context.recordedAt })
            .where(and(eq(trades.id, tradeRow.id), tradeUnchanged))
            .returning({ id: trades.id, version: rowVersion })}`,
        );
        logs.push({
          ...logContext,
          entity: "trade",
          entityId: tradeRow.id,
          event: journal.value.closed ? "CLOSED" : journal.value.opened ? "OPENED" : "FILL_APPLIED",
          statusBefore: trade.status,
          statusAfter: next.status,
          details: {
            executionId: fill.executionId,
            role: row.role,
            realizedPnl: journal.value.realizedPnl,
            totalRealizedPnl: next.realizedPnl,
            rMultiple: next.rMultiple,
            exitReason: next.exitReason,
            openQuantity: next.quantity,
          },
        });
      } else {
        tradeRefusal = journal;
        logs.push({
          ...logContext,
          entity: "trade",
          entityId: tradeRow.id,
          event: "FILL_REFUSED",
          statusBefore: trade.status,
          statusAfter: trade.status,
          details: {
            code: journal.code,
            message: journal.message,
            executionId: fill.executionId,
          },
        });
      }
    }
  } else {
    if (leavesProtection && currentPosition) {
      positionCte = true;
      writes.push(
        sql`p as ${tx
          .update(positions)
          .set({
            protectiveOrderIds: sql`array_remove(${positions.protectiveOrderIds}, ${row.id}::bigint)`,
          })
          .where(eq(positions.id, currentPosition.id))
          .returning({
            id: positions.id,
            protectiveOrderIds: positions.protectiveOrderIds,
            version: rowVersion,
          })}`,
      );
    }
    if (
      tradeRow &&
      tradeRow.status === "ORDERED" &&
      isEntryRole(row.role) &&
      isTerminal(after.status) &&
      after.filledQuantity.isZero() &&
      !(await hasOtherLiveEntry(tx, tradeRow.id, row.id))
    ) {
      const cancelled = cancelTrade(tradeOfRow(tradeRow), event.at);
      if (cancelled.ok && cancelled.value.changed) {
        const tradeSet = {
          ...tradeColumns(cancelled.value.trade),
          updatedAt: context.recordedAt,
        };
        tradeAfter = { ...tradeRow, ...tradeSet };
        tradeWriteExpected = true;
        writes.push(
          sql`t as ${tx
            .update(trades)
            .set({ ...changedFields(tradeRow, tradeSet), updatedAt: context.recordedAt })
            .where(and(eq(trades.id, tradeRow.id), tradeUnchanged))
            .returning({ id: trades.id, version: rowVersion })}`,
        );
        logs.push({
          ...logContext,
          entity: "trade",
          entityId: tradeRow.id,
          event: "CANCELLED",
          statusBefore: tradeRow.status,
          statusAfter: cancelled.value.trade.status,
          details: { entryStatus: after.status },
        });
      }
    }
  }

  writes.push(sql`l as ${tx.insert(executionLog).values(logRows(logs))}`);
  const returnsPosition = positionAfter !== null;
  const [written] = await queryRows<{
    fill_id: string | null;
    position_id: string | null;
    protective_ids: string | null;
    o_version: string | null;
    p_version: string | null;
    t_version: string | null;
  }>(
    tx,
    sql`with ${sql.join(writes, sql`, `)} select ${
      fillValues ? sql`(select id::text from f)` : sql`null`
    } as fill_id, ${returnsPosition ? sql`(select id::text from p)` : sql`null`} as position_id, ${
      returnsPosition ? sql`(select array_to_json(protective_order_ids)::text from p)` : sql`null`
    } as protective_ids, ${requireWritten(sql`(select count(*) from o)`, 1, "order")} as o_ok, ${
      positionWriteExpected ? requireWritten(sql`(select count(*) from p)`, 1, "position") : sql`1`
    } as p_ok, ${
      tradeWriteExpected ? requireWritten(sql`(select count(*) from t)`, 1, "trade") : sql`1`
    } as t_ok, (select version from o) as o_version, ${
      positionCte ? sql`(select version from p)` : sql`null`
    } as p_version, ${tradeWriteExpected ? sql`(select version from t)` : sql`null`} as t_version`,
  );

  let fillRecord: FillRecord | null = null;
  if (fillValues) {
    // The order had not seen this execution, yet another order has: refuse to double count.
    if (!written?.fill_id) {
      throw new Error(`execution ${fillValues.executionId} belongs to another order`);
    }
    fillRecord = { ...fillValues, id: Number(written.fill_id) };
  }
  if (returnsPosition && written?.position_id) positionId = Number(written.position_id);
  const positionRecord =
    positionAfter && positionId !== null
      ? positionRecordOfRow({
          ...positionAfter,
          id: positionId,
          protectiveOrderIds: JSON.parse(written?.protective_ids ?? "[]") as number[],
        })
      : null;
  if (context.cache) {
    const cachedPosition =
      positionClosed || (!positionCte && snapshot.position === null)
        ? null
        : positionAfter && positionId !== null && written?.p_version
          ? {
              row: {
                ...positionAfter,
                id: positionId,
                protectiveOrderIds: positionRecord?.protectiveOrderIds.slice() ?? [],
              },
              version: written.p_version,
            }
          : positionCte
            ? undefined
            : snapshot.position;
    if (cachedPosition === undefined) {
      context.cache.positions.delete(positionKey(row.accountId, row.symbol));
    }
    rememberSnapshot(
      context.cache,
      { row: orderAfter, version: written?.o_version ?? "" },
      cachedPosition,
      tradeAfter && written?.t_version
        ? { row: tradeAfter, version: written.t_version }
        : snapshot.trade,
    );
  }
  return ok({
    record: orderRecordOfRow(orderAfter),
    changed: true,
    note: applied.note,
    fill: fillRecord,
    position: positionRecord,
    positionClosed,
    trade: tradeAfter ? tradeRecordOfRow(tradeAfter) : null,
    tradeRefusal,
  });
}

/**
 * Applies one execution reported for an order (a convenience over `applyOrderUpdate`): the same
 * execution id applied any number of times, concurrently or not, is stored once.
 */
export async function applyFill(
  db: Database,
  ref: OrderRef,
  fill: {
    readonly executionId: string;
    readonly quantity: Decimal;
    readonly price: Decimal;
    readonly at: Date;
    readonly commission?: Decimal;
    readonly brokerOrderId?: string;
    /** True when this fill completes the order (the broker's `fill` rather than `partial_fill`). */
    readonly final?: boolean;
  },
  source: EventSource,
  recordedAt: Date,
): Promise<OrderUpdateOutcome> {
  return applyOrderUpdate(
    db,
    ref,
    {
      event: fill.final ? "fill" : "partial_fill",
      executionId: fill.executionId,
      quantity: fill.quantity,
      price: fill.price,
      at: fill.at.toISOString(),
      ...(fill.brokerOrderId !== undefined ? { brokerOrderId: fill.brokerOrderId } : {}),
    },
    { source, recordedAt, ...(fill.commission ? { commission: fill.commission } : {}) },
  );
}

function positionEvent(existed: boolean, moved: PositionFillApplied): string {
  if (!existed) return "OPENED";
  if (moved.position.quantity.isZero()) return "CLOSED";
  if (moved.flipped) return "FLIPPED";
  return moved.closedQuantity.isZero() ? "INCREASED" : "REDUCED";
}

function tradeFillOf(
  role: Order["role"],
  exitReason: TradeFill["exitReason"] | null,
  side: Order["side"],
  fill: AppliedFill,
  commission: Decimal | null,
): TradeFill {
  const base = {
    side,
    quantity: fill.quantity,
    price: fill.price,
    at: fill.at,
    ...(commission ? { commission } : {}),
  };
  // An EXIT order without a recorded reason is a manual close.
  if (role === "EXIT") return { ...base, role, exitReason: exitReason ?? "MANUAL_EXIT" };
  return { ...base, role };
}

/**
 * Stops and targets of an account's symbol that can still fill: a new position's protection.
 * `except` leaves out the order being applied when this event ends it (the statement that
 * writes its new status runs beside this one and is not visible to it).
 */
function liveProtectiveOrderIds(accountId: number, symbol: string, except: number | null): SQL {
  const live = and(
    eq(orders.accountId, accountId),
    eq(orders.symbol, symbol),
    inArray(orders.role, ["STOP_LOSS", "TAKE_PROFIT"]),
    notInArray(orders.status, [...TERMINAL_ORDER_STATUSES]),
    except === null ? undefined : ne(orders.id, except),
  );
  return sql`coalesce((select array_agg(${orders.id} order by ${orders.id}) from ${orders} where ${live}), '{}'::bigint[])`;
}

/** Whether the trade has another entry order that may still fill or has filled. */
async function hasOtherLiveEntry(db: Database, tradeId: number, orderId: number): Promise<boolean> {
  const rows = await db
    .select({ id: orders.id })
    .from(orders)
    .where(
      and(
        eq(orders.tradeId, tradeId),
        ne(orders.id, orderId),
        inArray(orders.role, ["ENTRY", "SLICE"]),
        or(
          notInArray(orders.status, [...TERMINAL_ORDER_STATUSES]),
          gt(orders.filledQuantity, sql`0`),
        ),
      ),
    )
    .limit(1);
  return rows.length > 0;
}

/** The fields of `next` whose values differ from `row`'s, so an update sends only what changed. */
function changedFields<T extends object>(row: T, next: Partial<T>): Partial<T> {
  const changed: Partial<T> = {};
  for (const key of Object.keys(next) as (keyof T)[]) {
    if (!sameValue(row[key], next[key])) changed[key] = next[key];
  }
  return changed;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && "eq" in a && "eq" in b) {
    // Decimals: equal values, whatever their scale.
    return (a as Decimal).eq(b as Decimal);
  }
  return false;
}

/** When the order reached its new status, for the audit columns. */
function statusTimes(row: typeof orders.$inferSelect, after: Order, at: Date) {
  const times: Partial<
    Record<
      "submittedAt" | "acceptedAt" | "filledAt" | "canceledAt" | "expiredAt" | "rejectedAt",
      Date
    >
  > = {};
  if (after.brokerOrderId !== null && row.brokerOrderId === null && row.submittedAt === null) {
    times.submittedAt = at;
  }
  if (after.status === row.status) return times;
  if ((after.status === "accepted" || after.status === "new") && row.acceptedAt === null) {
    times.acceptedAt = at;
  }
  if (after.status === "filled") times.filledAt = at;
  if (after.status === "canceled") times.canceledAt = at;
  if (after.status === "expired") times.expiredAt = at;
  if (after.status === "rejected") times.rejectedAt = at;
  return times;
}

/**
 * Slippage per share against the price the order expected, positive when the fill was worse:
 * paid more on a buy, received less on a sell. Null without an expectation or a fill.
 */
function actualSlippage(
  side: Order["side"],
  expected: Decimal | null,
  average: Decimal | null,
): Decimal | null {
  if (expected === null || average === null) return null;
  return side === "buy" ? average.minus(expected) : expected.minus(average);
}
