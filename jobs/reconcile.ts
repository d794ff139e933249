/**
 * The `reconcile` processor: compares an account's books with the broker's (at start, after a
 * stream reconnect, every 10 minutes of the session and after the close) and applies the
 * corrections `domain/reconciliation` decides, each in its own transaction under the lock of its
 * symbol, with an execution-log entry and a RECONCILIATION_INCIDENT notice in the outbox:
 *
 * - Missed fills and statuses go through the order-events handler, as a polled report of the
 *   broker's order: the same idempotent path as the stream, with the same deterministic
 *   execution id for an inferred fill, so a restart (or polling) never counts it twice. An
 *   order of ours that ended in the books before the look-back window is found, whatever its
 *   age, by the ids of the broker's orders of a symbol whose position differs: its late fill
 *   lands on its own trade, never adopted as someone else's position.
 * - A position closed outside the desk is closed in the books by an EXIT order filled at the
 *   best known price (MANUAL_EXIT); a size difference by an order of the difference; both under
 *   client order and execution ids derived from the position, so a second run finds them done.
 * - An unknown broker position is adopted (jobs/adoption.ts: a trade without a decision, its
 *   entry filled at the broker's average, as a /close of such a position adopts it too) and
 *   handed to the protect job; a position without a live stop is handed to the protect job for
 *   repair. An entry cancelled in the books before the broker had it, which the broker works
 *   all the same, is cancelled there.
 * - A decision still `executing` whose execute job is gone (failed for good, or lost) is settled
 *   first (`settleStalledExecution`): executed when its entry is at the broker (the trader told
 *   with the ENTRY_SUBMITTED notice the execute job would have written, then followed as any
 *   order); failed, the trader told, when the entry never reached it (closed as rejected,
 *   never sent late) or was never recorded. An entry the trader's cancel ended in the books
 *   before the broker took it is cancelled there, not confirmed (`withdrawEndedEntry`).
 * When fills were inferred, positions are compared again on the corrected books (second pass).
 */
import type { Job } from "bullmq";
import type { Database } from "../db/database";
import {
  type Decision,
  failApprovedDecision,
  findDecision,
  finishDecisionExecution,
} from "../db/decisions";
import { appendLog, type LogEntry } from "../db/executionLog";
import { listChildOrders, lockName } from "../db/lifecycleQueries";
import { applyOrderUpdate } from "../db/orderEvents";
import {
  findOrder,
  findOrderByClientOrderId,
  insertOrder,
  listOrdersWithClientIdPrefix,
  type OrderRecord,
} from "../db/orders";
import { findPosition, listPositions, type PositionRecord } from "../db/positions";
import {
  listApprovedDecisions,
  listExecutingDecisions,
  listOrdersByIds,
  listOrdersToReconcile,
} from "../db/reconciliation";
import { findTrade, findTradeByDecision } from "../db/trades";
import type { Broker, BrokerOrder, BrokerPosition } from "../domain/broker";
import { type Decimal, ZERO } from "../domain/money";
import { createOrder } from "../domain/order";
import { isTerminal } from "../domain/orderStateMachine";
import {
  type ExecutionSettlement,
  type KnownOrder,
  type KnownPosition,
  type ManualCloseFound,
  type PositionAdopted,
  type QuantityMismatch,
  type ReconciliationAction,
  reconcile,
  settleStalledExecution,
  settleUnstartedExecution,
} from "../domain/reconciliation";
import { isEntryRole } from "../domain/trade";
import { ADOPTION_STOP_PERCENT, adoptionClientOrderIdPrefix, adoptPosition } from "./adoption";
import { brokerOrderToReport } from "./brokerOrderPayload";
import { isStaleUnsentClose } from "./closeOrders";
import type { JobDeps } from "./context";
import {
  cancelRefusedNotice,
  cancelTooLateNotice,
  decisionRefusedNotice,
  entrySubmittedNotice,
  orderCanceledNotice,
} from "./entryNotices";
import { entryClientOrderId } from "./entryOrders";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import { type OrderReportHandler, symbolLockName } from "./orderReports";
import { type ReconcilePayload, reconcilePayloadSchema } from "./queues";
import { withRaceRetry } from "./transactions";

const SOURCE = "reconcile";

/** What the trader is told when a stalled execution fails. */
const STALLED_REASONS = {
  ENTRY_NEVER_SENT:
    "The entry never reached the broker and its execution gave up; it will not be sent late.",
  ENTRY_NOT_RECORDED: "The execution stopped before the entry was recorded; nothing was sent.",
  EXECUTION_NEVER_STARTED:
    "It was approved, but its execution never started (its job was lost); nothing was sent. Plan it again if you still want it.",
} as const;

export interface ReconcileSettings {
  /** How far back finished orders are compared (default: the poll lookback, 24 h). */
  readonly lookbackMs: number;
  /** How long an order or fill may be in flight before its absence is an incident (default 60 s). */
  readonly graceMs: number;
  /** Stop distance for an adopted position, % below (long) or above (short) entry and market (default 5). */
  readonly adoptionStopPercent: Decimal | number;
}

export interface ReconcileProcessorOptions {
  readonly handler: OrderReportHandler;
  readonly settings?: Partial<ReconcileSettings>;
}

/** What a reconciliation found and did (the job's return value). */
export interface ReconcileResult {
  readonly accountId: number;
  /** Codes of the settled executions, then of the actions in the order applied, over both passes. */
  readonly actions: readonly string[];
  readonly passes: number;
}

/** The client order id of the order that closes or resizes a position in the books. */
export function correctionClientOrderId(positionId: number, brokerQuantity: Decimal): string {
  return brokerQuantity.isZero()
    ? `recon-${positionId}-close`
    : `recon-${positionId}-to-${brokerQuantity.toFixed()}`;
}

interface Located {
  readonly order: BrokerOrder;
  readonly top: BrokerOrder;
}

/** Every broker order and leg by broker id, with the top-level order it was reported in. */
function locate(orders: readonly BrokerOrder[]): Map<string, Located> {
  const map = new Map<string, Located>();
  const visit = (order: BrokerOrder, top: BrokerOrder) => {
    if (!map.has(order.brokerOrderId)) map.set(order.brokerOrderId, { order, top });
    for (const leg of order.legs) visit(leg, top);
  };
  for (const order of orders) visit(order, order);
  return map;
}

/**
 * The broker's top-level orders, by symbol, that none of the orders we read matches: someone
 * else's, or ours recorded after the read.
 */
function ordersUnknownAtRead(
  orders: readonly BrokerOrder[],
  ours: readonly OrderRecord[],
): Map<string, BrokerOrder[]> {
  const clientIds = new Set(ours.map((r) => r.order.clientOrderId));
  const brokerIds = new Set(ours.map((r) => r.order.brokerOrderId));
  const bySymbol = new Map<string, BrokerOrder[]>();
  for (const order of orders) {
    if (clientIds.has(order.clientOrderId) || brokerIds.has(order.brokerOrderId)) continue;
    bySymbol.set(order.symbol, [...(bySymbol.get(order.symbol) ?? []), order]);
  }
  return bySymbol;
}

function knownOrderOf(record: OrderRecord, tradeEndedAt: number | null = null): KnownOrder {
  return {
    id: record.id,
    tradeId: record.tradeId,
    parentOrderId: record.parentOrderId,
    order: record.order,
    createdAt: record.createdAt.getTime(),
    tradeEndedAt,
  };
}

/**
 * When each ended trade (closed or cancelled) of the exits among `orders` ended, epoch ms: their
 * exits must not stay working at the broker.
 */
async function endedTradesOfExits(
  db: Database,
  orders: readonly OrderRecord[],
): Promise<Map<number, number>> {
  const ids = new Set<number>();
  for (const o of orders) {
    if (o.tradeId !== null && !isEntryRole(o.order.role)) ids.add(o.tradeId);
  }
  const ended = new Map<number, number>();
  const trades = await Promise.all([...ids].map((id) => findTrade(db, id)));
  for (const record of trades) {
    const trade = record?.trade;
    if (!record || (trade?.status !== "CLOSED" && trade?.status !== "CANCELLED")) continue;
    ended.set(record.id, Date.parse(trade.closedAt ?? trade.updatedAt));
  }
  return ended;
}

/** Builds the `reconcile` processor. */
export function createReconcileProcessor(deps: JobDeps, options: ReconcileProcessorOptions) {
  const settings: ReconcileSettings = {
    lookbackMs: deps.settings.pollLookbackMs,
    graceMs: 60_000,
    adoptionStopPercent: ADOPTION_STOP_PERCENT,
    ...options.settings,
  };
  const recipients = createRecipientLookup(deps);
  const handler = options.handler;

  /** The broker's positions and orders: open ones, recent ones, and any of our working ones not among them. */
  async function brokerBooks(broker: Broker, ours: readonly OrderRecord[], now: Date) {
    const positions = await broker.listPositions();
    if (!positions.ok) throw new Error(`broker positions unavailable: ${positions.message}`);
    const open = await broker.listOrders({ status: "open", nested: true, limit: 500 });
    if (!open.ok) throw new Error(`broker open orders unavailable: ${open.message}`);
    const recent = await broker.listOrders({
      status: "closed",
      nested: true,
      limit: 500,
      direction: "desc",
      after: new Date(now.getTime() - settings.lookbackMs),
    });
    if (!recent.ok) throw new Error(`broker recent orders unavailable: ${recent.message}`);
    const orders = [...open.value, ...recent.value];
    const located = locate(orders);
    const clientIds = new Set([...located.values()].map((l) => l.order.clientOrderId));
    for (const record of ours) {
      const o = record.order;
      // Finished orders need no lookup. A leg usually comes inside its parent, but the broker's
      // lists may leave it out (Alpaca lists a held stop leg neither as open nor, once its entry
      // filled, under it): one we know by its broker id is asked for, else it would be closed in
      // the books as unknown while it still protects the position. One without comes with its
      // parent or not at all.
      if (isTerminal(o.status)) continue;
      if (record.parentOrderId !== null && o.brokerOrderId === null) continue;
      if (
        o.brokerOrderId !== null ? located.has(o.brokerOrderId) : clientIds.has(o.clientOrderId)
      ) {
        continue;
      }
      const found =
        o.brokerOrderId !== null
          ? await broker.getOrder(o.brokerOrderId)
          : await broker.getOrderByClientOrderId(o.clientOrderId);
      if (found.ok) orders.push(found.value);
      else if (found.code !== "NOT_FOUND")
        throw new Error(`broker order lookup failed: ${found.message}`);
    }
    return { positions: positions.value, orders };
  }

  /**
   * Our own orders, last changed in the books before the look-back window (`since`), that the
   * broker filled more of than the books know (a cancelled entry the broker filled late while the
   * stream was down or the desk stopped, found days later), with the broker's orders they are
   * in. Without them the shares look like someone else's: adopted as a second trade with its own
   * protection while ours stays cancelled. Asked only for the symbols whose broker position
   * differs from the books: their latest closed orders at the broker, whatever their age (one
   * call), and ours found by those orders' ids (one indexed read), so the cost does not grow
   * with the history.
   */
  async function lateFilledOwnOrders(
    accountId: number,
    broker: Broker,
    since: Date,
    ours: readonly OrderRecord[],
    positions: readonly PositionRecord[],
    brokerPositions: readonly BrokerPosition[],
    brokerOrders: readonly BrokerOrder[],
  ): Promise<{ records: OrderRecord[]; brokerOrders: BrokerOrder[]; foreign: BrokerOrder[] }> {
    const none = { records: [], brokerOrders: [], foreign: [] };
    const booked = new Map(positions.map((p) => [p.position.symbol, p.position.quantity]));
    const held = new Map(brokerPositions.map((p) => [p.symbol, p.qty]));
    const differing = [...new Set([...booked.keys(), ...held.keys()])]
      .filter((symbol) => !(booked.get(symbol) ?? ZERO).eq(held.get(symbol) ?? ZERO))
      .sort();
    if (differing.length === 0) return none;
    const older = await broker.listOrders({
      status: "closed",
      nested: true,
      symbols: differing,
      limit: 500,
      direction: "desc",
    });
    if (!older.ok)
      throw new Error(`broker orders of ${differing.join(",")} unavailable: ${older.message}`);
    const read = new Set(brokerOrders.map((o) => o.brokerOrderId));
    const tops = [
      ...brokerOrders.filter((o) => differing.includes(o.symbol)),
      ...older.value.filter((o) => !read.has(o.brokerOrderId)),
    ];
    const ourClientIds = new Set(ours.map((r) => r.order.clientOrderId));
    const ourBrokerIds = new Set(ours.map((r) => r.order.brokerOrderId));
    // Filled broker orders (and legs) that none of the orders we read is.
    const unread = (top: BrokerOrder) =>
      [...locate([top]).values()]
        .map((l) => l.order)
        .filter(
          (o) =>
            o.filledQty.gt(ZERO) &&
            !ourClientIds.has(o.clientOrderId) &&
            !ourBrokerIds.has(o.brokerOrderId),
        );
    const candidates = tops.flatMap(unread);
    if (candidates.length === 0) return none;
    // Filled orders that are nobody's here: a close by hand found after the window is priced
    // at its own fill, as one inside it is, not at a stale mark or the entry (no P&L, and a
    // loss the daily limits never see).
    const foreign = older.value.filter(
      (o) =>
        !read.has(o.brokerOrderId) &&
        o.filledQty.gt(ZERO) &&
        o.legs.length === 0 &&
        !ourClientIds.has(o.clientOrderId) &&
        !ourBrokerIds.has(o.brokerOrderId),
    );
    const found = await listOrdersByIds(deps.db, accountId, {
      clientOrderIds: candidates.map((o) => o.clientOrderId),
      brokerOrderIds: candidates.map((o) => o.brokerOrderId),
    });
    const records = new Map<number, OrderRecord>();
    const withRecords: BrokerOrder[] = [];
    for (const top of tops) {
      let missed = false;
      for (const o of unread(top)) {
        const record = found.find(
          (r) =>
            r.order.clientOrderId === o.clientOrderId || r.order.brokerOrderId === o.brokerOrderId,
        );
        // One changed since the books were read is the desk's own work racing this run (its
        // fill on the way): `catchUp` hands it over before any correction of its symbol.
        if (
          record === undefined ||
          record.updatedAt.getTime() >= since.getTime() ||
          !o.filledQty.gt(record.order.filledQuantity)
        ) {
          continue;
        }
        records.set(record.id, record);
        missed = true;
      }
      if (missed && !read.has(top.brokerOrderId)) withRecords.push(top);
    }
    const ourIds = new Set(found.flatMap((r) => [r.order.clientOrderId, r.order.brokerOrderId]));
    return {
      records: [...records.values()],
      brokerOrders: withRecords,
      foreign: foreign.filter((o) => !ourIds.has(o.clientOrderId) && !ourIds.has(o.brokerOrderId)),
    };
  }

  async function incident(
    tx: Database,
    accountId: number,
    chats: readonly number[],
    key: string,
    symbol: string | null,
    code: string,
    detail: string,
    log: Omit<LogEntry, "event" | "source" | "accountId" | "occurredAt">,
    at: Date,
  ): Promise<number> {
    await appendLog(tx, { ...log, event: code, source: SOURCE, accountId, occurredAt: at });
    return writeNotices(
      tx,
      chats,
      [
        {
          key: `recon-${key}`,
          notice: { kind: "RECONCILIATION_INCIDENT", accountId, symbol, incident: code, detail },
        },
      ],
      at,
    );
  }

  function inLock<T>(
    accountId: number,
    symbol: string,
    work: (tx: Database) => Promise<T>,
  ): Promise<T> {
    return withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        await lockName(tx, symbolLockName(accountId, symbol));
        return work(tx);
      }),
    );
  }

  /** Closes or resizes a position in the books by an order filled at the reconciled price. */
  async function correctPosition(
    accountId: number,
    chats: readonly number[],
    action: ManualCloseFound | QuantityMismatch,
    at: Date,
  ): Promise<{ tradeId: number | null; notices: number }> {
    const closing = action.code === "MANUAL_CLOSE_FOUND";
    const brokerQuantity = closing ? ZERO : action.brokerQuantity;
    const baseClientOrderId = correctionClientOrderId(action.positionId, brokerQuantity);
    const side = closing ? action.exitSide : action.side;
    const quantity = closing ? action.quantity.abs() : action.quantity;
    const reduces = closing || action.reduces;
    const external = action.externalOrder;
    return inLock(accountId, action.symbol, async (tx) => {
      // Judged on books read before the lock: act only if the position is still as judged
      // (another worker may have corrected it meanwhile; the next run judges again).
      const current = await findPosition(tx, accountId, action.symbol);
      const expected = closing ? action.quantity : action.ourQuantity;
      const asJudged = current?.id === action.positionId && current.position.quantity.eq(expected);
      let clientOrderId = baseClientOrderId;
      let done = await findOrderByClientOrderId(tx, clientOrderId);
      if (done === null && !asJudged) return { tradeId: null, notices: 0 };
      // Still as judged, so this correction is not in: an order under its id corrected an
      // earlier difference to the same size (the position moved away and came back). Reusing
      // that id would find the old correction done and leave the books wrong for good.
      for (let n = 2; asJudged && done !== null; n++) {
        clientOrderId = `${baseClientOrderId}-${n}`;
        done = await findOrderByClientOrderId(tx, clientOrderId);
      }
      const inserted = await insertOrder(
        tx,
        {
          accountId,
          tradeId: action.tradeId,
          order: createOrder(
            {
              clientOrderId,
              symbol: action.symbol,
              side,
              type: "market",
              timeInForce: "day",
              orderClass: "simple",
              role: reduces ? "EXIT" : "ENTRY",
              quantity,
              limitPrice: null,
              stopPrice: null,
            },
            at.toISOString(),
          ),
          exitReason: reduces ? "MANUAL_EXIT" : null,
          expectedPrice: action.price,
        },
        SOURCE,
        at,
      );
      // The broker's own order is named only when it is exactly this correction, so a later
      // comparison pairs them instead of inferring a difference.
      const brokerOrderId =
        external !== null && closing ? { brokerOrderId: external.brokerOrderId } : {};
      const applied = await applyOrderUpdate(
        tx,
        { orderId: inserted.record.id },
        {
          event: "fill",
          executionId: `reconciled-${clientOrderId}`,
          quantity,
          price: action.price,
          at: at.toISOString(),
          ...brokerOrderId,
        },
        { source: SOURCE, recordedAt: at },
      );
      if (!applied.ok) throw new Error(`correction refused: ${applied.code} ${applied.message}`);
      if (!applied.value.changed) return { tradeId: action.tradeId, notices: 0 };
      const what = closing
        ? `The ${action.symbol} position (${action.quantity.toFixed()}) was closed outside the desk; recorded as a manual exit at ${action.price.toFixed()} (${action.priceSource.replace("_", " ")} price).`
        : `The broker holds ${action.brokerQuantity.toFixed()} ${action.symbol}, the desk had ${action.ourQuantity.toFixed()}; ${reduces ? "recorded a manual exit" : "recorded an addition"} of ${quantity.toFixed()} at ${action.price.toFixed()} (${action.priceSource.replace("_", " ")} price).`;
      const notices: PendingNotice[] = [];
      const trade = applied.value.trade?.trade;
      if (trade?.status === "CLOSED" && trade.exitReason !== null && action.tradeId !== null) {
        notices.push({
          key: `closed-${action.tradeId}`,
          notice: {
            kind: "TRADE_CLOSED",
            tradeId: action.tradeId,
            symbol: trade.symbol,
            exitReason: trade.exitReason,
            quantity: trade.exitQuantity.toFixed(),
            averageEntryPrice: (trade.averageEntryPrice ?? action.price).toFixed(),
            averageExitPrice: (trade.averageExitPrice ?? action.price).toFixed(),
            realizedPnl: trade.realizedPnl.toFixed(),
            rMultiple: trade.rMultiple?.toFixed() ?? null,
          },
        });
      }
      let written = await writeNotices(tx, chats, notices, at);
      written += await incident(
        tx,
        accountId,
        chats,
        clientOrderId,
        action.symbol,
        action.code,
        what,
        {
          entity: "position",
          entityId: action.positionId,
          tradeId: action.tradeId,
          orderId: inserted.record.id,
          details: { ...action },
        },
        at,
      );
      return { tradeId: action.tradeId, notices: written };
    });
  }

  /**
   * Adopts a broker position (see `adoptPosition`), unless a position of the symbol was adopted
   * since the books were read: one adopted and closed again meanwhile (a /close of it, filled)
   * is not the broker's position as read, and adopting it again would open a second trade.
   */
  async function adopt(
    accountId: number,
    chats: readonly number[],
    action: PositionAdopted,
    adoptionsAtRead: number,
    at: Date,
  ): Promise<{ tradeId: number | null; notices: number }> {
    const adopted = await inLock(accountId, action.symbol, (tx) =>
      adoptPosition(tx, {
        accountId,
        chats,
        position: action,
        adoptionsBefore: adoptionsAtRead,
        stopPercent: settings.adoptionStopPercent,
        purpose: "protect",
        source: SOURCE,
        at,
      }),
    );
    return adopted ?? { tradeId: null, notices: 0 };
  }

  /**
   * Before a symbol's position is corrected or adopted: the difference may be the desk's own
   * order, recorded after our books were read and filled before the broker's were, its fill not
   * stored yet (an entry, or a close). Its broker order looked like someone else's; handed to
   * the handler now, it is found ours and its fill lands on its trade, so the correction judged
   * again under the lock finds nothing to do. Once per symbol and run.
   */
  async function catchUp(
    accountId: number,
    symbol: string,
    unknownAtRead: Map<string, readonly BrokerOrder[]>,
    at: Date,
  ): Promise<void> {
    const orders = unknownAtRead.get(symbol) ?? [];
    unknownAtRead.delete(symbol);
    for (const order of orders) {
      await handler.handle(accountId, "poll", brokerOrderToReport(order, at));
    }
  }

  async function applyAction(
    accountId: number,
    broker: Broker,
    chats: readonly number[],
    action: ReconciliationAction,
    located: ReadonlyMap<string, Located>,
    handled: Set<string>,
    unknownAtRead: Map<string, readonly BrokerOrder[]>,
    adoptionsAtRead: (symbol: string) => number,
  ): Promise<number> {
    const at = deps.now();
    switch (action.code) {
      case "MISSED_FILL_INFERRED":
      case "ORDER_STATUS_SYNCED": {
        const where = located.get(action.brokerOrderId);
        if (where === undefined) return 0;
        const top = where.top;
        // Each refused request of one order is told (a later refusal has a later pendingSince),
        // and a re-run finds the same one.
        const key =
          action.code === "MISSED_FILL_INFERRED"
            ? `fill-${action.executionId}`
            : action.pendingSince === null
              ? `status-${action.brokerOrderId}-${action.to}`
              : `status-${action.brokerOrderId}-${action.to}-${action.pendingSince}`;
        const detail =
          action.code === "MISSED_FILL_INFERRED"
            ? `A fill of ${action.quantity.toFixed()} ${action.symbol} (${action.role.toLowerCase().replace("_", " ")}) at ${action.price.toFixed()} was missed; applied from the broker's order.`
            : action.from === "pending_cancel" || action.from === "pending_replace"
              ? `Order ${action.brokerOrderId} (${action.symbol}) is still ${action.to.replace("_", " ")} at the broker: its ${action.from === "pending_cancel" ? "cancel" : "replace"} was not carried out, and it keeps working.`
              : `Order ${action.brokerOrderId} (${action.symbol}) is ${action.to} at the broker; the desk had it ${action.from}.`;
        // A refused request shows at the broker as the order working partly filled: a poll of
        // that status changes nothing (a partial fill may come while a cancel is on its way), so
        // the refusal reconciliation found is told to the order itself, as the stream would.
        const refusedPartly =
          action.code === "ORDER_STATUS_SYNCED" &&
          action.to === "partially_filled" &&
          (action.from === "pending_cancel" || action.from === "pending_replace");
        // A refusal found past the grace period is reported at this run's time: dated by the
        // broker's last change of the order (before the request, when the cancel never got
        // there), the read would be taken for the old status the broker shows while a cancel is
        // on its way, and the order kept pending (see PENDING_CANCEL_GRACE_MS).
        const refusal =
          action.code === "ORDER_STATUS_SYNCED" && action.pendingSince !== null
            ? { at: at.toISOString() }
            : {};
        const report = refusedPartly
          ? {
              ...brokerOrderToReport(where.order, at),
              event:
                action.from === "pending_cancel"
                  ? ("order_cancel_rejected" as const)
                  : ("order_replace_rejected" as const),
            }
          : { ...brokerOrderToReport(top, at), ...refusal };
        const alreadyHandled = handled.has(top.brokerOrderId);
        handled.add(top.brokerOrderId);
        const result = await handler.handle(accountId, "poll", report, {
          within: async (tx) => {
            await appendLog(tx, {
              entity: "order",
              entityId: action.orderId,
              event: action.code,
              source: SOURCE,
              accountId,
              orderId: action.orderId,
              details: { ...action },
              occurredAt: at,
            });
            // An acknowledgement we missed is bookkeeping, not news for the trader; a cancel or
            // replace the broker did not carry out is.
            if (
              action.code === "ORDER_STATUS_SYNCED" &&
              (action.to === "new" || action.to === "accepted") &&
              action.from !== "pending_cancel" &&
              action.from !== "pending_replace"
            ) {
              return [];
            }
            return [
              {
                key: `recon-${key}`,
                notice: {
                  kind: "RECONCILIATION_INCIDENT",
                  accountId,
                  symbol: action.symbol,
                  incident: action.code,
                  detail,
                },
              },
            ];
          },
        });
        return alreadyHandled ? 0 : result.noticesWritten;
      }
      case "MANUAL_CLOSE_FOUND":
      case "QUANTITY_MISMATCH": {
        await catchUp(accountId, action.symbol, unknownAtRead, at);
        const done = await correctPosition(accountId, chats, action, at);
        // A closed trade must keep no exit working; the protect job cleans up (or resizes).
        if (done.tradeId !== null) {
          await deps.jobs.requestProtection(
            accountId,
            done.tradeId,
            action.code === "MANUAL_CLOSE_FOUND" ? "exit_fill" : "repair",
          );
        }
        return done.notices;
      }
      case "POSITION_ADOPTED": {
        await catchUp(accountId, action.symbol, unknownAtRead, at);
        const done = await adopt(accountId, chats, action, adoptionsAtRead(action.symbol), at);
        if (done.tradeId !== null)
          await deps.jobs.requestProtection(accountId, done.tradeId, "adopted");
        return done.notices;
      }
      case "STOP_MISSING": {
        const notices = await inLock(accountId, action.symbol, (tx) =>
          incident(
            tx,
            accountId,
            chats,
            `stop-${action.positionId}-${action.lastStopOrderId ?? 0}-${action.quantity.toFixed()}-${action.coveredQuantity.toFixed()}`,
            action.symbol,
            action.code,
            action.coveredQuantity.isZero()
              ? `The ${action.symbol} position (${action.quantity.toFixed()}) had no live stop; a new one is being placed.`
              : `The live stops of the ${action.symbol} position (${action.quantity.toFixed()}) covered only ${action.coveredQuantity.toFixed()}; the rest is being protected.`,
            {
              entity: "position",
              entityId: action.positionId,
              tradeId: action.tradeId,
              details: { ...action },
            },
            at,
          ),
        );
        if (action.tradeId !== null)
          await deps.jobs.requestProtection(accountId, action.tradeId, "repair");
        return notices;
      }
      case "ORPHAN_EXIT_FOUND": {
        const cancelled = await broker.cancelOrder(action.brokerOrderId);
        if (!cancelled.ok && cancelled.code !== "NOT_FOUND" && cancelled.code !== "INVALID") {
          throw new Error(
            `cancel of orphan exit ${action.brokerOrderId} failed: ${cancelled.message}`,
          );
        }
        // The books follow the broker: the protect job reads the trade's exits there.
        if (action.tradeId !== null) {
          await deps.jobs.requestProtection(accountId, action.tradeId, "exit_fill");
        }
        return inLock(accountId, action.symbol, (tx) =>
          incident(
            tx,
            accountId,
            chats,
            `orphan-${action.orderId}`,
            action.symbol,
            action.code,
            `A ${action.role.toLowerCase().replace("_", " ")} order for the closed ${action.symbol} position was still working; cancelled.`,
            {
              entity: "order",
              entityId: action.orderId,
              orderId: action.orderId,
              details: { ...action },
            },
            at,
          ),
        );
      }
      case "CANCELLED_ENTRY_WORKING": {
        const cancelled = await broker.cancelOrder(action.brokerOrderId);
        if (!cancelled.ok && cancelled.code !== "NOT_FOUND" && cancelled.code !== "INVALID") {
          throw new Error(
            `cancel of cancelled entry ${action.brokerOrderId} failed: ${cancelled.message}`,
          );
        }
        // What the broker shows now (a fill it had first lands on the trade as a late fill).
        const after = await broker.getOrder(action.brokerOrderId);
        if (after.ok) await handler.handle(accountId, "poll", brokerOrderToReport(after.value, at));
        return inLock(accountId, action.symbol, (tx) =>
          incident(
            tx,
            accountId,
            chats,
            `cancelled-working-${action.orderId}`,
            action.symbol,
            action.code,
            `Entry ${action.clientOrderId} (${action.symbol}), cancelled in the desk before it reached the broker, was working there all the same; cancelled at the broker.`,
            {
              entity: "order",
              entityId: action.orderId,
              orderId: action.orderId,
              tradeId: action.tradeId,
              details: { ...action },
            },
            at,
          ),
        );
      }
      case "ORDER_UNKNOWN_AT_BROKER": {
        const written = await inLock(accountId, action.symbol, async (tx) => {
          if (action.acknowledged) {
            // The broker acknowledged it once and no longer knows it: it cannot fill.
            const closed = await applyOrderUpdate(
              tx,
              { orderId: action.orderId },
              { event: "canceled", at: at.toISOString() },
              { source: SOURCE, recordedAt: at },
            );
            if (!closed.ok) throw new Error(`closing unknown order refused: ${closed.message}`);
          }
          return incident(
            tx,
            accountId,
            chats,
            `unknown-${action.orderId}`,
            action.symbol,
            action.code,
            action.acknowledged
              ? `Order ${action.clientOrderId} (${action.symbol}) is no longer known to the broker; closed in the books as canceled.`
              : // Not "never reached the broker": its job may still send it, and a trader told so
                // would place it again. An entry settled as never sent is told on its own.
                `Order ${action.clientOrderId} (${action.symbol}) is not confirmed by the broker yet and may still be sent: the desk is checking it. Do not place it again.`,
            {
              entity: "order",
              entityId: action.orderId,
              orderId: action.orderId,
              details: { ...action },
            },
            at,
          );
        });
        if (!action.acknowledged) {
          // A close recorded long ago that never reached the broker (its job gone for good) no
          // longer stands in for a stop: protect looks it up, ends it and covers the position.
          const order = await findOrder(deps.db, action.orderId);
          if (order?.tradeId != null && isStaleUnsentClose(order, at)) {
            await deps.jobs.requestProtection(accountId, order.tradeId, "after_close");
          }
        }
        return written;
      }
      case "FILL_EXCEEDS_BROKER":
      case "FILL_PRICE_UNKNOWN":
      case "EXTERNAL_ORDER_FOUND": {
        // A fill notice is keyed by the counts it compares too: more filled later on the same
        // order is another occurrence, told again; a re-run over the same counts is not.
        const key =
          action.code === "EXTERNAL_ORDER_FOUND"
            ? `external-${action.brokerOrderId}`
            : `${action.code.toLowerCase()}-${action.orderId}-${action.ourFilledQuantity.toFixed()}-${action.brokerFilledQuantity.toFixed()}`;
        const detail =
          action.code === "EXTERNAL_ORDER_FOUND"
            ? `A ${action.side} order for ${action.symbol} (${action.brokerOrderId}) is working at the broker but was not placed by the desk.`
            : action.code === "FILL_EXCEEDS_BROKER"
              ? `The desk counts ${action.ourFilledQuantity.toFixed()} ${action.symbol} filled on ${action.brokerOrderId}, the broker ${action.brokerFilledQuantity.toFixed()}; left for review.`
              : `The broker filled ${action.missingQuantity.toFixed()} more ${action.symbol} on ${action.brokerOrderId} without a price; left for review.`;
        return inLock(accountId, action.symbol, (tx) =>
          incident(
            tx,
            accountId,
            chats,
            key,
            action.symbol,
            action.code,
            detail,
            action.code === "EXTERNAL_ORDER_FOUND"
              ? { entity: "account", entityId: accountId, details: { ...action } }
              : {
                  entity: "order",
                  entityId: action.orderId,
                  orderId: action.orderId,
                  details: { ...action },
                },
            at,
          ),
        );
      }
    }
  }

  /**
   * Settles one stalled execution under the lock of its symbol, judged again on the rows read
   * there: the decision moves only from `executing`, so a second worker finds it settled and
   * does nothing. The broker's answer about the entry was asked before the lock.
   */
  function settleExecution(
    accountId: number,
    chats: readonly number[],
    decision: Decision,
    entryAtBroker: boolean | null,
  ): Promise<{ settlement: ExecutionSettlement | null; notices: number }> {
    const none = { settlement: null, notices: 0 };
    return inLock(accountId, decision.symbol, async (tx) => {
      const at = deps.now();
      const current = await findDecision(tx, decision.id);
      if (current?.status !== "executing") return none;
      const entry = await findOrderByClientOrderId(tx, entryClientOrderId(decision.id));
      const settlement = settleStalledExecution(
        {
          decisionId: current.id,
          symbol: current.symbol,
          claimedAt: current.updatedAt.getTime(),
          entry: entry === null ? null : knownOrderOf(entry),
          entryAtBroker,
        },
        at.getTime(),
        settings.graceMs,
      );
      if (settlement === null) return none;
      const log = {
        entity: "decision" as const,
        entityId: current.id,
        event: settlement.code,
        source: SOURCE,
        accountId,
        decisionId: current.id,
        tradeId: entry?.tradeId ?? null,
        orderId: entry?.id ?? null,
        details: { ...settlement },
        occurredAt: at,
      };
      if (settlement.code === "EXECUTION_CONFIRMED") {
        const moved = await finishDecisionExecution(tx, current.id, { executed: true }, SOURCE, at);
        if (moved === null) return none;
        await appendLog(tx, log);
        // Told as the execute job tells it, under the same key: a run that got as far as
        // writing it is not told twice.
        const notices = await writeNotices(
          tx,
          chats,
          [entrySubmittedNotice(current, settlement.tradeId)],
          at,
        );
        return { settlement, notices };
      }
      const reason = STALLED_REASONS[settlement.code];
      const moved = await finishDecisionExecution(
        tx,
        current.id,
        { executed: false, reason: `${settlement.code}: ${reason}` },
        SOURCE,
        at,
      );
      if (moved === null) return none;
      if (settlement.code === "ENTRY_NEVER_SENT" && settlement.closeEntry) {
        // The entry and its held bracket legs: none of them can fill.
        const legs = await listChildOrders(tx, settlement.orderId);
        const open = legs.filter((l) => !isTerminal(l.order.status)).map((l) => l.id);
        for (const orderId of [settlement.orderId, ...open]) {
          const closed = await applyOrderUpdate(
            tx,
            { orderId },
            { event: "rejected", at: at.toISOString(), reason: "never reached the broker" },
            { source: SOURCE, recordedAt: at },
          );
          if (!closed.ok) throw new Error(`closing unsent order refused: ${closed.message}`);
        }
      }
      await appendLog(tx, log);
      const notices = await writeNotices(
        tx,
        chats,
        [decisionRefusedNotice(current, entry?.tradeId ?? null, settlement.code, reason)],
        at,
      );
      return { settlement, notices };
    });
  }

  /**
   * A stalled decision whose entry the trader's cancel ended in the books before the broker had
   * it, which the broker took anyway (the send's answer lost, then the job gone). The cancel is
   * the trader's word: the entry is cancelled at the broker, as the execute job would have done,
   * instead of being confirmed as working there (the trader told 'Submitted', the books showing
   * it cancelled, nothing cancelling it, free to fill). Then settled on what the broker shows:
   * nothing filled, the decision failed and the trader told ORDER_CANCELED; filled first, the
   * fill stored on its trade and CANCEL_TOO_LATE told; refused for good (403), the entry working
   * again in the books and CANCEL_REFUSED told. A cancel still on its way waits for the next
   * run. Answers the settlement's code, or null when nothing was settled.
   */
  async function withdrawEndedEntry(
    accountId: number,
    broker: Broker,
    decision: Decision,
    atBroker: BrokerOrder,
  ): Promise<string | null> {
    let shown = atBroker;
    let refusal: string | null = null;
    if (!isTerminal(atBroker.status)) {
      const cancelled = await broker.cancelOrder(atBroker.brokerOrderId);
      if (!cancelled.ok && cancelled.retryable) return null;
      const after = await broker.getOrder(atBroker.brokerOrderId);
      if (!after.ok) return null;
      shown = after.value;
      if (!isTerminal(shown.status)) {
        if (cancelled.ok || shown.status === "pending_cancel") return null;
        refusal = cancelled.message;
      }
    }
    const at = deps.now();
    const report = brokerOrderToReport(shown, at);
    let code: string | null = null;
    const result = await handler.handle(
      accountId,
      "poll",
      refusal === null ? report : { ...report, event: "order_cancel_rejected" },
      {
        within: async (tx, order) => {
          const filled = order?.order.filledQuantity ?? ZERO;
          const tradeId = order?.tradeId ?? null;
          const executed = refusal !== null || filled.gt(ZERO);
          const outcome =
            refusal !== null ? "CANCEL_REFUSED" : executed ? "CANCEL_TOO_LATE" : "ENTRY_CANCELED";
          const moved = await finishDecisionExecution(
            tx,
            decision.id,
            executed
              ? { executed: true }
              : {
                  executed: false,
                  reason: "ENTRY_CANCELED: the trade was cancelled as its entry was sent",
                },
            SOURCE,
            at,
          );
          if (moved === null) return [];
          code = outcome;
          await appendLog(tx, {
            entity: "decision",
            entityId: decision.id,
            event: outcome,
            source: SOURCE,
            accountId,
            decisionId: decision.id,
            tradeId,
            orderId: order?.id ?? null,
            details: {
              brokerOrderId: shown.brokerOrderId,
              status: shown.status,
              filled: filled.toFixed(),
            },
            occurredAt: at,
          });
          const trade = { decisionId: decision.id, tradeId };
          if (refusal !== null) {
            return [
              entrySubmittedNotice(decision, tradeId),
              cancelRefusedNotice(trade, decision.symbol, refusal),
            ];
          }
          if (executed && order !== null) {
            return [
              entrySubmittedNotice(decision, tradeId),
              cancelTooLateNotice(trade, decision.symbol, filled, order.order.quantity),
            ];
          }
          return order?.order.status === "canceled" ? [orderCanceledNotice(order)] : [];
        },
      },
    );
    if (result.noticesWritten > 0) await deps.jobs.requestNotify("reconcile");
    return code;
  }

  /**
   * Settles the account's decisions still `executing` whose execute job is gone: nothing else
   * will move them on. A job still waiting, retrying or running is left to finish its work.
   */
  async function settleStalledExecutions(accountId: number, broker: Broker): Promise<string[]> {
    const executing = await listExecutingDecisions(deps.db, accountId);
    if (executing.length === 0) return [];
    const chats = await recipients(accountId);
    const codes: string[] = [];
    let notices = 0;
    for (const decision of executing) {
      if (await deps.jobs.executeJobAlive(decision.id)) continue;
      const clientOrderId = entryClientOrderId(decision.id);
      const entry = await findOrderByClientOrderId(deps.db, clientOrderId);
      let entryAtBroker: boolean | null = null;
      if (entry !== null && entry.order.brokerOrderId === null) {
        const found = await broker.getOrderByClientOrderId(clientOrderId);
        if (found.ok && entry.order.status === "canceled") {
          const code = await withdrawEndedEntry(accountId, broker, decision, found.value);
          if (code !== null) {
            codes.push(code);
            deps.logger.info({ accountId, decisionId: decision.id, code }, "ended entry settled");
          }
          continue;
        }
        // Any other failure leaves it for the next run: only the broker's "not found" fails it.
        if (found.ok) entryAtBroker = true;
        else if (found.code === "NOT_FOUND") entryAtBroker = false;
      }
      const done = await settleExecution(accountId, chats, decision, entryAtBroker);
      if (done.settlement === null) continue;
      codes.push(done.settlement.code);
      notices += done.notices;
      deps.logger.info({ accountId, settlement: done.settlement }, "stalled execution settled");
    }
    if (notices > 0) await deps.jobs.requestNotify("reconcile");
    return codes;
  }

  /**
   * Fails the account's approved decisions that no execute job will run (never queued: the queue
   * was down after the approval; or its job lost), past the grace period, the trader told. The
   * claim and this move both go from `approved` only, so a job arriving meanwhile either runs
   * the decision or finds it settled.
   */
  async function settleUnstartedExecutions(accountId: number): Promise<string[]> {
    const approved = await listApprovedDecisions(deps.db, accountId);
    if (approved.length === 0) return [];
    const at = deps.now();
    const codes: string[] = [];
    let notices = 0;
    for (const decision of approved) {
      const decidedAt = (decision.decidedAt ?? decision.createdAt).getTime();
      const settlement = settleUnstartedExecution(
        {
          decisionId: decision.id,
          symbol: decision.symbol,
          dueAt: Math.max(decidedAt, decision.scheduledFor?.getTime() ?? 0),
        },
        at.getTime(),
        settings.graceMs,
      );
      if (settlement === null || (await deps.jobs.executeJobAlive(decision.id))) continue;
      const chats = await recipients(accountId);
      const reason = STALLED_REASONS[settlement.code];
      const written = await deps.db.transaction(async (tx) => {
        // A trade is recorded only after the claim: one here means something did start.
        if (await findTradeByDecision(tx, decision.id)) return null;
        const failed = await failApprovedDecision(
          tx,
          decision.id,
          `${settlement.code}: ${reason}`,
          SOURCE,
          at,
        );
        if (failed === null) return null;
        return writeNotices(
          tx,
          chats,
          [decisionRefusedNotice(decision, null, settlement.code, reason)],
          at,
        );
      });
      if (written === null) continue;
      codes.push(settlement.code);
      notices += written;
      deps.logger.warn({ accountId, settlement }, "approved decision never started: failed");
    }
    if (notices > 0) await deps.jobs.requestNotify("reconcile");
    return codes;
  }

  /** One comparison and its corrections. */
  async function reconcileOnce(accountId: number, broker: Broker): Promise<ReconciliationAction[]> {
    const now = deps.now();
    // Counted before anything else is read: an adoption recorded after this (by a /close of the
    // position) makes the judgement of its symbol stale.
    const adoptions = await listOrdersWithClientIdPrefix(deps.db, accountId, `adopt-${accountId}-`);
    const adoptionsAtRead = (symbol: string) => {
      const prefix = adoptionClientOrderIdPrefix(accountId, symbol);
      return adoptions.filter((o) => o.order.clientOrderId.startsWith(prefix)).length;
    };
    const since = new Date(now.getTime() - settings.lookbackMs);
    const recent = await listOrdersToReconcile(deps.db, accountId, since);
    const positions = await listPositions(deps.db, accountId);
    const read = await brokerBooks(broker, recent, now);
    const late = await lateFilledOwnOrders(
      accountId,
      broker,
      since,
      recent,
      positions,
      read.positions,
      read.orders,
    );
    const ours = [...recent, ...late.records];
    const books = {
      positions: read.positions,
      orders: [...read.orders, ...late.brokerOrders, ...late.foreign],
    };
    const known: KnownPosition[] = positions.map((p) => ({
      id: p.id,
      tradeId: p.tradeId,
      position: p.position,
      markPrice: p.markPrice,
      updatedAt: p.updatedAt.getTime(),
      openedAt: p.openedAt.getTime(),
    }));
    const ended = await endedTradesOfExits(deps.db, ours);
    const actions = reconcile({
      positions: known,
      orders: ours.map((o) =>
        knownOrderOf(o, o.tradeId === null ? null : (ended.get(o.tradeId) ?? null)),
      ),
      brokerPositions: books.positions,
      brokerOrders: books.orders,
      now: now.getTime(),
      graceMs: settings.graceMs,
    });
    const located = locate(books.orders);
    // Older orders of nobody here are only prices: not the desk's work racing this run.
    const unknownAtRead = ordersUnknownAtRead([...read.orders, ...late.brokerOrders], ours);
    const chats = await recipients(accountId);
    const handled = new Set<string>();
    let notices = 0;
    // A correction that fails (a cancel the broker keeps refusing) must not hold up the ones
    // after it, a missing stop of another position among them: each is tried, and the run
    // fails afterwards with the first error, to be run again.
    let failure: unknown = null;
    for (const action of actions) {
      try {
        notices += await applyAction(
          accountId,
          broker,
          chats,
          action,
          located,
          handled,
          unknownAtRead,
          adoptionsAtRead,
        );
        deps.logger.info({ accountId, action }, "reconciliation correction");
      } catch (error) {
        deps.logger.error({ accountId, action, err: error }, "reconciliation correction failed");
        failure ??= error;
      }
    }
    if (notices > 0) await deps.jobs.requestNotify("reconcile");
    if (failure !== null) throw failure;
    return actions;
  }

  /** Reconciles one account: a second pass when fills were inferred, on the corrected books. */
  async function reconcileAccount(payload: ReconcilePayload): Promise<ReconcileResult> {
    const broker = await deps.brokerFor(payload.accountId);
    // Before the comparison, so an entry closed here is not also reported as unknown, and one
    // confirmed here is followed by it at once.
    const codes = await settleStalledExecutions(payload.accountId, broker);
    codes.push(...(await settleUnstartedExecutions(payload.accountId)));
    let passes = 0;
    for (let pass = 1; pass <= 2; pass++) {
      passes = pass;
      const actions = await reconcileOnce(payload.accountId, broker);
      codes.push(...actions.map((a) => a.code));
      if (!actions.some((a) => a.code === "MISSED_FILL_INFERRED")) break;
    }
    return { accountId: payload.accountId, actions: codes, passes };
  }

  return async function processReconcile(job: Pick<Job, "data">): Promise<ReconcileResult> {
    return reconcileAccount(reconcilePayloadSchema.parse(job.data));
  };
}
