/**
 * The `protect` processor: a trade's live stop always covers its open quantity.
 *
 * For an open trade, under the lock of its symbol: count what its working stops cover (a
 * bracket's legs count for what its entry has filled, a stop less what the other exit of its
 * group has filled), and record an OCO stop and target (or a lone stop when the trade has no
 * target) for the rest; a fraction of a share gets none (the broker takes no stop for it), and
 * the trader is told. The record commits before anything is
 * sent; the client order id is derived from the trade and a sequence number taken under the
 * lock, so a retry, or a second worker, finds the same order instead of placing another one.
 * Every recorded exit the broker has not acknowledged is then sent (looked up first when an
 * earlier run recorded it). When the stop cannot be placed because the market is already
 * through it, what no working stop holds is closed at market instead; a refusal of that close is
 * told to the trader.
 *
 * A closing order on its way (a /close or a flatten, recorded before the exits are cancelled)
 * covers the position. One recorded so long ago that its job may be gone for good is looked up at
 * the broker first: acknowledged there, it covers; unknown there, it is ended and the position
 * protected again (see `closeOrders.ts`).
 *
 * For a closed or cancelled trade: no exit may stay working (an OCO sibling the broker did not
 * cancel, a leg of a cancelled entry), so any left is cancelled.
 */
import { type Job, UnrecoverableError } from "bullmq";
import type { Database } from "../db/database";
import { lockName } from "../db/lifecycleQueries";
import { applyOrderUpdate } from "../db/orderEvents";
import { insertOrderGroup } from "../db/orderGroups";
import { insertOrder, isProtectiveRole, listOrdersForTrade, type OrderRecord } from "../db/orders";
import { findTrade, type TradeRecord } from "../db/trades";
import { type Broker, closingIntent, type OrderRequest } from "../domain/broker";
import { type Decimal, sumDecimals, ZERO } from "../domain/money";
import { createOrder } from "../domain/order";
import { isTerminal } from "../domain/orderStateMachine";
import { entrySide, isEntryRole, type Trade } from "../domain/trade";
import { brokerOrderToReport } from "./brokerOrderPayload";
import { endUnsentClose, isStaleUnsentClose } from "./closeOrders";
import type { JobDeps } from "./context";
import { exitSideOf } from "./entryOrders";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import {
  type InlineProtection,
  type OrderReportHandler,
  symbolLockName,
  type TradeState,
} from "./orderReports";
import { type ProtectPayload, protectPayloadSchema } from "./queues";
import { withRaceRetry } from "./transactions";

const SOURCE = "job:protect";

export type ProtectResult =
  | { readonly outcome: "covered"; readonly sent: number; readonly openQuantity: string }
  | { readonly outcome: "cleaned"; readonly cancelled: number }
  | { readonly outcome: "flattened"; readonly quantity: string }
  | { readonly outcome: "skipped"; readonly reason: string };

/** The client order id prefix of the exits the protect job places for a trade. */
export function protectiveClientOrderIdPrefix(tradeId: number): string {
  return `t${tradeId}-x`;
}

/** An exit to send: the parent row (OCO take-profit, or the lone stop) and its stop leg. */
interface ExitToSend {
  readonly parent: OrderRecord;
  readonly stop: OrderRecord | null;
  /** Recorded by an earlier run: look it up before posting. */
  readonly earlier: boolean;
}

/** The trade the exits are for. */
interface TradeRef {
  readonly id: number;
  readonly accountId: number;
}

/**
 * Exits recorded for a trade and still to send, with the trade's open quantity; or, with nothing
 * recorded, the closes recorded long ago and not acknowledged that must be looked up first.
 */
interface ExitPlan {
  readonly trade: TradeRef;
  readonly toSend: readonly ExitToSend[];
  readonly open: Decimal;
  readonly staleCloses: readonly OrderRecord[];
  readonly symbol: string;
  /** The fraction of a share left uncovered: the broker takes no stop for it. */
  readonly unprotectable: Decimal;
}

/**
 * What a working stop covers of the open quantity. A fill of the other exit of its group (an
 * OCO's take-profit, a bracket's target leg) shrinks it at the broker by as much, while its own
 * row keeps the quantity it was placed with.
 */
function stopCoverage(
  stop: OrderRecord,
  byId: ReadonlyMap<number, OrderRecord>,
  orders: readonly OrderRecord[],
): Decimal {
  const parent = stop.parentOrderId === null ? undefined : byId.get(stop.parentOrderId);
  const otherExits = orders.filter(
    (o) =>
      o.id !== stop.id &&
      !isEntryRole(o.order.role) &&
      ((parent !== undefined && o.id === parent.id) ||
        (stop.parentOrderId !== null && o.parentOrderId === stop.parentOrderId)),
  );
  const left = stop.order.quantity
    .minus(stop.order.filledQuantity)
    .minus(sumDecimals(otherExits.map((o) => o.order.filledQuantity)));
  const remaining = left.gt(ZERO) ? left : ZERO;
  // A bracket leg covers what its entry has filled (all of it once the entry is done). The broker
  // arms the legs only on the entry's complete fill: those of an entry cancelled or expired short
  // of it never work, whatever status our books still give them (their own events may be lost).
  if (parent && isEntryRole(parent.order.role)) {
    const status = parent.order.status;
    if (status === "canceled" || status === "expired") return ZERO;
    return remaining.lt(parent.order.filledQuantity) ? remaining : parent.order.filledQuantity;
  }
  return remaining;
}

/**
 * What the trade's working stops, and closing orders on their way (a /close or a flatten, from
 * the moment it is recorded, before it is sent), leave uncovered of its open quantity. A closing
 * order holds the shares a new stop would need: placing one beside it would fail at the broker,
 * or make the close fail. A close recorded long ago and never acknowledged does not count.
 */
function uncoveredQuantity(trade: Trade, orders: readonly OrderRecord[], now: Date): Decimal {
  const byId = new Map(orders.map((o) => [o.id, o]));
  const working = orders.filter((o) => !isTerminal(o.order.status));
  const stops = working.filter((o) => o.order.role === "STOP_LOSS");
  const closing = working.filter((o) => o.order.role === "EXIT" && !isStaleUnsentClose(o, now));
  return trade.quantity
    .minus(sumDecimals(stops.map((s) => stopCoverage(s, byId, orders))))
    .minus(sumDecimals(closing.map((c) => c.order.quantity.minus(c.order.filledQuantity))));
}

/**
 * The exits the protect job recorded (client order id under `prefix`) that the broker has not
 * acknowledged yet, each with its stop leg; those not in `created` were recorded by an earlier run.
 */
function unsentExits(
  orders: readonly OrderRecord[],
  prefix: string,
  created: ReadonlySet<number>,
): ExitToSend[] {
  return orders
    .filter(
      (o) =>
        o.parentOrderId === null &&
        o.order.clientOrderId.startsWith(prefix) &&
        o.order.brokerOrderId === null &&
        !isTerminal(o.order.status),
    )
    .map((parent) => ({
      parent,
      stop:
        parent.order.role === "STOP_LOSS"
          ? null
          : (orders.find((o) => o.parentOrderId === parent.id && o.order.role === "STOP_LOSS") ??
            null),
      earlier: !created.has(parent.id),
    }));
}

/** The broker request for an exit recorded by the protect job. */
function exitRequestOf(exit: ExitToSend): OrderRequest {
  const { parent, stop } = exit;
  const o = parent.order;
  const common = {
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    qty: o.quantity,
    timeInForce: o.timeInForce,
  };
  if (o.orderClass === "oco" && stop && o.limitPrice && stop.order.stopPrice) {
    return {
      ...common,
      orderClass: "oco",
      takeProfit: { limitPrice: o.limitPrice },
      stopLoss: { stopPrice: stop.order.stopPrice },
    };
  }
  // A lone exit only ever closes: left working after its position is gone, it must not open one.
  const closing = { ...common, positionIntent: closingIntent(o.side) };
  if (o.type === "market") return { ...closing, orderClass: "simple", entry: { type: "market" } };
  if (!o.stopPrice) throw new Error(`exit ${o.clientOrderId} has no stop price`);
  return { ...closing, orderClass: "simple", entry: { type: "stop", stopPrice: o.stopPrice } };
}

/** Builds the `protect` processor. */
export function createProtectProcessor(deps: JobDeps, options: { handler: OrderReportHandler }) {
  const handler = options.handler;
  const recipients = createRecipientLookup(deps);

  /**
   * Records the exits the open quantity still needs; answers every exit not yet at the broker.
   * The caller holds the symbol lock inside `tx`, or passes the taking of it as `lock`.
   */
  async function recordMissingExits(
    tx: Database,
    trade: TradeRef,
    fillId: number | null,
    lock: Promise<void> = Promise.resolve(),
    known?: TradeState,
  ): Promise<ExitPlan | null> {
    // Both read once the lock is held (sent behind a lock statement still being described, a
    // read would overtake it), unless the caller holds them as they stand.
    if (!known) await lock;
    const [current, orders] = known
      ? [known.trade, known.orders]
      : await Promise.all([findTrade(tx, trade.id), listOrdersForTrade(tx, trade.id)]);
    if (current?.trade.status !== "POSITION") return null;
    const t = current.trade;
    const now = deps.now();
    const staleCloses = orders.filter((o) => isStaleUnsentClose(o, now));
    // Maybe at the broker after all (sent, its answer lost): looked up before a stop is placed.
    const common = { trade, open: t.quantity, symbol: t.symbol };
    if (staleCloses.length > 0) {
      return { ...common, toSend: [], staleCloses, unprotectable: ZERO };
    }
    const bare = uncoveredQuantity(t, orders, now);
    // The broker takes fractional orders as day market orders only: a stop or an OCO for a
    // fraction of a share is refused, and would take the whole shares' protection down with it.
    // The whole shares are covered; the fraction is told to the trader.
    const unprotectable = bare.gt(ZERO) ? bare.minus(bare.floor()) : ZERO;
    const uncovered = bare.minus(unprotectable);
    const prefix = protectiveClientOrderIdPrefix(trade.id);
    const created = new Set<number>();
    // What this run inserted or found already there, beside the rows read above (no second read).
    const recorded: OrderRecord[] = [];
    if (uncovered.gt(ZERO)) {
      const sequence =
        orders.filter((o) => o.parentOrderId === null && o.order.clientOrderId.startsWith(prefix))
          .length + 1;
      const clientOrderId = `${prefix}${sequence}`;
      const exitSide = exitSideOf(entrySide(t.side));
      const iso = now.toISOString();
      const base = {
        symbol: t.symbol,
        side: exitSide,
        timeInForce: "gtc" as const,
        quantity: uncovered,
      };
      const rows = {
        accountId: trade.accountId,
        tradeId: trade.id,
        ...(fillId === null ? {} : { protectsFillId: fillId }),
      };
      const stopOrder = (id: string, orderClass: "oco" | "simple") =>
        createOrder(
          {
            ...base,
            clientOrderId: id,
            type: "stop",
            orderClass,
            role: "STOP_LOSS",
            limitPrice: null,
            stopPrice: t.plannedStopPrice,
          },
          iso,
          orderClass === "oco" ? "held" : undefined,
        );
      // One group: the OCO's take-profit with its stop leg, or a lone stop.
      const group =
        t.plannedTargetPrice !== null
          ? await insertOrderGroup(
              tx,
              {
                ...rows,
                expectedPrice: t.plannedTargetPrice,
                order: createOrder(
                  {
                    ...base,
                    clientOrderId,
                    type: "limit",
                    orderClass: "oco",
                    role: "TAKE_PROFIT",
                    limitPrice: t.plannedTargetPrice,
                    stopPrice: null,
                  },
                  iso,
                ),
              },
              [
                {
                  ...rows,
                  expectedPrice: t.plannedStopPrice,
                  order: stopOrder(`${clientOrderId}-sl`, "oco"),
                },
              ],
              SOURCE,
              now,
            )
          : await insertOrderGroup(
              tx,
              {
                ...rows,
                expectedPrice: t.plannedStopPrice,
                order: stopOrder(clientOrderId, "simple"),
              },
              [],
              SOURCE,
              now,
            );
      const members = [group.parent, ...group.legs];
      recorded.push(...members.map((m) => m.record));
      if (group.parent.created) created.add(group.parent.record.id);
      if (members.some((m) => !m.created)) {
        // Another run already protects this fill: the unsent check below picks it up.
        deps.logger.debug({ tradeId: trade.id }, "protection for this fill exists");
      }
    }
    const all = [...orders.filter((o) => !recorded.some((r) => r.id === o.id)), ...recorded];
    return {
      ...common,
      toSend: unsentExits(all, prefix, created),
      staleCloses: [],
      unprotectable,
    };
  }

  /** Sends one recorded exit; answers false when the broker refused it for good. */
  async function send(
    broker: Broker,
    trade: TradeRef,
    exit: ExitToSend,
    retrying: boolean,
  ): Promise<{ readonly ok: true } | { readonly ok: false; readonly message: string }> {
    const request = exitRequestOf(exit);
    const answer = await broker.submitOrder(request, { lookUpFirst: exit.earlier || retrying });
    if (!answer.ok) {
      if (answer.retryable) throw new Error(`exit not placed yet: ${answer.message}`);
      const ids = [exit.parent.id, ...(exit.stop ? [exit.stop.id] : [])];
      await deps.db.transaction(async (tx) => {
        for (const orderId of ids) {
          await applyOrderUpdate(
            tx,
            { orderId },
            { event: "rejected", at: deps.now().toISOString(), reason: answer.message },
            { source: "local", recordedAt: deps.now() },
          );
        }
      });
      return { ok: false, message: `${answer.code}: ${answer.message}` };
    }
    const stopOrder = exit.stop?.order ?? exit.parent.order;
    // A market close (the fallback's, sent on a retry) is no stop: its fill is told as an exit.
    if (stopOrder.stopPrice === null) {
      await handler.handle(
        trade.accountId,
        "submit",
        brokerOrderToReport(answer.value, deps.now()),
      );
      return { ok: true };
    }
    const notice: PendingNotice = {
      key: `protected-${exit.parent.id}`,
      notice: {
        kind: "PROTECTION_PLACED",
        tradeId: trade.id,
        symbol: exit.parent.order.symbol,
        quantity: exit.parent.order.quantity.toFixed(),
        stopPrice: stopOrder.stopPrice.toFixed(),
        targetPrice: exit.stop ? (exit.parent.order.limitPrice?.toFixed() ?? null) : null,
      },
    };
    await handler.handle(trade.accountId, "submit", brokerOrderToReport(answer.value, deps.now()), {
      within: async () => [notice],
    });
    return { ok: true };
  }

  /**
   * Tells the trader the position is not protected (an incident for a person). One episode lasts
   * until a stop is placed again: its retries repeat its key, while a failure after a stop was
   * placed (and lost) is news, even at the same quantity.
   */
  async function tellUnprotected(
    trade: TradeRef,
    t: Pick<Trade, "symbol" | "quantity">,
    kind: string,
    detail: string,
  ): Promise<void> {
    const chats = await recipients(trade.accountId);
    const placed = (await listOrdersForTrade(deps.db, trade.id))
      .filter((o) => isProtectiveRole(o.order.role) && o.order.brokerOrderId !== null)
      .reduce((latest, o) => Math.max(latest, o.id), 0);
    await deps.db.transaction(async (tx) => {
      await writeNotices(
        tx,
        chats,
        [
          {
            key: `${kind}-${trade.id}-${t.quantity.toFixed()}-after-${placed}`,
            notice: {
              kind: "RECONCILIATION_INCIDENT",
              accountId: trade.accountId,
              symbol: t.symbol,
              incident: "PROTECTION_FAILED",
              detail: `trade ${trade.id}: ${detail}`,
            },
          },
        ],
        deps.now(),
      );
    });
    await deps.jobs.requestNotify("protection-failed");
  }

  /**
   * The stop could not be placed. When the market is already through it, the position is
   * closed at market (the stop's job, done late); otherwise it is an incident for a person.
   */
  async function fallBack(
    broker: Broker,
    trade: TradeRef,
    message: string,
  ): Promise<ProtectResult> {
    const t = (await findTrade(deps.db, trade.id))?.trade;
    if (t?.status !== "POSITION") return { outcome: "skipped", reason: "trade not open" };
    const quotes = await broker.getLatestQuotes([t.symbol]);
    const quote = quotes.ok ? quotes.value.get(t.symbol) : undefined;
    const exitPrice = t.side === "long" ? quote?.bidPrice : quote?.askPrice;
    const through =
      exitPrice != null &&
      (t.side === "long" ? exitPrice.lte(t.plannedStopPrice) : exitPrice.gte(t.plannedStopPrice));
    if (!through) {
      await tellUnprotected(
        trade,
        t,
        "protection-failed",
        `the stop for ${t.quantity.toFixed()} could not be placed (${message})`,
      );
      throw new UnrecoverableError(`trade ${trade.id}: stop not placed: ${message}`);
    }
    const now = deps.now();
    const prefix = protectiveClientOrderIdPrefix(trade.id);
    const marketPrefix = `${prefix}stop-`;
    // Under the lock: what the working stops and closes leave uncovered is closed, no more (the
    // broker refuses a close of shares a working order holds, and those stops are as far through
    // the market as this one). A market close recorded before and not ended is taken as it is
    // (maybe sent, its answer lost); one ended (refused) leaves its id to the record, and a new
    // one is recorded under the next.
    const recorded = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        await lockName(tx, symbolLockName(trade.accountId, t.symbol));
        const [current, orders] = await Promise.all([
          findTrade(tx, trade.id),
          listOrdersForTrade(tx, trade.id),
        ]);
        if (current?.trade.status !== "POSITION") return null;
        const earlier = orders.filter(
          (o) => o.parentOrderId === null && o.order.clientOrderId.startsWith(marketPrefix),
        );
        const unsent = earlier.find(
          (o) => !isTerminal(o.order.status) && o.order.brokerOrderId === null,
        );
        if (unsent) return { record: unsent, created: false };
        const open = uncoveredQuantity(current.trade, orders, now);
        if (!open.gt(ZERO)) return null;
        return insertOrder(
          tx,
          {
            accountId: trade.accountId,
            tradeId: trade.id,
            exitReason: "STOPPED_OUT",
            order: createOrder(
              {
                // The first keeps the form of earlier versions' ids (a retry finds it).
                clientOrderId:
                  earlier.length === 0
                    ? `${marketPrefix}${current.trade.quantity.toFixed()}`
                    : `${marketPrefix}${current.trade.quantity.toFixed()}-${earlier.length + 1}`,
                symbol: t.symbol,
                side: exitSideOf(entrySide(t.side)),
                type: "market",
                timeInForce: "day",
                orderClass: "simple",
                role: "EXIT",
                quantity: open,
                limitPrice: null,
                stopPrice: null,
              },
              now.toISOString(),
            ),
          },
          SOURCE,
          now,
        );
      }),
    );
    if (recorded === null) {
      const after = (await findTrade(deps.db, trade.id))?.trade;
      return after?.status === "POSITION"
        ? { outcome: "covered", sent: 0, openQuantity: after.quantity.toFixed() }
        : { outcome: "skipped", reason: "trade not open" };
    }
    const quantity = recorded.record.order.quantity.toFixed();
    const answer = await broker.submitOrder(
      exitRequestOf({ parent: recorded.record, stop: null, earlier: !recorded.created }),
      { lookUpFirst: !recorded.created },
    );
    if (!answer.ok) {
      const failure = `${answer.code}: ${answer.message}`;
      await tellUnprotected(
        trade,
        t,
        "market-close-failed",
        `the market is through its stop ${t.plannedStopPrice.toFixed()} (the stop was refused: ${message}) and the market close of ${quantity} could not be placed (${failure})`,
      );
      // Maybe placed (a timeout, a 5xx): it stays recorded, covering, for the retry to look up.
      if (answer.retryable) throw new Error(`market close not placed yet: ${answer.message}`);
      // Refused: ended, so it no longer stands in for a stop and the next run records another.
      await applyOrderUpdate(
        deps.db,
        { orderId: recorded.record.id },
        { event: "rejected", at: deps.now().toISOString(), reason: answer.message },
        { source: "local", recordedAt: deps.now() },
      );
      throw new UnrecoverableError(`trade ${trade.id}: market close not placed: ${failure}`);
    }
    await handler.handle(trade.accountId, "submit", brokerOrderToReport(answer.value, now));
    return { outcome: "flattened", quantity };
  }

  /**
   * Ends one working exit of a finished trade: read from the broker (its report applied), and
   * cancelled there when it still works. One the broker never had is ended in the books. Answers
   * whether a cancel was asked for.
   */
  async function endExit(broker: Broker, trade: TradeRecord, o: OrderRecord): Promise<boolean> {
    const id = o.order.brokerOrderId;
    if (id === null) {
      const found = await broker.getOrderByClientOrderId(o.order.clientOrderId);
      if (found.ok) {
        await handler.handle(trade.accountId, "poll", brokerOrderToReport(found.value, deps.now()));
      } else if (found.code === "NOT_FOUND") {
        await applyOrderUpdate(
          deps.db,
          { orderId: o.id },
          { event: "canceled", at: deps.now().toISOString() },
          { source: "local", recordedAt: deps.now() },
        );
      } else {
        throw new Error(found.message);
      }
      return false;
    }
    const seen = await broker.getOrder(id);
    if (!seen.ok) throw new Error(seen.message);
    const handled = await handler.handle(
      trade.accountId,
      "poll",
      brokerOrderToReport(seen.value, deps.now()),
    );
    if (handled.order && isTerminal(handled.order.order.status)) return false;
    const cancel = await broker.cancelOrder(id);
    if (!cancel.ok && cancel.retryable) throw new Error(cancel.message);
    const after = await broker.getOrder(id);
    if (!after.ok) throw new Error(after.message);
    await handler.handle(trade.accountId, "poll", brokerOrderToReport(after.value, deps.now()));
    return true;
  }

  /** Cancels every exit of a finished trade that is still working. */
  async function cleanUp(broker: Broker, trade: TradeRecord): Promise<ProtectResult> {
    let cancelled = 0;
    const orders = await listOrdersForTrade(deps.db, trade.id);
    const isExitGroupLeg = (o: OrderRecord, all: readonly OrderRecord[]) =>
      o.parentOrderId !== null &&
      all.some((p) => p.id === o.parentOrderId && !isEntryRole(p.order.role));
    for (const o of orders) {
      if (isEntryRole(o.order.role) || isTerminal(o.order.status)) continue;
      // A leg of an OCO is settled through its parent's report, below if that leaves it working.
      if (isExitGroupLeg(o, orders)) continue;
      if (await endExit(broker, trade, o)) cancelled += 1;
    }
    // Legs the books still show working once their group's parent has ended (the exit that
    // closed the trade, or cancelled above): the broker's cancel of them may have been lost on
    // the stream, or the broker may have left one working, which would open a position if it
    // triggered. Each is read (and cancelled) on its own; one never acknowledged, through its
    // parent's report, which names the group's legs.
    const now = await listOrdersForTrade(deps.db, trade.id);
    for (const leg of now) {
      if (isTerminal(leg.order.status) || !isExitGroupLeg(leg, now)) continue;
      const parent = now.find((p) => p.id === leg.parentOrderId);
      const parentId = parent?.order.brokerOrderId ?? null;
      let current = leg;
      if (leg.order.brokerOrderId === null && parentId !== null) {
        const group = await broker.getOrder(parentId);
        if (!group.ok) throw new Error(group.message);
        await handler.handle(trade.accountId, "poll", brokerOrderToReport(group.value, deps.now()));
        current = (await listOrdersForTrade(deps.db, trade.id)).find((o) => o.id === leg.id) ?? leg;
        if (isTerminal(current.order.status)) continue;
      }
      if (await endExit(broker, trade, current)) cancelled += 1;
    }
    return { outcome: "cleaned", cancelled };
  }

  /**
   * Closes recorded long ago and never acknowledged (their job may be gone for good): each found
   * at the broker is applied from the broker's answer (it was sent, the answer lost); each the
   * broker does not know is ended as never sent, so it no longer stands in for a stop.
   */
  async function settleStaleCloses(trade: TradeRef, closes: readonly OrderRecord[]): Promise<void> {
    const broker = await deps.brokerFor(trade.accountId);
    for (const close of closes) {
      const found = await broker.getOrderByClientOrderId(close.order.clientOrderId);
      if (found.ok) {
        await handler.handle(trade.accountId, "poll", brokerOrderToReport(found.value, deps.now()));
        continue;
      }
      if (found.code !== "NOT_FOUND") throw new Error(`close not looked up: ${found.message}`);
      if (await endUnsentClose(deps.db, close, { event: "canceled" }, deps.now())) {
        deps.logger.warn(
          { tradeId: trade.id, clientOrderId: close.order.clientOrderId },
          "a close recorded long ago never reached the broker: ended, the position protected",
        );
      }
    }
  }

  /** Sends a plan's exits; falls back when the broker refuses one for good. */
  async function sendExits(plan: ExitPlan, retrying: boolean): Promise<ProtectResult> {
    const broker = await deps.brokerFor(plan.trade.accountId);
    let sent = 0;
    for (const exit of plan.toSend) {
      const result = await send(broker, plan.trade, exit, retrying);
      if (!result.ok) return fallBack(broker, plan.trade, result.message);
      sent += 1;
    }
    if (plan.unprotectable.gt(ZERO)) {
      const fraction = plan.unprotectable.toFixed();
      await tellUnprotected(
        plan.trade,
        { symbol: plan.symbol, quantity: plan.open },
        "fraction-unprotected",
        `${fraction} of the ${plan.open.toFixed()} ${plan.symbol} shares held has no stop: the broker takes no stop for a fraction of a share (the whole shares have theirs). Close the fraction, or watch it.`,
      );
    }
    return { outcome: "covered", sent, openQuantity: plan.open.toFixed() };
  }

  async function protectTrade(payload: ProtectPayload, retrying: boolean): Promise<ProtectResult> {
    // For a fill's protection (the safety net behind an inline one, usually), a first look
    // without the lock: a trade whose stops cover it, every exit at the broker, needs nothing.
    // Any later change that uncovers it asks under a key of its own after its commit. Other
    // requests wait for the lock, behind the reports still being applied: one merged into theirs
    // (the client coalesces them) must see what those reports change.
    const [trade, orders] = await Promise.all([
      findTrade(deps.db, payload.tradeId),
      payload.fillId === null ? null : listOrdersForTrade(deps.db, payload.tradeId),
    ]);
    if (!trade || trade.accountId !== payload.accountId) {
      return { outcome: "skipped", reason: "no such trade" };
    }
    if (trade.trade.status === "CLOSED" || trade.trade.status === "CANCELLED") {
      return cleanUp(await deps.brokerFor(trade.accountId), trade);
    }
    if (trade.trade.status !== "POSITION") return { outcome: "skipped", reason: "no position" };
    const prefix = protectiveClientOrderIdPrefix(trade.id);
    if (
      orders !== null &&
      !uncoveredQuantity(trade.trade, orders, deps.now()).gt(ZERO) &&
      unsentExits(orders, prefix, new Set()).length === 0
    ) {
      return { outcome: "covered", sent: 0, openQuantity: trade.trade.quantity.toFixed() };
    }
    const record = () =>
      withRaceRetry(() =>
        deps.db.transaction((tx) =>
          recordMissingExits(
            tx,
            trade,
            payload.fillId,
            lockName(tx, symbolLockName(trade.accountId, trade.trade.symbol)),
          ),
        ),
      );
    let plan = await record();
    if (plan !== null && plan.staleCloses.length > 0) {
      // Each is acknowledged or ended by now: the second look counts it or not.
      await settleStaleCloses(plan.trade, plan.staleCloses);
      plan = await record();
      if (plan !== null && plan.staleCloses.length > 0) {
        throw new Error(`trade ${trade.id}: a close recorded long ago is still unsettled`);
      }
    }
    if (plan === null) {
      const now = await findTrade(deps.db, trade.id);
      return now && (now.trade.status === "CLOSED" || now.trade.status === "CANCELLED")
        ? cleanUp(await deps.brokerFor(trade.accountId), now)
        : { outcome: "skipped", reason: "no position" };
    }
    return sendExits(plan, retrying);
  }

  /**
   * Protection of an entry fill inside the transaction that applied it, under its symbol lock:
   * the exits are recorded with the fill (committed together), and sent once it commits.
   */
  const protectInline: InlineProtection = async (tx, accountId, request, current) => {
    const plan = await recordMissingExits(
      tx,
      { id: request.tradeId, accountId },
      request.fillId,
      Promise.resolve(),
      current,
    );
    // A close to look up first is the protect job's (it follows as the safety net).
    if (plan === null || plan.staleCloses.length > 0) return null;
    return async () => (await sendExits(plan, false)).outcome === "covered";
  };

  const processProtect = async (job: Job): Promise<ProtectResult> =>
    protectTrade(protectPayloadSchema.parse(job.data), job.attemptsMade > 0);
  return Object.assign(processProtect, { protectTrade, protectInline });
}
