import { and, eq, sql } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import type { OrderEvent } from "../domain/order";
import {
  applyOrderEvent,
  isTerminal,
  type OrderEventNote,
  type OrderEventRefusal,
} from "../domain/orderStateMachine";
import { type Ok, ok, type Refusal, refuse } from "../domain/outcome";
import type { TradeRefusal } from "../domain/trade";
import { compileStatement, type Database, queryRows, runCompiledText } from "./database";
import { logRows, logRowsJson } from "./executionLog";
import type { FillRecord } from "./fills";
import { jsonRecord, parseJsonNumbersAsText, rowOfJson } from "./jsonRows";
import { changedFields, isTransaction, lostRace, requireWritten } from "./optimisticWrites";
import { actualSlippage, statusTimes } from "./orderEventFields";
import { type PlanArgs, planFillWrites, planStatusWrites, type WritePlan } from "./orderEventPlans";
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
import { type PositionRecord, positionRecordOfRow } from "./positions";
import { type EventSource, executionLog, orders, positions, trades } from "./schema";
import { type TradeRecord, tradeRecordOfRow } from "./trades";

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
  /**
   * Inside a caller's transaction: `"savepoint"` (the default) undoes a lost race alone and tries
   * again; `"caller"` lets the lost race fail the transaction, for a caller that runs its whole
   * transaction again (one round trip less per event: no savepoint).
   */
  readonly raceRetry?: "savepoint" | "caller";
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

function refText(ref: OrderRef): string {
  if ("orderId" in ref) return `order ${ref.orderId}`;
  if ("clientOrderId" in ref) return `client order id ${ref.clientOrderId}`;
  return `broker order id ${ref.brokerOrderId}`;
}

type OrderRow = typeof orders.$inferSelect;
type PositionRow = typeof positions.$inferSelect;
type TradeRow = typeof trades.$inferSelect;

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
 * 3. Write order, fill, position, trade and execution log in ONE statement, a call of the
 *    `apply_order_writes` function (one implicit transaction, so all of it or none). Each row is
 *    written only if it is still the version read, and a new position or fill is a plain insert:
 *    if another worker changed or inserted any of them first, the statement fails as a whole and
 *    everything is run again on fresh rows.
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
      const outcome =
        isTransaction(db) && context.raceRetry !== "caller"
          ? await db.transaction((savepoint) =>
              applyOrderUpdateOnce(savepoint, ref, event, context, useCache),
            )
          : await applyOrderUpdateOnce(db, ref, event, context, useCache);
      if (outcome !== "STALE") return outcome;
    } catch (error) {
      const race = lostRace(error);
      const callerRetries = context.raceRetry === "caller" && isTransaction(db);
      if (callerRetries || race === null || attempt >= (race === "retry-once" ? 2 : MAX_ATTEMPTS)) {
        throw error;
      }
    }
  }
}

type RefKind = "orderId" | "clientOrderId" | "brokerOrderId";

function refKind(ref: OrderRef): { readonly kind: RefKind; readonly value: string } {
  if ("orderId" in ref) return { kind: "orderId", value: String(ref.orderId) };
  if ("clientOrderId" in ref) return { kind: "clientOrderId", value: ref.clientOrderId };
  return { kind: "brokerOrderId", value: ref.brokerOrderId };
}

// One call of the `order_snapshot` function (migrations 0006, 0007): the join's plan is kept by
// the database for the session, and the three rows come back as one JSON text.
const snapshotStatement = compileStatement(
  sql`select order_snapshot(${sql.placeholder("kind")}, ${sql.placeholder("key")}) as snapshot`,
);

type JsonObject = Record<string, unknown>;

/** [order, version, position, version, trade, version], numbers as text. */
type SnapshotJson = [
  JsonObject,
  string,
  JsonObject | null,
  string | null,
  JsonObject | null,
  string | null,
];

/** Reads an order with its position and trade and the row version of each; null if no such order. */
async function readSnapshot(db: Database, ref: OrderRef): Promise<OrderSnapshot | null> {
  const { kind, value } = refKind(ref);
  const [read] = await runCompiledText<{ snapshot: string | null }>(db, snapshotStatement, {
    kind,
    key: value,
  });
  if (!read?.snapshot) return null;
  const [order, orderVersion, position, positionVersion, trade, tradeVersion] =
    parseJsonNumbersAsText(read.snapshot) as SnapshotJson;
  return {
    order: { row: rowOfJson<OrderRow>(orders, order), version: orderVersion },
    position:
      position && positionVersion !== null
        ? { row: rowOfJson<PositionRow>(positions, position), version: positionVersion }
        : null,
    trade:
      trade && tradeVersion !== null
        ? { row: rowOfJson<TradeRow>(trades, trade), version: tradeVersion }
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

/** What the write reports: the ids it gave and the new row versions. */
interface WriteResult extends Record<string, unknown> {
  readonly fill_id: string | null;
  readonly position_id: string | null;
  readonly protective_ids: string | null;
  readonly o_version: string | null;
  readonly p_version: string | null;
  readonly t_version: string | null;
}

// The writes of an event in one call of `apply_order_writes` (migration 0008): its statements are
// fixed, so the database plans them once per session (the embedded one cannot keep a prepared
// statement), and the call runs as one implicit transaction: all of it or none.
const applyWritesStatement = compileStatement(
  sql`select fill_id, position_id, protective_ids, o_version, p_version, t_version from apply_order_writes(${sql.placeholder("writes")}::jsonb, ${sql.placeholder("logs")}::jsonb)`,
);

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

  const after = applied.order;
  const commission = applied.fill ? (context.commission ?? null) : null;
  const leavesProtection =
    isProtectiveRole(row.role) && !isTerminal(row.status) && isTerminal(after.status);
  const plan: WritePlan = {
    writes: {},
    logs: [],
    fillValues: null,
    positionAfter: null,
    positionId: currentPosition?.id ?? null,
    positionClosed: false,
    tradeAfter: null,
    tradeRefusal: null,
  };
  const { logs } = plan;
  logs.push({
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
  });

  const orderSet = {
    ...orderColumns(after),
    ...statusTimes(row, after, eventAt),
    commission: commission ? row.commission.plus(commission) : row.commission,
    actualSlippage: actualSlippage(row.side, row.expectedPrice, after.averageFillPrice),
    updatedAt: context.recordedAt,
  };
  plan.writes.order = {
    id: row.id,
    version: locked.orderVersion,
    row: jsonRecord(orders, { ...changedFields(row, orderSet), updatedAt: context.recordedAt }),
  };
  const orderAfter: OrderRow = { ...row, ...orderSet };

  const args: PlanArgs = {
    row,
    after,
    event,
    context,
    commission,
    logContext,
    leavesProtection,
    currentPosition,
    positionVersion: locked.positionVersion,
    tradeRow,
    tradeVersion: locked.tradeVersion,
  };

  if (applied.fill) {
    planFillWrites(plan, { ...args, fill: applied.fill });
  } else {
    await planStatusWrites(tx, plan, args);
  }

  const [written] = await runCompiledText<WriteResult>(tx, applyWritesStatement, {
    writes: JSON.stringify(plan.writes),
    logs: logRowsJson(logs),
  });
  const returnsPosition = plan.positionAfter !== null;

  let fillRecord: FillRecord | null = null;
  if (plan.fillValues) {
    // The order had not seen this execution, yet another order has: refuse to double count.
    if (!written?.fill_id) {
      throw new Error(`execution ${plan.fillValues.executionId} belongs to another order`);
    }
    fillRecord = { ...plan.fillValues, id: Number(written.fill_id) };
  }
  if (returnsPosition && written?.position_id) plan.positionId = Number(written.position_id);
  const positionRecord =
    plan.positionAfter && plan.positionId !== null
      ? positionRecordOfRow({
          ...plan.positionAfter,
          id: plan.positionId,
          protectiveOrderIds: JSON.parse(written?.protective_ids ?? "[]") as number[],
        })
      : null;
  if (context.cache) {
    const positionWritten = plan.writes.position !== undefined;
    const cachedPosition =
      plan.positionClosed || (!positionWritten && snapshot.position === null)
        ? null
        : plan.positionAfter && plan.positionId !== null && written?.p_version
          ? {
              row: {
                ...plan.positionAfter,
                id: plan.positionId,
                protectiveOrderIds: positionRecord?.protectiveOrderIds.slice() ?? [],
              },
              version: written.p_version,
            }
          : positionWritten
            ? undefined
            : snapshot.position;
    if (cachedPosition === undefined) {
      context.cache.positions.delete(positionKey(row.accountId, row.symbol));
    }
    rememberSnapshot(
      context.cache,
      { row: orderAfter, version: written?.o_version ?? "" },
      cachedPosition,
      plan.tradeAfter && written?.t_version
        ? { row: plan.tradeAfter, version: written.t_version }
        : snapshot.trade,
    );
  }
  return ok({
    record: orderRecordOfRow(orderAfter),
    changed: true,
    note: applied.note,
    fill: fillRecord,
    position: positionRecord,
    positionClosed: plan.positionClosed,
    trade: plan.tradeAfter ? tradeRecordOfRow(plan.tradeAfter) : null,
    tradeRefusal: plan.tradeRefusal,
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
