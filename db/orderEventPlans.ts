/**
 * The write plan of one order event: what the single write of `applyOrderUpdate` (one call of
 * `apply_order_writes`, migration 0008) does to the fill, the position and the trade, with the
 * row versions it expects, and the log entries.
 */
import { and, eq, gt, inArray, ne, notInArray, or, sql } from "drizzle-orm";
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
import {
  applyTradeFill,
  cancelTrade,
  isEntryRole,
  reopenTrade,
  type TradeRefusal,
} from "../domain/trade";
import type { Database } from "./database";
import type { LogEntry } from "./executionLog";
import type { FillRecord } from "./fills";
import { jsonRecord } from "./jsonRows";
import { changedFields } from "./optimisticWrites";
import { positionEvent, tradeFillOf } from "./orderEventFields";
import type { OrderEventContext } from "./orderEvents";
import { positionOfRow } from "./positions";
import { fills, orders, positions, trades } from "./schema";
import { tradeColumns, tradeOfRow } from "./trades";

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

type JsonObject = Readonly<Record<string, unknown>>;

/**
 * The writes as `apply_order_writes` takes them (rows keyed by column name, decimals as strings):
 * the fill to insert, the position change, the order and the trade with the row versions read.
 */
export interface Writes {
  fill?: JsonObject;
  position?:
    | {
        readonly op: "insert";
        readonly row: JsonObject;
        readonly protective_roles: readonly string[];
        readonly terminal: readonly string[];
        /** The order being applied, left out of the new position's protection. */
        readonly except?: number;
      }
    | {
        readonly op: "update";
        readonly id: number;
        readonly version: string | null;
        readonly row: JsonObject;
        /** An order that leaves the position's protection. */
        readonly drop?: number;
      }
    | { readonly op: "delete"; readonly id: number; readonly version: string | null }
    | { readonly op: "protection"; readonly id: number; readonly drop: number };
  order?: { readonly id: number; readonly version: string; readonly row: JsonObject };
  trade?: { readonly id: number; readonly version: string | null; readonly row: JsonObject };
}

/** What the write statement of one event will do, filled in by the planners below. */
export interface WritePlan {
  readonly writes: Writes;
  readonly logs: LogEntry[];
  fillValues: Omit<FillRecord, "id"> | null;
  positionAfter: Omit<PositionRow, "id" | "protectiveOrderIds"> | null;
  positionId: number | null;
  positionClosed: boolean;
  tradeAfter: TradeRow | null;
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

/** The roles of the orders that protect a position. */
const PROTECTIVE_ROLES = ["STOP_LOSS", "TAKE_PROFIT"] as const;

/** Plans the trade row's update to `tradeSet` (only the fields that changed), as read or nothing. */
function planTradeUpdate(
  plan: WritePlan,
  tradeRow: TradeRow,
  version: string | null,
  tradeSet: Partial<TradeRow>,
): void {
  const row = jsonRecord(trades, changedFields(tradeRow, tradeSet));
  plan.writes.trade = { id: tradeRow.id, version, row };
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
  plan.writes.fill = jsonRecord(fills, fillValues);

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
      plan.writes.position = { op: "delete", id: currentPosition.id, version: positionVersion };
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
      plan.writes.position = {
        op: "update",
        id: currentPosition.id,
        version: positionVersion,
        row: jsonRecord(positions, { ...figures, ...valuation, tradeId }),
        ...(leavesProtection ? { drop: row.id } : {}),
      };
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
      // The new position is protected by the live stops and targets of its symbol; the order
      // being applied is no protection once this event ends it.
      plan.writes.position = {
        op: "insert",
        row: jsonRecord(positions, opened),
        protective_roles: PROTECTIVE_ROLES,
        terminal: TERMINAL_ORDER_STATUSES,
        ...(isTerminal(after.status) ? { except: row.id } : {}),
      };
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
    plan.writes.position = { op: "protection", id: currentPosition.id, drop: row.id };
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
  if (
    tradeRow &&
    tradeRow.status === "CANCELLED" &&
    isEntryRole(row.role) &&
    isTerminal(row.status) &&
    !isTerminal(after.status)
  ) {
    // An entry ended unsent that works at the broker after all (REVIVED): its trade is ordered.
    const reopened = reopenTrade(tradeOfRow(tradeRow), event.at);
    if (reopened.ok && reopened.value.changed) {
      const tradeSet = { ...tradeColumns(reopened.value.trade), updatedAt: context.recordedAt };
      plan.tradeAfter = { ...tradeRow, ...tradeSet };
      planTradeUpdate(plan, tradeRow, tradeVersion, tradeSet);
      plan.logs.push({
        ...logContext,
        entity: "trade",
        entityId: tradeRow.id,
        event: "REOPENED",
        statusBefore: tradeRow.status,
        statusAfter: reopened.value.trade.status,
        details: { entryStatus: after.status },
      });
    }
  }
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
