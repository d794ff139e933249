/**
 * The write plan of one order event: which statements the single write statement of
 * `applyOrderUpdate` holds (fill, position, trade), what they write, and the log entries. Each
 * part is a shape (its key) built from placeholders, and the values it needs: a statement is
 * built once per shape and then only its values are sent.
 */
import { and, eq, gt, inArray, ne, notInArray, or, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
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
import { insertFromJson, jsonRow, updateFromJson } from "./jsonRows";
import { changedFields } from "./optimisticWrites";
import { positionEvent, tradeFillOf } from "./orderEventFields";
import type { OrderEventContext } from "./orderEvents";
import { positionOfRow } from "./positions";
import { fills, orders, positions, trades } from "./schema";
import { tradeColumns, tradeOfRow } from "./trades";

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

/** One statement of the write: the key of its shape and how to build it (once per shape). */
export interface WritePart {
  readonly key: string;
  readonly build: () => SQL;
}

/** What the write statement of one event will do, filled in by the planners below. */
export interface WritePlan {
  readonly parts: WritePart[];
  /** The placeholder values of the parts. */
  readonly values: Record<string, unknown>;
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
  /** The row version of `currentPosition` as read. */
  readonly positionVersion: string | null;
  readonly tradeRow: TradeRow | null;
  /** The row version of `tradeRow` as read. */
  readonly tradeVersion: string | null;
}

const placeholder = sql.placeholder;

/** `table.id = $<p>_id and table.xmin::text = $<p>_version`: the row as read, or nothing. */
function asRead(table: PgTable, p: string): SQL {
  return sql`${table}.id = ${placeholder(`${p}_id`)} and ${table}.xmin::text = ${placeholder(`${p}_version`)}`;
}

/** What a position statement returns: its id, its protective orders and its new row version. */
const positionReturning = sql`${positions.id}, ${positions.protectiveOrderIds}, ${positions}.xmin::text as version`;

/** Leaves the order being applied out of the position's protective orders. */
const withoutThisOrder = [
  "protective_order_ids",
  sql`array_remove(${positions.protectiveOrderIds}, ${placeholder("order_id")}::bigint)`,
] as const;

/** Plans the trade row's update to `tradeSet` (only the fields that changed), as read or nothing. */
function planTradeUpdate(
  plan: WritePlan,
  tradeRow: TradeRow,
  version: string | null,
  tradeSet: Partial<TradeRow>,
): void {
  const written = jsonRow(trades, changedFields(tradeRow, tradeSet));
  plan.values.t_row = written.json;
  plan.values.t_id = tradeRow.id;
  plan.values.t_version = version;
  plan.tradeWriteExpected = true;
  plan.parts.push({
    key: `t:${written.columns.join(",")}`,
    build: () =>
      sql`t as ${updateFromJson(
        trades,
        written.columns,
        placeholder("t_row"),
        asRead(trades, "t"),
        sql`${trades.id}, ${trades}.xmin::text as version`,
      )}`,
  });
}

/** Plans the writes of a fill: the fill row, the position (domain math) and the trade journal. */
export function planFillWrites(
  plan: WritePlan,
  args: PlanArgs & { readonly fill: AppliedFill },
): void {
  const { row, after, context, commission, logContext, leavesProtection, fill } = args;
  const { currentPosition, positionVersion, tradeRow, tradeVersion } = args;
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
  const fillRow = jsonRow(fills, fillValues);
  plan.values.f_row = fillRow.json;
  plan.parts.push({
    key: `f:${fillRow.columns.join(",")}`,
    build: () =>
      sql`f as ${insertFromJson(fills, fillRow.columns, placeholder("f_row"), sql`${fills.id}`)}`,
  });

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
      plan.values.p_id = currentPosition.id;
      plan.values.p_version = positionVersion;
      plan.parts.push({
        key: "p:delete",
        build: () =>
          sql`p as (delete from ${positions} where ${asRead(positions, "p")} returning ${positionReturning})`,
      });
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
      const written = jsonRow(positions, { ...figures, ...valuation, tradeId });
      plan.values.p_row = written.json;
      plan.values.p_id = currentPosition.id;
      plan.values.p_version = positionVersion;
      if (leavesProtection) plan.values.order_id = row.id;
      plan.parts.push({
        key: `p:update:${written.columns.join(",")}:${leavesProtection}`,
        build: () =>
          sql`p as ${updateFromJson(
            positions,
            written.columns,
            placeholder("p_row"),
            asRead(positions, "p"),
            positionReturning,
            leavesProtection ? [withoutThisOrder] : [],
          )}`,
      });
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
      const written = jsonRow(positions, opened);
      // The order being applied is no protection once this event ends it.
      const except = isTerminal(after.status);
      plan.values.p_row = written.json;
      plan.values.account_id = row.accountId;
      plan.values.symbol = row.symbol;
      if (except) plan.values.order_id = row.id;
      plan.parts.push({
        key: `p:insert:${written.columns.join(",")}:${except}`,
        build: () =>
          sql`p as ${insertFromJson(
            positions,
            written.columns,
            placeholder("p_row"),
            positionReturning,
            [["protective_order_ids", liveProtectiveOrderIds(except)]],
          )}`,
      });
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
      planTradeUpdate(plan, tradeRow, tradeVersion, tradeSet);
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
  const { currentPosition, tradeRow, tradeVersion } = args;
  if (leavesProtection && currentPosition) {
    plan.positionCte = true;
    plan.values.p_id = currentPosition.id;
    plan.values.order_id = row.id;
    plan.parts.push({
      key: "p:protection",
      build: () =>
        sql`p as (update ${positions} set ${sql.identifier(withoutThisOrder[0])} = ${withoutThisOrder[1]} where ${positions.id} = ${placeholder("p_id")} returning ${positionReturning})`,
    });
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
      planTradeUpdate(plan, tradeRow, tradeVersion, tradeSet);
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
 * Stops and targets of the account's symbol (placeholders `account_id`, `symbol`) that can still
 * fill: a new position's protection. `except` leaves out the order being applied (`order_id`)
 * when this event ends it (the statement that writes its new status runs beside this one and is
 * not visible to it).
 */
function liveProtectiveOrderIds(except: boolean): SQL {
  const live = and(
    sql`${orders.accountId} = ${placeholder("account_id")}`,
    sql`${orders.symbol} = ${placeholder("symbol")}`,
    inArray(orders.role, ["STOP_LOSS", "TAKE_PROFIT"]),
    notInArray(orders.status, [...TERMINAL_ORDER_STATUSES]),
    except ? sql`${orders.id} <> ${placeholder("order_id")}` : undefined,
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
