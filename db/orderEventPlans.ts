/**
 * The write plan of one order event: which statements the single write statement of
 * `applyOrderUpdate` holds (fill, position, trade), what they write, and the log entries.
 */
import { and, eq, gt, inArray, ne, notInArray, or, type SQL, sql } from "drizzle-orm";
import { type Decimal, ZERO } from "../domain/money";
import { type Order, type OrderEvent, TERMINAL_ORDER_STATUSES } from "../domain/order";
import { type AppliedFill, isTerminal } from "../domain/orderStateMachine";
import {
  applyFillToPosition,
  averageEntryPrice,
  flatPosition,
  marketValue,
  unrealizedPnl,
} from "../domain/position";
import { applyTradeFill, cancelTrade, isEntryRole, type TradeRefusal } from "../domain/trade";
import type { Database } from "./database";
import type { LogEntry } from "./executionLog";
import type { FillRecord } from "./fills";
import { insertFromJson, updateFromJson } from "./jsonRows";
import { changedFields, rowVersion } from "./optimisticWrites";
import { positionEvent, tradeFillOf } from "./orderEventFields";
import type { OrderEventContext } from "./orderEvents";
import { positionOfRow } from "./positions";
import { fills, orders, positions, trades } from "./schema";
import { tradeColumns, tradeOfRow } from "./trades";

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

/** What the write statement of one event will do, filled in by the planners below. */
export interface WritePlan {
  readonly writes: SQL[];
  readonly logs: LogEntry[];
  fillValues: Omit<FillRecord, "id"> | null;
  positionAfter: Omit<PositionRow, "id" | "protectiveOrderIds"> | null;
  positionId: number | null;
  positionClosed: boolean;
  /** A `p` statement writes the position. */
  positionCte: boolean;
  /** The `p` statement must report its row (it is conditional on the row version). */
  positionWriteExpected: boolean;
  tradeAfter: TradeRow | null;
  /** The `t` statement must report its row (it is conditional on the row version). */
  tradeWriteExpected: boolean;
  tradeRefusal: TradeRefusal | null;
}

export interface PlanArgs {
  readonly row: OrderRow;
  readonly after: Order;
  readonly event: OrderEvent;
  readonly context: OrderEventContext;
  readonly commission: Decimal | null;
  readonly logContext: Omit<LogEntry, "entity" | "entityId" | "event">;
  readonly leavesProtection: boolean;
  readonly currentPosition: PositionRow | null;
  readonly positionUnchanged: SQL;
  readonly tradeRow: TradeRow | null;
  readonly tradeUnchanged: SQL;
}

/** Plans the writes of a fill: the fill row, the position (domain math) and the trade journal. */
export function planFillWrites(
  tx: Database,
  plan: WritePlan,
  args: PlanArgs & { readonly fill: AppliedFill },
): void {
  const { row, after, context, commission, logContext, leavesProtection, fill } = args;
  const { currentPosition, positionUnchanged, tradeRow, tradeUnchanged } = args;
  const fillValues: Omit<FillRecord, "id"> = {
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
  plan.fillValues = fillValues;
  plan.writes.push(sql`f as ${insertFromJson(fills, fillValues, sql`${fills.id}`)}`);

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
  plan.logs.push({
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
    plan.positionClosed = true;
    plan.positionId = null;
    if (currentPosition) {
      plan.positionWriteExpected = true;
      plan.positionCte = true;
      plan.writes.push(
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
      plan.positionAfter = { ...currentPosition, ...figures, ...valuation, tradeId };
      plan.positionWriteExpected = true;
      plan.positionCte = true;
      plan.writes.push(
        sql`p as ${updateFromJson(
          positions,
          {
            ...figures,
            ...valuation,
            tradeId,
            ...(leavesProtection
              ? {
                  protectiveOrderIds: sql`array_remove(${positions.protectiveOrderIds}, ${row.id}::bigint)`,
                }
              : {}),
          },
          and(eq(positions.id, currentPosition.id), positionUnchanged) ?? sql`false`,
          sql`${positions.id}, ${positions.protectiveOrderIds}, ${positions}.xmin::text as version`,
        )}`,
      );
    } else {
      const opened = {
        ...figures,
        accountId: row.accountId,
        tradeId: row.tradeId,
        symbol: row.symbol,
        openedAt: new Date(fill.at),
      };
      plan.positionAfter = {
        ...opened,
        markPrice: null,
        marketValue: null,
        unrealizedPnl: null,
        markedAt: null,
      };
      plan.positionWriteExpected = true;
      plan.positionCte = true;
      plan.writes.push(
        sql`p as ${insertFromJson(
          positions,
          {
            ...opened,
            protectiveOrderIds: liveProtectiveOrderIds(
              row.accountId,
              row.symbol,
              isTerminal(after.status) ? row.id : null,
            ),
          },
          sql`${positions.id}, ${positions.protectiveOrderIds}, ${positions}.xmin::text as version`,
        )}`,
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
      plan.tradeAfter = { ...tradeRow, ...tradeSet };
      plan.tradeWriteExpected = true;
      plan.writes.push(
        sql`t as ${updateFromJson(
          trades,
          { ...changedFields(tradeRow, tradeSet), updatedAt: context.recordedAt },
          and(eq(trades.id, tradeRow.id), tradeUnchanged) ?? sql`false`,
          sql`${trades.id}, ${trades}.xmin::text as version`,
        )}`,
      );
      plan.logs.push({
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
      plan.tradeRefusal = journal;
      plan.logs.push({
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
}

/**
 * Plans the writes of an event without a fill: an ended stop or target leaves the position's
 * protection; an entry that ended unfilled cancels its trade when no other entry can still fill.
 */
export async function planStatusWrites(
  tx: Database,
  plan: WritePlan,
  args: PlanArgs,
): Promise<void> {
  const { row, after, event, context, logContext, leavesProtection } = args;
  const { currentPosition, tradeRow, tradeUnchanged } = args;
  if (leavesProtection && currentPosition) {
    plan.positionCte = true;
    plan.writes.push(
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
      plan.tradeAfter = { ...tradeRow, ...tradeSet };
      plan.tradeWriteExpected = true;
      plan.writes.push(
        sql`t as ${updateFromJson(
          trades,
          { ...changedFields(tradeRow, tradeSet), updatedAt: context.recordedAt },
          and(eq(trades.id, tradeRow.id), tradeUnchanged) ?? sql`false`,
          sql`${trades.id}, ${trades}.xmin::text as version`,
        )}`,
      );
      plan.logs.push({
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
