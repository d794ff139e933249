import { and, eq, gt, inArray, ne, notInArray, or, type SQL, sql } from "drizzle-orm";
import type { Decimal } from "../domain/money";
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
import type { Database } from "./database";
import { appendLog, type LogEntry } from "./executionLog";
import type { FillRecord } from "./fills";
import {
  isProtectiveRole,
  type OrderRecord,
  orderColumns,
  orderOfRow,
  orderRecordOfRow,
} from "./orders";
import { type PositionRecord, positionOfRow, positionRecordOfRow } from "./positions";
import { type EventSource, fills, orders, positions, trades } from "./schema";
import { type TradeRecord, tradeColumns, tradeOfRow, tradeRecordOfRow } from "./trades";

/** Which order an event is for: ours by id or client order id, or the broker's id. */
export type OrderRef =
  | { readonly orderId: number }
  | { readonly clientOrderId: string }
  | { readonly brokerOrderId: string };

export interface OrderEventContext {
  readonly source: EventSource;
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

/** Starts a drizzle query now (they are lazy) so several go out together on one connection. */
function start<T>(query: PromiseLike<T>): Promise<T> {
  return Promise.resolve(query);
}

/** Waits for every write; if any failed, throws its error so the transaction rolls back. */
async function settle(writes: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(writes);
  for (const result of results) if (result.status === "rejected") throw result.reason;
}

/**
 * Applies one broker event (or our own denial) to an order, in one transaction:
 *
 * 1. Lock the order row; for a fill also the account's symbol (an advisory lock, so a position
 *    that does not exist yet cannot be created twice) and the position row; and the trade row.
 * 2. Ask the domain: the order state machine folds the event (a duplicate execution or a repeated
 *    status changes nothing and writes nothing; a refused event is logged as `EVENT_REFUSED` and
 *    nothing else changes); a fill then goes through the position math and the trade journal.
 * 3. Write order, fill, position, trade and execution log together.
 *
 * Concurrent calls with the same fill: the second waits for the first's order lock, then sees the
 * execution among the order's applied ones and writes nothing; the unique execution id is the
 * last guard. Locks are always taken in this order (order, symbol, position, trade).
 */
export async function applyOrderUpdate(
  db: Database,
  ref: OrderRef,
  event: OrderEvent,
  context: OrderEventContext,
): Promise<OrderUpdateOutcome> {
  const isFill = event.event === "fill" || event.event === "partial_fill";
  return db.transaction(async (tx) => {
    const where = refCondition(ref);
    const [orderRows, , positionRows, tradeRows] = await Promise.all([
      tx.select().from(orders).where(where).for("update"),
      isFill
        ? tx.execute(
            sql`select pg_advisory_xact_lock(hashtextextended(${orders.accountId}::text || ':' || ${orders.symbol}, 0)) from ${orders} where ${where}`,
          )
        : null,
      isFill
        ? tx
            .select()
            .from(positions)
            .where(
              sql`(${positions.accountId}, ${positions.symbol}) = (select ${orders.accountId}, ${orders.symbol} from ${orders} where ${where})`,
            )
            .for("update")
        : [],
      tx
        .select()
        .from(trades)
        .where(sql`${trades.id} = (select ${orders.tradeId} from ${orders} where ${where})`)
        .for("update"),
    ]);
    const row = orderRows[0];
    if (!row) return refuse("UNKNOWN_ORDER", `no order with ${refText(ref)}`);
    const before = orderOfRow(row);
    const eventAt = new Date(event.at);
    const logContext = {
      source: context.source,
      accountId: row.accountId,
      tradeId: row.tradeId,
      orderId: row.id,
      occurredAt: eventAt,
    };

    const outcome = applyOrderEvent(before, event);
    if (!outcome.ok) {
      await appendLog(tx, {
        ...logContext,
        entity: "order",
        entityId: row.id,
        event: "EVENT_REFUSED",
        statusBefore: row.status,
        statusAfter: row.status,
        details: { code: outcome.code, message: outcome.message, to: outcome.to, received: event },
      });
      return outcome;
    }
    const applied = outcome.value;
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

    const after = applied.order;
    const commission = applied.fill ? (context.commission ?? null) : null;
    const leavesProtection =
      isProtectiveRole(row.role) && !isTerminal(row.status) && isTerminal(after.status);
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

    const orderWrite = start(
      tx
        .update(orders)
        .set({
          ...orderColumns(after),
          ...statusTimes(row, after, eventAt),
          ...(commission ? { commission: row.commission.plus(commission) } : {}),
          actualSlippage: actualSlippage(row.side, row.expectedPrice, after.averageFillPrice),
          updatedAt: context.recordedAt,
        })
        .where(eq(orders.id, row.id))
        .returning(),
    );
    const writes: Promise<unknown>[] = [orderWrite];

    let fillWrite: Promise<FillRecord[]> | null = null;
    let positionWrite: Promise<(typeof positions.$inferSelect)[]> | null = null;
    let positionClosed = false;
    let tradeWrite: Promise<(typeof trades.$inferSelect)[]> | null = null;
    let tradeRefusal: TradeRefusal | null = null;
    const tradeRow = tradeRows[0];

    if (applied.fill) {
      const fill = applied.fill;
      fillWrite = start(
        tx
          .insert(fills)
          .values({
            orderId: row.id,
            accountId: row.accountId,
            executionId: fill.executionId,
            symbol: row.symbol,
            side: row.side,
            quantity: fill.quantity,
            price: fill.price,
            commission: commission ?? undefined,
            cumulativeQuantity: after.filledQuantity,
            orderAvgPrice: after.averageFillPrice ?? fill.price,
            source: context.source,
            filledAt: new Date(fill.at),
            recordedAt: context.recordedAt,
          })
          .onConflictDoNothing({ target: fills.executionId })
          .returning(),
      );
      writes.push(fillWrite);

      const current = positionRows[0];
      const moved = applyFillToPosition(
        current ? positionOfRow(current) : flatPosition(row.symbol),
        {
          side: row.side,
          quantity: fill.quantity,
          price: fill.price,
          ...(commission ? { commission } : {}),
        },
      );
      // The state machine already refused invalid fills, so a refusal here is a bug.
      if (!moved.ok)
        throw new Error(`position refused a fill the order accepted: ${moved.message}`);
      const position = moved.value.position;
      const positionKey = `${row.accountId}:${row.symbol}`;
      logs.push({
        ...logContext,
        entity: "position",
        entityId: positionKey,
        event: positionEvent(current !== undefined, moved.value),
        statusBefore: current ? current.quantity.toFixed() : "0",
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
        if (current) writes.push(start(tx.delete(positions).where(eq(positions.id, current.id))));
      } else {
        const figures = {
          quantity: position.quantity,
          costBasis: position.costBasis,
          averageCost: averageEntryPrice(position) ?? fill.price,
          realizedPnl: position.realizedPnl,
          commissions: position.commissions,
          updatedAt: context.recordedAt,
        };
        if (current) {
          positionWrite = start(
            tx
              .update(positions)
              .set({
                ...figures,
                tradeId: current.tradeId ?? row.tradeId,
                ...(current.markPrice
                  ? {
                      marketValue: marketValue(position, current.markPrice),
                      unrealizedPnl: unrealizedPnl(position, current.markPrice),
                    }
                  : {}),
                ...(leavesProtection
                  ? {
                      protectiveOrderIds: sql`array_remove(${positions.protectiveOrderIds}, ${row.id}::bigint)`,
                    }
                  : {}),
              })
              .where(eq(positions.id, current.id))
              .returning(),
          );
        } else {
          positionWrite = start(
            tx
              .insert(positions)
              .values({
                ...figures,
                accountId: row.accountId,
                tradeId: row.tradeId,
                symbol: row.symbol,
                protectiveOrderIds: liveProtectiveOrderIds(row.accountId, row.symbol),
                openedAt: new Date(fill.at),
              })
              .returning(),
          );
        }
        writes.push(positionWrite);
      }

      if (tradeRow) {
        const trade = tradeOfRow(tradeRow);
        const tradeFill = tradeFillOf(row.role, row.exitReason, row.side, fill, commission);
        const journal = applyTradeFill(trade, tradeFill);
        if (journal.ok) {
          const next = journal.value.trade;
          tradeWrite = start(
            tx
              .update(trades)
              .set({ ...tradeColumns(next), updatedAt: context.recordedAt })
              .where(eq(trades.id, tradeRow.id))
              .returning(),
          );
          writes.push(tradeWrite);
          logs.push({
            ...logContext,
            entity: "trade",
            entityId: tradeRow.id,
            event: journal.value.closed
              ? "CLOSED"
              : journal.value.opened
                ? "OPENED"
                : "FILL_APPLIED",
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
      if (leavesProtection) {
        writes.push(
          start(
            tx
              .update(positions)
              .set({
                protectiveOrderIds: sql`array_remove(${positions.protectiveOrderIds}, ${row.id}::bigint)`,
              })
              .where(and(eq(positions.accountId, row.accountId), eq(positions.symbol, row.symbol))),
          ),
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
          tradeWrite = start(
            tx
              .update(trades)
              .set({ ...tradeColumns(cancelled.value.trade), updatedAt: context.recordedAt })
              .where(eq(trades.id, tradeRow.id))
              .returning(),
          );
          writes.push(tradeWrite);
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

    writes.push(appendLog(tx, logs));
    await settle(writes);

    const [orderAfter] = await orderWrite;
    if (!orderAfter) throw new Error(`order ${row.id} vanished under its lock`);
    let fillRecord: FillRecord | null = null;
    if (fillWrite) {
      const [stored] = await fillWrite;
      // The order had not seen this execution, yet another order has: refuse to double count.
      if (!stored)
        throw new Error(`execution ${applied.fill?.executionId} belongs to another order`);
      fillRecord = stored;
    }
    const positionAfter = positionWrite ? (await positionWrite)[0] : undefined;
    const tradeAfter = tradeWrite ? (await tradeWrite)[0] : undefined;
    return ok({
      record: orderRecordOfRow(orderAfter),
      changed: true,
      note: applied.note,
      fill: fillRecord,
      position: positionAfter ? positionRecordOfRow(positionAfter) : null,
      positionClosed,
      trade: tradeAfter ? tradeRecordOfRow(tradeAfter) : null,
      tradeRefusal,
    });
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

/** Stops and targets of an account's symbol that can still fill: a new position's protection. */
function liveProtectiveOrderIds(accountId: number, symbol: string): SQL<number[]> {
  return sql`coalesce((select array_agg(${orders.id} order by ${orders.id}) from ${orders} where ${orders.accountId} = ${accountId} and ${orders.symbol} = ${symbol} and ${orders.role} in ('STOP_LOSS', 'TAKE_PROFIT') and ${orders.status} not in ${sql.raw(`(${TERMINAL_ORDER_STATUSES.map((s) => `'${s}'`).join(", ")})`)}), '{}'::bigint[])`;
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
