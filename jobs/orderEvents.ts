/**
 * The `order-events` processor: order reports go to the one idempotent handler; a poll lists the
 * account's recent orders at the broker and hands the handler every order (or leg) whose status
 * or filled quantity differs from ours. Polling is the stream's fallback and its repair after a
 * reconnect, since the stream does not replay what it missed.
 *
 * The broker lists orders by when they were submitted, so the lookback leaves out an order
 * submitted earlier that is still working in our books (a GTC stop placed days ago): those that
 * are not open at the broker any more have ended there, and are read one by one.
 */
import type { Job } from "bullmq";
import { listOrdersByIds } from "../db/lifecycleQueries";
import { listOpenOrders, type OrderRecord } from "../db/orders";
import type { BrokerOrder, TradeUpdate } from "../domain/broker";
import { isTerminal } from "../domain/orderStateMachine";
import { isEntryRole } from "../domain/trade";
import { brokerOrderToReport, tradeUpdateToReport } from "./brokerOrderPayload";
import type { JobDeps } from "./context";
import type { InlineProtection, OrderReportHandler } from "./orderReports";
import { orderEventsPayloadSchema } from "./queues";

/** How many times a report for an order we do not know yet is retried (its submit may still be recording it). */
const UNKNOWN_ORDER_ATTEMPTS = 3;

export type OrderEventsResult =
  | { readonly kind: "report"; readonly known: boolean; readonly changes: number }
  | { readonly kind: "poll"; readonly listed: number; readonly handled: number };

/** Whether the broker's view of an order is news to us. */
export function differsFromOurs(order: BrokerOrder, ours: OrderRecord | undefined): boolean {
  if (!ours) return false;
  if (order.filledQty.gt(ours.order.filledQuantity)) return true;
  if (ours.order.brokerOrderId === null) return true;
  return !isTerminal(ours.order.status) && ours.order.status !== order.status;
}

/**
 * Handles a trade-stream event in the process that holds the stream, without the queue hop:
 * answers whether an order of ours matched (a report for an order it does not know yet goes to
 * the queue, whose retries wait for a submit still recording it). The stream holder hands the
 * queue whatever this does not finish; a holder that dies mid-way loses its stream, and the next
 * holder's poll and reconciliation find what it had not stored, as for any stream gap.
 */
export function createStreamEventHandler(options: {
  readonly handler: OrderReportHandler;
  readonly protectInline?: InlineProtection;
}): (accountId: number, update: TradeUpdate) => Promise<boolean> {
  const inline = options.protectInline ? { protectInline: options.protectInline } : {};
  return async (accountId, update) => {
    const result = await options.handler.handle(
      accountId,
      "stream",
      tradeUpdateToReport(update),
      inline,
    );
    return result.known;
  };
}

/** Builds the `order-events` processor. */
export function createOrderEventsProcessor(
  deps: JobDeps,
  options: {
    readonly handler: OrderReportHandler;
    /** Places an entry fill's exits in the same job (the protect job follows as a safety net). */
    readonly protectInline?: InlineProtection;
  },
) {
  const handler = options.handler;
  const inline = options.protectInline ? { protectInline: options.protectInline } : {};

  async function poll(accountId: number): Promise<OrderEventsResult> {
    const broker = await deps.brokerFor(accountId);
    const listed = await broker.listOrders({
      status: "all",
      after: new Date(deps.now().getTime() - deps.settings.pollLookbackMs),
      limit: 500,
      nested: true,
      direction: "desc",
    });
    if (!listed.ok) throw new Error(`polling orders failed: ${listed.message}`);
    const reported = [...listed.value];
    const flat: BrokerOrder[] = [];
    for (const order of reported) flat.push(order, ...order.legs);
    const listedIds = new Set(flat.map((o) => o.brokerOrderId));
    const older = (await listOpenOrders(deps.db, accountId)).filter(
      (o) => o.order.brokerOrderId !== null && !listedIds.has(o.order.brokerOrderId),
    );
    if (older.length > 0) {
      // Not nested: every open leg is listed on its own, also one whose parent has ended.
      const open = await broker.listOrders({ status: "open", limit: 500, nested: false });
      if (!open.ok) throw new Error(`polling open orders failed: ${open.message}`);
      const openIds = new Set(
        open.value.flatMap((o) => [o, ...o.legs]).map((o) => o.brokerOrderId),
      );
      const ended: BrokerOrder[] = [];
      for (const record of older) {
        const brokerOrderId = record.order.brokerOrderId as string;
        if (openIds.has(brokerOrderId) || listedIds.has(brokerOrderId)) continue;
        const found = await broker.getOrder(brokerOrderId);
        if (!found.ok) {
          // Gone at the broker: reconciliation settles it.
          if (found.code === "NOT_FOUND") continue;
          throw new Error(`polling order ${brokerOrderId} failed: ${found.message}`);
        }
        for (const o of [found.value, ...found.value.legs]) listedIds.add(o.brokerOrderId);
        ended.push(found.value);
        flat.push(found.value, ...found.value.legs);
      }
      // Submitted before everything listed: oldest, so handled first.
      reported.push(...ended.reverse());
    }
    const ours = await listOrdersByIds(
      deps.db,
      accountId,
      flat.map((o) => o.brokerOrderId),
      flat.map((o) => o.clientOrderId).filter((id) => id.length > 0),
    );
    const byBrokerId = new Map<string, OrderRecord>();
    const byClientId = new Map<string, OrderRecord>();
    for (const o of ours) {
      if (o.order.brokerOrderId) byBrokerId.set(o.order.brokerOrderId, o);
      byClientId.set(o.order.clientOrderId, o);
    }
    let handled = 0;
    // Oldest first: entries before the exits that followed them.
    for (const order of [...reported].reverse()) {
      const news = [order, ...order.legs].some((o) =>
        differsFromOurs(o, byBrokerId.get(o.brokerOrderId) ?? byClientId.get(o.clientOrderId)),
      );
      if (!news) continue;
      await handler.handle(accountId, "poll", brokerOrderToReport(order, deps.now()), inline);
      handled += 1;
    }
    return { kind: "poll", listed: reported.length, handled };
  }

  return async function processOrderEvents(job: Job): Promise<OrderEventsResult> {
    const payload = orderEventsPayloadSchema.parse(job.data);
    if (payload.kind === "poll") return poll(payload.accountId);
    const result = await handler.handle(payload.accountId, payload.source, payload.report, inline);
    const order = result.order;
    if (
      (job.attemptsStarted > 1 || payload.redelivered === true) &&
      order?.tradeId != null &&
      isEntryRole(order.order.role) &&
      order.order.orderClass !== "bracket" &&
      order.order.filledQuantity.gt(0)
    ) {
      // An earlier attempt may have applied the fill and died before its exits went out; this
      // one found the fill applied and asked for nothing, so the protect job makes sure.
      await deps.jobs.requestProtection(payload.accountId, order.tradeId, "entry_fill");
    }
    if (!result.known) {
      if (job.attemptsMade + 1 < UNKNOWN_ORDER_ATTEMPTS) {
        throw new Error(`no order of ours matches ${payload.report.order.brokerOrderId} yet`);
      }
      // Not ours (placed outside the desk): reconciliation adopts or reports it.
      deps.logger.info(
        { accountId: payload.accountId, brokerOrderId: payload.report.order.brokerOrderId },
        "order report for an order the desk did not place",
      );
      await deps.jobs.requestReconcile(payload.accountId, "unknown-order");
    }
    return { kind: "report", known: result.known, changes: result.updates.length };
  };
}
