/**
 * The one idempotent order-event handler. The trade stream, polling and the answers to our own
 * submits all arrive here as order reports. For each report, in one transaction under the lock of
 * the account's symbol: find our order (by broker id, else client id; a leg by its parent),
 * apply the events it has not seen (the state machine drops duplicates by execution id), write
 * the notices for what changed, and after commit enqueue what comes next (protection on entry
 * fills, checks after exit fills and ended orders).
 */

import type { Database } from "../db/database";
import { listChildOrders, lockReportedOrders } from "../db/lifecycleQueries";
import { applyOrderUpdate, type OrderUpdate } from "../db/orderEvents";
import type { OrderStateCache } from "../db/orderStateCache";
import { isProtectiveRole, type OrderRecord } from "../db/orders";
import type { TradeRecord } from "../db/trades";
import type { BrokerOrder } from "../domain/broker";
import { dec } from "../domain/money";
import { applyOrderEvent, isTerminal } from "../domain/orderStateMachine";
import { isEntryRole } from "../domain/trade";
import { brokerOrderFromData, type OrderReportData } from "./brokerOrderPayload";
import type { JobDeps } from "./context";
import { orderCanceledNotice } from "./entryNotices";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import type { OrderReportSource, ProtectionReason } from "./queues";
import {
  eventsForReport,
  type ReportedExecution,
  roleOfLeg,
  unpricedFillQuantity,
} from "./reportEvents";
import { withRaceRetry } from "./transactions";

/** Work to enqueue once the report's transaction has committed. */
export interface ProtectionRequest {
  readonly tradeId: number;
  readonly reason: ProtectionReason;
  readonly fillId: number | null;
}

export interface ReportHandled {
  /** False when no order of ours matches the report (an order placed outside the desk). */
  readonly known: boolean;
  /** Our order after the report (the top-level order, not its legs). */
  readonly order: OrderRecord | null;
  /** Every change applied, legs included. */
  readonly updates: readonly OrderUpdate[];
  readonly protections: readonly ProtectionRequest[];
  readonly noticesWritten: number;
}

export interface HandleOptions {
  /**
   * More work for the same transaction (after the report is applied): e.g. the execute job
   * marks its decision executed and writes its notice together with the acknowledgement.
   */
  readonly within?: (tx: Database, order: OrderRecord | null) => Promise<readonly PendingNotice[]>;
  /** Protect entry fills in the report's own transaction (see `InlineProtection`). */
  readonly protectInline?: InlineProtection;
}

/**
 * Protects an entry fill in the transaction that applies it: called inside that transaction,
 * under the symbol lock, it records the exits the fill needs (so the fill and its exits commit
 * together) and answers what sends them once the transaction commits; null when it cannot (the
 * protect job does it instead). One queue hop and one transaction less between a fill and its
 * stop. A protect job is asked for a few seconds later as the safety net, and withdrawn once the
 * send answers true (every exit at the broker, its answer stored): it stays for what a failed
 * send or a crash left.
 */
export type InlineProtection = (
  tx: Database,
  accountId: number,
  request: ProtectionRequest,
  current?: TradeState,
) => Promise<(() => Promise<boolean>) | null>;

/**
 * A trade and its orders as they stand inside the report's transaction: read under the symbol
 * lock with the report, with the report's own changes applied (every writer of a trade's orders
 * holds that lock, so nothing else changed them).
 */
export interface TradeState {
  readonly trade: TradeRecord;
  readonly orders: readonly OrderRecord[];
}

/** How long the safety-net protect job waits behind an inline protection. */
export const PROTECTION_SAFETY_NET_MS = 5_000;

export interface OrderReportHandler {
  handle(
    accountId: number,
    source: OrderReportSource,
    report: OrderReportData,
    options?: HandleOptions,
  ): Promise<ReportHandled>;
}

/**
 * The trade a report just acknowledged protection for: an exit group the protect job placed (an
 * OCO's take-profit parent, or a lone stop) getting its first broker id, by whichever path the
 * acknowledgement arrives (the submit's answer, the stream, a poll). Null otherwise.
 */
function protectionPlaced(before: OrderRecord, after: OrderRecord): number | null {
  const o = after.order;
  if (after.tradeId === null || after.parentOrderId !== null) return null;
  if (!isProtectiveRole(o.role) || o.orderClass === "bracket") return null;
  if (before.order.brokerOrderId !== null || o.brokerOrderId === null) return null;
  return o.status === "rejected" ? null : after.tradeId;
}

/**
 * Waits for both (unlike `Promise.all`, never leaving one running unwatched after the other
 * failed: inside a transaction the second's failure would otherwise go unhandled).
 */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === "rejected") throw x.reason;
  if (y.status === "rejected") throw y.reason;
  return [x.value, y.value];
}

/** The lock name for an account's symbol: every order and position change of it goes one at a time. */
export function symbolLockName(accountId: number, symbol: string): string {
  return `desk:symbol:${accountId}:${symbol}`;
}

const EVENT_SOURCE = { stream: "stream", poll: "poll", submit: "poll" } as const;

/** Builds the handler. */
export function createOrderReportHandler(deps: JobDeps): OrderReportHandler {
  const recipients = createRecipientLookup(deps);

  async function applyTo(
    tx: Database,
    record: OrderRecord,
    order: BrokerOrder,
    source: OrderReportSource,
    report: Pick<OrderReportData, "event" | "at">,
    execution: ReportedExecution | null,
    out: { updates: OrderUpdate[]; notices: PendingNotice[]; protections: ProtectionRequest[] },
    cache: OrderStateCache,
  ): Promise<OrderRecord> {
    let current = record;
    // The desk's clock times a pending cancel's grace: the broker dates its report by its own
    // last change, which may come before the cancel was asked for.
    const events = eventsForReport(current.order, order, {
      event: report.event,
      execution,
      at: report.at,
      now: deps.now(),
    });
    const unpriced = unpricedFillQuantity(current.order, order, execution);
    if (unpriced !== null) {
      deps.logger.warn(
        { orderId: current.id, source, unpricedQuantity: unpriced.toFixed() },
        "the broker reports shares filled without an average price; they are booked once a report prices them",
      );
    }
    for (const { event, inferred } of events) {
      // Judged first on the order as read under the lock: an event that changes nothing needs no
      // write (nor the read behind it), and our own submit's answer, when the stream has already
      // moved the order on, is older news rather than a transition to flag.
      const judged = applyOrderEvent(current.order, event);
      if (judged.ok && !judged.value.changed) continue;
      if (!judged.ok && judged.code === "ILLEGAL_TRANSITION" && source === "submit") continue;
      // Likewise a status the broker reported with less filled than the books already hold (an
      // order's "new" handled after its own fill): a moment the order has moved past. A status
      // the books cannot be past (as much filled as they know) is still refused and flagged.
      if (
        !judged.ok &&
        judged.code === "ILLEGAL_TRANSITION" &&
        event.event !== "fill" &&
        event.event !== "partial_fill" &&
        order.filledQty.lt(current.order.filledQuantity)
      ) {
        continue;
      }
      const before = current;
      const applied = await applyOrderUpdate(tx, { orderId: current.id }, event, {
        source: inferred ? "inferred" : EVENT_SOURCE[source],
        recordedAt: deps.now(),
        // From the rows read under the lock; a lost race fails the report's transaction, which
        // `handle` runs again whole.
        cache,
        raceRetry: "caller",
      });
      if (!applied.ok) {
        if (applied.code === "UNKNOWN_ORDER") throw new Error(applied.message);
        // Refused events are flagged in the execution log by the repository.
        deps.logger.warn(
          { orderId: current.id, code: applied.code, event: event.event },
          "order event refused",
        );
        continue;
      }
      if (!applied.value.changed) continue;
      const refused = applied.value.tradeRefusal;
      if (
        source === "stream" &&
        refused?.code === "ILLEGAL_TRANSITION" &&
        (refused.from === "ORDERED" || refused.from === "CANCELLED") &&
        !isEntryRole(current.order.role)
      ) {
        // An exit's fill streamed ahead of its entry's (events of one symbol may overtake each
        // other): stored now, the trade journal would lose it for good. Nothing of the report is
        // kept; it is handled again once the entry's fill is in (the queue's retry, or a poll,
        // which takes an entry before its legs and before the exits placed after it, so never
        // meets this and is never held up by it).
        throw new Error(
          `order ${current.id}: exit fill before its trade ${current.tradeId} has a position`,
        );
      }
      current = applied.value.record;
      out.updates.push(applied.value);
      consequences(before, applied.value, out);
    }
    return current;
  }

  function consequences(
    before: OrderRecord,
    update: OrderUpdate,
    out: { notices: PendingNotice[]; protections: ProtectionRequest[] },
  ): void {
    const record = update.record;
    const order = record.order;
    const tradeId = record.tradeId;
    if (update.fill) {
      const fill = update.fill;
      out.notices.push({
        key: `fill-${fill.executionId}`,
        notice: {
          kind: "ORDER_FILLED",
          tradeId,
          symbol: order.symbol,
          side: order.side,
          role: order.role,
          executionId: fill.executionId,
          fillQuantity: fill.quantity.toFixed(),
          fillPrice: fill.price.toFixed(),
          filledQuantity: order.filledQuantity.toFixed(),
          orderQuantity: order.quantity.toFixed(),
          complete: order.filledQuantity.gte(order.quantity),
          clientOrderId: order.clientOrderId,
        },
      });
      if (tradeId !== null && isEntryRole(order.role)) {
        // A bracket's own legs protect it; anything else gets exits from the protect job, and
        // so does a late fill on a bracket that had already ended (its legs went with it).
        if (order.orderClass !== "bracket" || isTerminal(before.order.status)) {
          out.protections.push({ tradeId, reason: "entry_fill", fillId: fill.id });
        }
      } else if (tradeId !== null) {
        const trade = update.trade?.trade;
        if (trade?.status === "CLOSED" && trade.exitReason !== null) {
          out.notices.push({
            key: `closed-${tradeId}`,
            notice: {
              kind: "TRADE_CLOSED",
              tradeId,
              symbol: trade.symbol,
              exitReason: trade.exitReason,
              quantity: trade.exitQuantity.toFixed(),
              averageEntryPrice: (trade.averageEntryPrice ?? dec(0)).toFixed(),
              averageExitPrice: (trade.averageExitPrice ?? dec(0)).toFixed(),
              realizedPnl: trade.realizedPnl.toFixed(),
              rMultiple: trade.rMultiple?.toFixed() ?? null,
            },
          });
        }
        out.protections.push({ tradeId, reason: "exit_fill", fillId: null });
      }
    }
    const ended = isTerminal(order.status) && !isTerminal(before.order.status);
    if (!ended) return;
    if (isEntryRole(order.role)) {
      if (order.status === "rejected") {
        out.notices.push({
          key: `rejected-${record.id}`,
          notice: {
            kind: "ORDER_REJECTED",
            decisionId: null,
            tradeId,
            symbol: order.symbol,
            code: order.rejection?.source === "risk" ? "RISK_CHECK" : "BROKER_REJECTED",
            reason: order.rejection?.reason ?? "rejected",
          },
        });
      } else if (order.status !== "filled") {
        out.notices.push(orderCanceledNotice(record));
      }
      // The filled part of an entry that will fill no more needs protection of its own
      // (what the broker does with a partly filled bracket's legs is not documented).
      if (tradeId !== null && order.filledQuantity.gt(0) && order.status !== "filled") {
        out.protections.push({ tradeId, reason: "entry_ended", fillId: null });
      }
    } else if (tradeId !== null && isProtectiveRole(order.role) && order.status !== "filled") {
      // An exit that ended unfilled: fine when its sibling filled, a hole otherwise.
      out.protections.push({ tradeId, reason: "repair", fillId: null });
    }
  }

  async function handle(
    accountId: number,
    source: OrderReportSource,
    report: OrderReportData,
    options: HandleOptions = {},
  ): Promise<ReportHandled> {
    const order = brokerOrderFromData(report.order);
    const execution: ReportedExecution | null =
      report.executionId !== null && report.qty !== null && report.price !== null
        ? { executionId: report.executionId, quantity: dec(report.qty), price: dec(report.price) }
        : null;
    const chats = await recipients(accountId);
    const result = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        // The lock and the read in one round trip, the read seeing what the previous holder
        // committed.
        const reported = await lockReportedOrders(
          tx,
          symbolLockName(accountId, order.symbol),
          order,
          order.legs,
        );
        const ours = (found: OrderRecord | null) =>
          found !== null && found.accountId === accountId ? found : null;
        const record = ours(reported.order);
        const out = {
          updates: [] as OrderUpdate[],
          notices: [] as PendingNotice[],
          protections: [] as ProtectionRequest[],
        };
        let after: OrderRecord | null = null;
        if (record) {
          after = await applyTo(tx, record, order, source, report, execution, out, reported.cache);
          // The legs as stored before this report, read with it (legs only change through it).
          const childrenOf = async (parentId: number): Promise<readonly OrderRecord[]> =>
            parentId === record.id ? reported.children : listChildOrders(tx, parentId);
          const protection = protectionPlaced(record, after);
          if (protection) {
            const stop =
              after.order.role === "STOP_LOSS"
                ? after
                : (await childrenOf(after.id)).find((c) => c.order.role === "STOP_LOSS");
            out.notices.push({
              key: `protected-${after.id}`,
              notice: {
                kind: "PROTECTION_PLACED",
                tradeId: protection,
                symbol: after.order.symbol,
                quantity: after.order.quantity.toFixed(),
                stopPrice: (stop?.order.stopPrice ?? dec(0)).toFixed(),
                targetPrice:
                  after.order.role === "TAKE_PROFIT"
                    ? (after.order.limitPrice?.toFixed() ?? null)
                    : null,
              },
            });
          }
          const appliedLegs = new Set<number>();
          for (const leg of order.legs) {
            // A leg is one of the children read above, by its ids, else the first unacknowledged
            // child of its role; elsewhere only when the children do not have it.
            const children = await childrenOf(record.id);
            const legRecord =
              children.find(
                (child) =>
                  child.order.brokerOrderId === leg.brokerOrderId ||
                  child.order.clientOrderId === leg.clientOrderId,
              ) ??
              ours(reported.leg(leg)) ??
              children.find(
                (child) =>
                  child.order.brokerOrderId === null &&
                  child.order.role === roleOfLeg(leg) &&
                  !appliedLegs.has(child.id),
              ) ??
              null;
            if (legRecord) {
              appliedLegs.add(legRecord.id);
              await applyTo(
                tx,
                legRecord,
                leg,
                source,
                { event: null, at: report.at },
                null,
                out,
                reported.cache,
              );
            }
          }
        }
        // The report's trade as it now stands, when the report changed it (else read afresh).
        const tradeStateOf = (tradeId: number): TradeState | undefined => {
          const trade = out.updates.findLast((u) => u.trade?.id === tradeId)?.trade;
          if (!trade || record?.tradeId !== tradeId) return undefined;
          const latest = new Map(out.updates.map((u) => [u.record.id, u.record]));
          return { trade, orders: reported.tradeOrders.map((o) => latest.get(o.id) ?? o) };
        };
        // An entry fill's exits are recorded with it, once per trade: they cover the trade's
        // whole open quantity, whatever number of fills this report brought. The notices go out
        // meanwhile (one connection: the statements queue up instead of waiting for each other).
        const inline = options.protectInline;
        const recording = (async () => {
          const sends = new Map<number, () => Promise<boolean>>();
          if (!inline) return sends;
          for (const p of out.protections) {
            if (p.reason !== "entry_fill" || sends.has(p.tradeId)) continue;
            const send = await inline(tx, accountId, p, tradeStateOf(p.tradeId));
            if (send) sends.set(p.tradeId, send);
          }
          return sends;
        })();
        const noticing = (async () => {
          if (options.within) out.notices.push(...(await options.within(tx, after)));
          return writeNotices(tx, chats, out.notices, deps.now());
        })();
        const [sends, noticesWritten] = await bothSettled(recording, noticing);
        return { known: record !== null, order: after, ...out, noticesWritten, sends };
      }),
    );
    const seen = new Set<string>();
    for (const p of result.protections) {
      const key = `${p.tradeId}-${p.reason}-${p.fillId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (p.reason === "entry_fill" && result.sends.has(p.tradeId)) {
        // Recorded inline: the exits go out first, and the safety net is asked for while they
        // are on their way (its request would otherwise hold up the send's first step).
        const send = result.sends.get(p.tradeId);
        result.sends.delete(p.tradeId);
        const sending = send?.();
        const [, covered] = await Promise.all([
          deps.jobs.requestProtection(accountId, p.tradeId, p.reason, p.fillId, {
            delayMs: PROTECTION_SAFETY_NET_MS,
          }),
          sending,
        ]);
        // Covered: the safety net would only find the exits at the broker, at the cost of a
        // job and its reads beside the next fills.
        if (covered === true && p.fillId !== null) {
          await deps.jobs.withdrawFillProtection(p.tradeId, p.fillId);
        }
      } else {
        await deps.jobs.requestProtection(accountId, p.tradeId, p.reason, p.fillId);
      }
    }
    if (result.noticesWritten > 0) await deps.jobs.requestNotify("order-event");
    return {
      known: result.known,
      order: result.order,
      updates: result.updates,
      protections: result.protections,
      noticesWritten: result.noticesWritten,
    };
  }

  return { handle };
}
