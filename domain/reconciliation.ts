import type { BrokerOrder, BrokerPosition } from "./broker";
import { Decimal, minDecimal, ZERO } from "./money";
import type { Order, OrderSide, OrderStatus } from "./order";
import {
  canTransition,
  isPendingRequest,
  isTerminal,
  remainingQuantity,
} from "./orderStateMachine";
import { averageEntryPrice, type Position, signedFillQuantity } from "./position";
import type { PositionSide } from "./tick";

/**
 * Reconciliation: compares our books (positions, orders) with the broker's and returns the
 * corrections, each with a stable code. As mature engines do it: real fills first (the broker
 * shows more filled than we know: infer the difference at the implied average price, under a
 * deterministic execution id so a second run cannot count it twice), then positions (closed
 * outside the desk, unknown to us, or of another size), then protection (every open position
 * keeps a live stop). The function decides; the caller applies each action through the same
 * idempotent handlers the stream uses, logs it and tells the trader.
 */

/** Decimal places of a price implied by a difference of notionals (far below a tick). */
export const IMPLIED_PRICE_DECIMALS = 6;

/**
 * The deterministic execution id of a fill inferred up to the broker's cumulative filled
 * quantity: the same gap seen by any path (polling, reconciliation, a second worker, a restart)
 * gets the same id, so it is applied once.
 */
export function inferredExecutionId(brokerOrderId: string, cumulativeQuantity: Decimal): string {
  return `inferred-${brokerOrderId}-${cumulativeQuantity.toFixed()}`;
}

/** Our order as the reconciliation sees it. */
export interface KnownOrder {
  readonly id: number;
  readonly tradeId: number | null;
  /** The entry of a bracket (for its legs) or the parent of an OCO exit. */
  readonly parentOrderId: number | null;
  readonly order: Order;
  /** When we recorded it, epoch ms: an order younger than the grace period may still be in flight. */
  readonly createdAt: number;
  /**
   * When its trade was closed or cancelled, epoch ms; null or absent while the trade is open (or
   * the order has none). An exit of a trade finished longer than the grace period ago that the
   * broker still works is an orphan, whichever run closed the trade.
   */
  readonly tradeEndedAt?: number | null;
}

/** Our open position as the reconciliation sees it. */
export interface KnownPosition {
  readonly id: number;
  readonly tradeId: number | null;
  readonly position: Position;
  /** The last mark, the best price we know when the broker tells us nothing better. */
  readonly markPrice: Decimal | null;
  /** Last change (a fill), epoch ms: a position younger than the grace period may await protection. */
  readonly updatedAt: number;
  /** When it opened, epoch ms, in the broker's time (its first fill's): older broker orders are not its story. */
  readonly openedAt: number;
}

export interface ReconciliationInput {
  readonly positions: readonly KnownPosition[];
  /** Our working orders and those finished recently (their fills may still be missing here). */
  readonly orders: readonly KnownOrder[];
  readonly brokerPositions: readonly BrokerPosition[];
  /** The broker's open and recent orders; legs nested in their parent or listed flat. */
  readonly brokerOrders: readonly BrokerOrder[];
  /** Now, epoch ms. */
  readonly now: number;
  /** How long an order or a fill may be in flight before its absence is an incident (ms). */
  readonly graceMs: number;
}

/** Where a correcting price came from, best first. */
export type PriceSource = "broker_order" | "broker_position" | "implied" | "mark" | "entry";

/** An order at the broker that is not one of ours (placed by hand at the broker). */
export interface ExternalOrderRef {
  readonly brokerOrderId: string;
  readonly clientOrderId: string;
}

/** The broker filled more of our order than we know: apply the difference. */
export interface MissedFillInferred {
  readonly code: "MISSED_FILL_INFERRED";
  readonly orderId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly role: Order["role"];
  readonly brokerOrderId: string;
  /** `inferredExecutionId(broker order id, broker's cumulative filled quantity)`: the same gap, the same id. */
  readonly executionId: string;
  readonly quantity: Decimal;
  readonly price: Decimal;
  readonly priceSource: "implied" | "broker_order";
  /** True when the broker shows the order completely filled. */
  readonly final: boolean;
  /** ISO-8601: the broker's fill time, or now. */
  readonly at: string;
}

/** Our fill count is above the broker's: never corrected downwards, only reported. */
export interface FillExceedsBroker {
  readonly code: "FILL_EXCEEDS_BROKER";
  readonly orderId: number;
  readonly symbol: string;
  readonly brokerOrderId: string;
  readonly ourFilledQuantity: Decimal;
  readonly brokerFilledQuantity: Decimal;
}

/** The broker filled more than we know but reports no price: reported, not guessed. */
export interface FillPriceUnknown {
  readonly code: "FILL_PRICE_UNKNOWN";
  readonly orderId: number;
  readonly symbol: string;
  readonly brokerOrderId: string;
  readonly missingQuantity: Decimal;
  /** The two counts compared: with the order, they tell one occurrence from a later one. */
  readonly ourFilledQuantity: Decimal;
  readonly brokerFilledQuantity: Decimal;
}

/**
 * Statuses the broker may report that we take over as they are (`partially_filled` and `held`
 * only over a refused cancel or replace: elsewhere the fills, or the order's creation, bring them).
 */
export type SyncedStatus =
  | "new"
  | "accepted"
  | "partially_filled"
  | "held"
  | "canceled"
  | "expired"
  | "rejected"
  | "replaced";

/** The broker moved our order on (acknowledged, cancelled, expired, ...) and we missed the event. */
export interface OrderStatusSynced {
  readonly code: "ORDER_STATUS_SYNCED";
  readonly orderId: number;
  readonly symbol: string;
  readonly brokerOrderId: string;
  readonly from: OrderStatus;
  readonly to: SyncedStatus;
  /** For `replaced`: the broker id of the replacing order. */
  readonly replacedBy: string | null;
  readonly at: string;
  /**
   * For a refused cancel or replace: when the books last moved the order (the request, or a fill
   * while it was pending), telling one refusal from a later one of the same order; else null.
   */
  readonly pendingSince: string | null;
}

/** One of our working orders is not at the broker (past the grace period). */
export interface OrderUnknownAtBroker {
  readonly code: "ORDER_UNKNOWN_AT_BROKER";
  readonly orderId: number;
  readonly symbol: string;
  readonly clientOrderId: string;
  readonly brokerOrderId: string | null;
  readonly role: Order["role"];
  /**
   * True when the broker had acknowledged it (we hold its broker id): it can no longer fill, so
   * it is closed in our books as canceled. An unacknowledged one is only reported: the job that
   * sends it looks it up before sending again, and once that job is gone for good the entry is
   * settled with its decision (`settleStalledExecution`).
   */
  readonly acknowledged: boolean;
}

/** Our position is gone at the broker: closed outside the desk. */
export interface ManualCloseFound {
  readonly code: "MANUAL_CLOSE_FOUND";
  readonly positionId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  /** Our signed quantity, closed by an execution of the opposite side. */
  readonly quantity: Decimal;
  readonly exitSide: OrderSide;
  readonly price: Decimal;
  readonly priceSource: PriceSource;
  /** The broker order that closed it, when an order not ours filled exactly its quantity. */
  readonly externalOrder: ExternalOrderRef | null;
}

/** Our position and the broker's have the same side but another size. */
export interface QuantityMismatch {
  readonly code: "QUANTITY_MISMATCH";
  readonly positionId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly ourQuantity: Decimal;
  readonly brokerQuantity: Decimal;
  /** Side and (positive) quantity of the execution that brings ours to the broker's. */
  readonly side: OrderSide;
  readonly quantity: Decimal;
  /** True when the correction reduces the position (an exit), false when it adds. */
  readonly reduces: boolean;
  readonly price: Decimal;
  readonly priceSource: PriceSource;
  readonly externalOrder: ExternalOrderRef | null;
}

/** The broker holds a position we do not know: adopt it into the books and protect it. */
export interface PositionAdopted {
  readonly code: "POSITION_ADOPTED";
  readonly symbol: string;
  readonly side: PositionSide;
  /** Signed, as the broker reports it. */
  readonly quantity: Decimal;
  readonly averageEntryPrice: Decimal;
  readonly markPrice: Decimal | null;
}

/**
 * The adoption of a broker position the books do not hold: its side and signed quantity as the
 * broker reports them, entered at the broker's average. Reconciliation and a /close of such a
 * position adopt it alike.
 */
export function adoptionOf(position: BrokerPosition): PositionAdopted {
  return {
    code: "POSITION_ADOPTED",
    symbol: position.symbol,
    side: position.qty.isPositive() ? "long" : "short",
    quantity: position.qty,
    averageEntryPrice: position.avgEntryPrice,
    markPrice: position.currentPrice,
  };
}

/** An open position without a live stop for all of it. */
export interface StopMissing {
  readonly code: "STOP_MISSING";
  readonly positionId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  /** Signed position quantity. */
  readonly quantity: Decimal;
  /** Quantity the live stops, and the desk's closes working for it, cover (zero: none at all). */
  readonly coveredQuantity: Decimal;
  /** The latest stop order of the symbol we know (the one that went missing), or null if there never was one. */
  readonly lastStopOrderId: number | null;
}

/** A working exit of ours whose position is gone: cancel it before it opens a new one. */
export interface OrphanExitFound {
  readonly code: "ORPHAN_EXIT_FOUND";
  readonly orderId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly brokerOrderId: string;
  readonly role: Order["role"];
}

/**
 * An entry the books ended as cancelled before the broker had it (no broker id) that the broker
 * works all the same (its send won the race with the trader's cancel, and nothing carried the
 * cancel there): cancel it at the broker, as the trader asked, before it fills.
 */
export interface CancelledEntryWorking {
  readonly code: "CANCELLED_ENTRY_WORKING";
  readonly orderId: number;
  readonly tradeId: number | null;
  readonly symbol: string;
  readonly brokerOrderId: string;
  readonly clientOrderId: string;
}

/** A working order at the broker that is not ours (placed by hand): reported once. */
export interface ExternalOrderFound {
  readonly code: "EXTERNAL_ORDER_FOUND";
  readonly symbol: string;
  readonly side: OrderSide;
  readonly brokerOrderId: string;
  readonly clientOrderId: string;
  readonly status: OrderStatus;
}

/** Every corrective action, by stable code. */
export type ReconciliationAction =
  | MissedFillInferred
  | FillExceedsBroker
  | FillPriceUnknown
  | OrderStatusSynced
  | OrderUnknownAtBroker
  | ManualCloseFound
  | QuantityMismatch
  | PositionAdopted
  | StopMissing
  | OrphanExitFound
  | CancelledEntryWorking
  | ExternalOrderFound;

export type ReconciliationCode = ReconciliationAction["code"];

/** A broker order with the id of the group parent it came in (null for a top-level order). */
interface FlatBrokerOrder {
  readonly order: BrokerOrder;
  readonly parentBrokerOrderId: string | null;
}

function flatten(orders: readonly BrokerOrder[]): FlatBrokerOrder[] {
  const out: FlatBrokerOrder[] = [];
  const seen = new Set<string>();
  const visit = (order: BrokerOrder, parent: string | null) => {
    if (!seen.has(order.brokerOrderId)) {
      seen.add(order.brokerOrderId);
      out.push({ order, parentBrokerOrderId: parent });
    }
    for (const leg of order.legs) visit(leg, order.brokerOrderId);
  };
  for (const order of orders) visit(order, null);
  return out;
}

const STOP_TYPES: readonly BrokerOrder["type"][] = ["stop", "stop_limit", "trailing_stop"];

/** Whether a broker leg plays the given role in its group (a stop-type leg is the stop loss). */
function legFitsRole(leg: BrokerOrder, role: Order["role"]): boolean {
  if (role === "STOP_LOSS") return STOP_TYPES.includes(leg.type);
  if (role === "TAKE_PROFIT") return leg.type === "limit";
  return false;
}

/**
 * Pairs our orders with the broker's: by broker order id, then by client order id, then (for a
 * group leg whose broker id we never learned) by role among the legs of its parent's broker order.
 */
function matchOrders(
  known: readonly KnownOrder[],
  flat: readonly FlatBrokerOrder[],
): Map<number, BrokerOrder> {
  const byBrokerId = new Map<string, FlatBrokerOrder>();
  const byClientId = new Map<string, FlatBrokerOrder>();
  for (const f of flat) {
    byBrokerId.set(f.order.brokerOrderId, f);
    byClientId.set(f.order.clientOrderId, f);
  }
  const knownById = new Map(known.map((k) => [k.id, k]));
  const matched = new Map<number, BrokerOrder>();
  const claimed = new Set<string>();

  const direct = (k: KnownOrder): BrokerOrder | null => {
    const byId = k.order.brokerOrderId === null ? undefined : byBrokerId.get(k.order.brokerOrderId);
    return (byId ?? byClientId.get(k.order.clientOrderId))?.order ?? null;
  };
  for (const k of known) {
    const found = direct(k);
    if (found !== null && !claimed.has(found.brokerOrderId)) {
      matched.set(k.id, found);
      claimed.add(found.brokerOrderId);
    }
  }
  for (const k of known) {
    if (matched.has(k.id) || k.parentOrderId === null) continue;
    const parent = knownById.get(k.parentOrderId);
    const parentAtBroker = parent === undefined ? null : (matched.get(parent.id) ?? null);
    if (parentAtBroker === null) continue;
    const leg = flat.find(
      (f) =>
        f.parentBrokerOrderId === parentAtBroker.brokerOrderId &&
        !claimed.has(f.order.brokerOrderId) &&
        f.order.side === k.order.side &&
        legFitsRole(f.order, k.order.role),
    );
    if (leg !== undefined) {
      matched.set(k.id, leg.order);
      claimed.add(leg.order.brokerOrderId);
    }
  }
  return matched;
}

const OPEN_AT_BROKER_EXCLUDED: readonly OrderStatus[] = [
  "filled",
  "canceled",
  "expired",
  "replaced",
  "rejected",
  "done_for_day",
];

/** Whether the broker still works an order (held legs included: an armed stop is protection). */
function isOpenAtBroker(order: BrokerOrder): boolean {
  return !OPEN_AT_BROKER_EXCLUDED.includes(order.status);
}

const SYNCED_STATUSES: readonly SyncedStatus[] = [
  "new",
  "accepted",
  "partially_filled",
  "held",
  "canceled",
  "expired",
  "rejected",
  "replaced",
];

function syncedStatusOf(status: OrderStatus): SyncedStatus | null {
  return SYNCED_STATUSES.find((s) => s === status) ?? null;
}

function isoOf(date: Date | null, fallback: number): string {
  return new Date(date?.getTime() ?? fallback).toISOString();
}

/**
 * The price of the executions that took the broker's filled quantity from ours to its own:
 * (broker cumulative notional - our filled notional) / missing quantity. Falls back to the
 * broker's average when that is not a positive price (the broker's average is itself rounded).
 */
function impliedFillPrice(
  ours: Order,
  brokerFilled: Decimal,
  brokerAverage: Decimal,
  missing: Decimal,
): { price: Decimal; source: "implied" | "broker_order" } {
  if (ours.filledQuantity.isZero()) return { price: brokerAverage, source: "broker_order" };
  const implied = brokerFilled
    .times(brokerAverage)
    .minus(ours.filledNotional)
    .div(missing)
    .toDecimalPlaces(IMPLIED_PRICE_DECIMALS, Decimal.ROUND_HALF_EVEN);
  return implied.gt(ZERO)
    ? { price: implied, source: "implied" }
    : { price: brokerAverage, source: "broker_order" };
}

/** The closing side of a signed quantity. */
function closingSide(quantity: Decimal): OrderSide {
  return quantity.isPositive() ? "sell" : "buy";
}

/**
 * The best price for an execution of `quantity` we did not see on a symbol: the latest filled
 * broker order of that side that is not ours and filled exactly that quantity (named as the
 * execution's own order), else the average of those of that side when together they filled
 * exactly that quantity, else the latest of that side of any size (its price only), else the
 * broker position's current price, else our mark, else the average entry (no P&L invented).
 */
function bestKnownPrice(
  symbol: string,
  side: OrderSide,
  quantity: Decimal,
  externalFilled: readonly BrokerOrder[],
  brokerPosition: BrokerPosition | undefined,
  ours: KnownPosition,
  skewMs: number,
): { price: Decimal; source: PriceSource; externalOrder: ExternalOrderRef | null } | null {
  const timeOf = (o: BrokerOrder | null) => o?.filledAt?.getTime() ?? o?.updatedAt?.getTime() ?? -1;
  let latest: BrokerOrder | null = null;
  let latestExact: BrokerOrder | null = null;
  let soldQuantity = ZERO;
  let soldNotional = ZERO;
  for (const o of externalFilled) {
    if (o.symbol !== symbol || o.side !== side || o.filledAvgPrice === null) continue;
    const t = Math.max(timeOf(o), 0);
    // An order filled before our position opened belongs to an earlier story (the grace
    // period absorbs clock skew between the broker and us).
    if (t < ours.openedAt - skewMs) continue;
    soldQuantity = soldQuantity.plus(o.filledQty);
    soldNotional = soldNotional.plus(o.filledQty.times(o.filledAvgPrice));
    if (t > timeOf(latest)) latest = o;
    // A position flipped by hand was closed by one order and reopened by another (the broker
    // takes no order across zero): the latest of the side may be the reopening one.
    if (o.filledQty.eq(quantity) && t > timeOf(latestExact)) latestExact = o;
  }
  if (latestExact?.filledAvgPrice) {
    return {
      price: latestExact.filledAvgPrice,
      source: "broker_order",
      externalOrder: {
        brokerOrderId: latestExact.brokerOrderId,
        clientOrderId: latestExact.clientOrderId,
      },
    };
  }
  // Closed in several orders that make up the quantity together: their average, not the last
  // one's price (which would misstate the loss by the spread between the sales).
  if (soldQuantity.eq(quantity) && soldQuantity.gt(ZERO)) {
    const price = soldNotional
      .div(soldQuantity)
      .toDecimalPlaces(IMPLIED_PRICE_DECIMALS, Decimal.ROUND_HALF_EVEN);
    return { price, source: "broker_order", externalOrder: null };
  }
  // Not named: the caller pairs a named order with its correction, which must then be all of it.
  if (latest?.filledAvgPrice) {
    return { price: latest.filledAvgPrice, source: "broker_order", externalOrder: null };
  }
  if (brokerPosition?.currentPrice?.gt(ZERO)) {
    return { price: brokerPosition.currentPrice, source: "broker_position", externalOrder: null };
  }
  if (ours.markPrice?.gt(ZERO))
    return { price: ours.markPrice, source: "mark", externalOrder: null };
  const entry = averageEntryPrice(ours.position);
  return entry === null ? null : { price: entry, source: "entry", externalOrder: null };
}

/**
 * Compares our books with the broker's and returns the corrections, in the order to apply them:
 * order fills and statuses first, then positions, then protection. Pure and deterministic: the
 * same books give the same actions, with the same execution ids.
 *
 * Rules:
 * - A broker order with more filled than ours: MISSED_FILL_INFERRED for the difference at the
 *   implied price (FILL_PRICE_UNKNOWN without a broker average); with less: FILL_EXCEEDS_BROKER.
 *   Also for an order the books ended canceled, expired or rejected (a late fill, booked on its
 *   own trade). None for one ended replaced (it takes no fill): its shares show as a position
 *   difference (adopted, or the position resized).
 * - A broker status we missed (acknowledged or armed, canceled, expired, rejected, replaced):
 *   ORDER_STATUS_SYNCED; also the working status (new, accepted, partially_filled, held) of an order
 *   whose cancel or replace is pending in the books past the grace period (the broker refused it).
 * - Our working order absent at the broker past the grace period: ORDER_UNKNOWN_AT_BROKER.
 * - Positions, after the inferred fills: ours but not the broker's -> MANUAL_CLOSE_FOUND at the
 *   best known price (and ORPHAN_EXIT_FOUND for exits still working); the broker's but not ours ->
 *   POSITION_ADOPTED; same side, other size -> QUANTITY_MISMATCH; opposite sides -> both a close
 *   and an adoption.
 * - An exit the broker still works for a trade that ended (closed or cancelled) longer than the
 *   grace period ago: ORPHAN_EXIT_FOUND, also when an earlier run closed the trade and did not
 *   get as far as cancelling its exits.
 * - An open position (not touched above, older than the grace period) whose live stops, with
 *   the desk's closes working for it, cover less than all of it: STOP_MISSING.
 * - An entry the books ended unsent (cancelled, no broker id) that the broker works, past the
 *   grace period: CANCELLED_ENTRY_WORKING (cancelled there).
 * - A working broker order that is not ours: EXTERNAL_ORDER_FOUND.
 */
export function reconcile(input: ReconciliationInput): ReconciliationAction[] {
  const actions: ReconciliationAction[] = [];
  const flat = flatten(input.brokerOrders);
  const matched = matchOrders(input.orders, flat);
  const matchedBrokerIds = new Set([...matched.values()].map((o) => o.brokerOrderId));
  const ourClientIds = new Set(input.orders.map((k) => k.order.clientOrderId));
  const external = flat
    .map((f) => f.order)
    .filter((o) => !matchedBrokerIds.has(o.brokerOrderId) && !ourClientIds.has(o.clientOrderId));

  // 1. Orders: fills first, then statuses.
  const expected = new Map<string, Decimal>();
  for (const p of input.positions) expected.set(p.position.symbol, p.position.quantity);
  const symbolsWithInferredFills = new Set<string>();
  const unknown: OrderUnknownAtBroker[] = [];
  const statuses: OrderStatusSynced[] = [];
  const liveAtBroker = new Map<number, boolean>();

  for (const k of input.orders) {
    const ours = k.order;
    const broker = matched.get(k.id);
    if (broker === undefined) {
      const inFlight = input.now - k.createdAt < input.graceMs;
      liveAtBroker.set(k.id, !isTerminal(ours.status) && inFlight);
      if (!isTerminal(ours.status) && !inFlight) {
        unknown.push({
          code: "ORDER_UNKNOWN_AT_BROKER",
          orderId: k.id,
          symbol: ours.symbol,
          clientOrderId: ours.clientOrderId,
          brokerOrderId: ours.brokerOrderId,
          role: ours.role,
          acknowledged: ours.brokerOrderId !== null,
        });
      }
      continue;
    }
    liveAtBroker.set(k.id, isOpenAtBroker(broker));
    const missing = broker.filledQty.minus(ours.filledQuantity);
    // An order ended replaced in the books takes no fill (the state machine refuses it: its
    // replacement carries the fills): inferring one would count shares that never reach the
    // books, and hide them from the position check. Left out, the broker's shares are adopted
    // (or the position resized) and protected below. One ended canceled, expired or rejected
    // takes the fill as a late fill, on its own trade.
    if (missing.gt(ZERO) && canTransition(ours.status, "filled")) {
      if (broker.filledAvgPrice === null || broker.filledAvgPrice.lte(ZERO)) {
        actions.push({
          code: "FILL_PRICE_UNKNOWN",
          orderId: k.id,
          symbol: ours.symbol,
          brokerOrderId: broker.brokerOrderId,
          missingQuantity: missing,
          ourFilledQuantity: ours.filledQuantity,
          brokerFilledQuantity: broker.filledQty,
        });
      } else {
        const { price, source } = impliedFillPrice(
          ours,
          broker.filledQty,
          broker.filledAvgPrice,
          missing,
        );
        actions.push({
          code: "MISSED_FILL_INFERRED",
          orderId: k.id,
          tradeId: k.tradeId,
          symbol: ours.symbol,
          side: ours.side,
          role: ours.role,
          brokerOrderId: broker.brokerOrderId,
          executionId: inferredExecutionId(broker.brokerOrderId, broker.filledQty),
          quantity: missing,
          price,
          priceSource: source,
          final: broker.status === "filled" || broker.filledQty.gte(ours.quantity),
          at: isoOf(broker.filledAt ?? broker.updatedAt, input.now),
        });
        symbolsWithInferredFills.add(ours.symbol);
        expected.set(
          ours.symbol,
          (expected.get(ours.symbol) ?? ZERO).plus(signedFillQuantity(ours.side, missing)),
        );
      }
    } else if (missing.lt(ZERO)) {
      actions.push({
        code: "FILL_EXCEEDS_BROKER",
        orderId: k.id,
        symbol: ours.symbol,
        brokerOrderId: broker.brokerOrderId,
        ourFilledQuantity: ours.filledQuantity,
        brokerFilledQuantity: broker.filledQty,
      });
    }
    const to = syncedStatusOf(broker.status);
    const working = to === "new" || to === "accepted" || to === "partially_filled" || to === "held";
    // An acknowledgement or an arming we missed (a bracket leg held in the books that the broker
    // armed once its entry filled): the books follow wherever the state machine allows it.
    const acknowledges =
      (to === "new" || to === "accepted") &&
      !isPendingRequest(ours.status) &&
      canTransition(ours.status, to);
    // A cancel or replace the broker still works the order after, past the grace period, was
    // refused (or never arrived): the books restore the working status the broker shows, also
    // partly filled (left pending, the order would be missing from /orders and a halt's sweep).
    const refused =
      working &&
      isPendingRequest(ours.status) &&
      input.now - Date.parse(ours.updatedAt) >= input.graceMs;
    const ends = to !== null && !working && !isTerminal(ours.status);
    const describable = to !== "replaced" || broker.replacedBy !== null;
    if (to !== null && to !== ours.status && (acknowledges || refused || ends) && describable) {
      statuses.push({
        code: "ORDER_STATUS_SYNCED",
        orderId: k.id,
        symbol: ours.symbol,
        brokerOrderId: broker.brokerOrderId,
        from: ours.status,
        to,
        replacedBy: broker.replacedBy,
        at: isoOf(
          broker.canceledAt ?? broker.expiredAt ?? broker.failedAt ?? broker.updatedAt,
          input.now,
        ),
        pendingSince: refused ? ours.updatedAt : null,
      });
    }
  }
  actions.push(...statuses, ...unknown);

  // 2. Positions, as they stand after the inferred fills.
  const brokerBySymbol = new Map(input.brokerPositions.map((p) => [p.symbol, p]));
  const oursBySymbol = new Map(input.positions.map((p) => [p.position.symbol, p]));
  const externalFilled = external.filter((o) => o.filledQty.gt(ZERO));
  const touched = new Set<string>(symbolsWithInferredFills);
  const closedSymbols = new Set<string>();
  const symbols = [...new Set([...expected.keys(), ...brokerBySymbol.keys()])].sort();

  for (const symbol of symbols) {
    const ours = oursBySymbol.get(symbol);
    const expectedQty = expected.get(symbol) ?? ZERO;
    const brokerPosition = brokerBySymbol.get(symbol);
    const brokerQty = brokerPosition?.qty ?? ZERO;
    if (expectedQty.eq(brokerQty)) continue;
    touched.add(symbol);
    // Judged again once the inferred fills are in the books (the caller runs a second pass).
    if (symbolsWithInferredFills.has(symbol)) continue;
    const sameSide =
      !expectedQty.isZero() &&
      !brokerQty.isZero() &&
      expectedQty.isPositive() === brokerQty.isPositive();

    if (sameSide && ours !== undefined) {
      const change = brokerQty.minus(expectedQty);
      const side: OrderSide = change.isPositive() ? "buy" : "sell";
      const reduces = change.abs().lt(expectedQty.abs()) && closingSide(expectedQty) === side;
      const priced = reduces
        ? bestKnownPrice(
            symbol,
            side,
            change.abs(),
            externalFilled,
            brokerPosition,
            ours,
            input.graceMs,
          )
        : addedPrice(ours, brokerPosition, change.abs());
      if (priced === null) continue;
      actions.push({
        code: "QUANTITY_MISMATCH",
        positionId: ours.id,
        tradeId: ours.tradeId,
        symbol,
        ourQuantity: expectedQty,
        brokerQuantity: brokerQty,
        side,
        quantity: change.abs(),
        reduces,
        price: priced.price,
        priceSource: priced.source,
        externalOrder: priced.externalOrder,
      });
      continue;
    }

    if (!expectedQty.isZero() && ours !== undefined) {
      const exitSide = closingSide(expectedQty);
      const priced = bestKnownPrice(
        symbol,
        exitSide,
        expectedQty.abs(),
        externalFilled,
        undefined,
        ours,
        input.graceMs,
      );
      if (priced !== null) {
        closedSymbols.add(symbol);
        actions.push({
          code: "MANUAL_CLOSE_FOUND",
          positionId: ours.id,
          tradeId: ours.tradeId,
          symbol,
          quantity: expectedQty,
          exitSide,
          price: priced.price,
          priceSource: priced.source,
          externalOrder: priced.externalOrder,
        });
      }
    }
    if (brokerPosition !== undefined && !brokerQty.isZero()) {
      actions.push(adoptionOf(brokerPosition));
    }
  }

  // Exits still working for a position that is gone would open a new one if they fill: those of
  // a position closed now, and those of a trade that ended earlier (the run that ended it may
  // have stopped before cancelling them; within the grace period the broker may still be
  // cancelling an OCO's sibling itself, and the protect job is asked to clean up after each end).
  for (const k of input.orders) {
    const broker = matched.get(k.id);
    const ended =
      k.tradeEndedAt !== undefined &&
      k.tradeEndedAt !== null &&
      input.now - k.tradeEndedAt >= input.graceMs;
    if (
      broker !== undefined &&
      (closedSymbols.has(k.order.symbol) || ended) &&
      (k.order.role === "STOP_LOSS" || k.order.role === "TAKE_PROFIT" || k.order.role === "EXIT") &&
      isOpenAtBroker(broker)
    ) {
      actions.push({
        code: "ORPHAN_EXIT_FOUND",
        orderId: k.id,
        tradeId: k.tradeId,
        symbol: k.order.symbol,
        brokerOrderId: broker.brokerOrderId,
        role: k.order.role,
      });
    }
  }

  // 3. Protection: every open position keeps a live stop for all of it. A close of the desk
  // working at the broker (/close, /flatten, resting while the market is shut) covers what it
  // leaves to fill, as the protect job counts it: it holds the shares a stop would need.
  const knownById = new Map(input.orders.map((k) => [k.id, k]));
  for (const p of input.positions) {
    const symbol = p.position.symbol;
    if (touched.has(symbol) || input.now - p.updatedAt < input.graceMs) continue;
    const quantity = p.position.quantity;
    const stopSide = closingSide(quantity);
    let covered = ZERO;
    let lastStopOrderId: number | null = null;
    for (const k of input.orders) {
      if (k.order.symbol === symbol && k.order.role === "STOP_LOSS" && k.order.side === stopSide) {
        lastStopOrderId = Math.max(lastStopOrderId ?? k.id, k.id);
      }
      if (
        k.order.symbol === symbol &&
        k.order.role === "STOP_LOSS" &&
        k.order.side === stopSide &&
        !isTerminal(k.order.status) &&
        liveAtBroker.get(k.id) === true
      ) {
        covered = covered.plus(stopCoverage(k, knownById));
      }
      if (
        k.order.symbol === symbol &&
        k.order.role === "EXIT" &&
        k.order.side === stopSide &&
        !isTerminal(k.order.status) &&
        liveAtBroker.get(k.id) === true
      ) {
        covered = covered.plus(remainingQuantity(k.order));
      }
    }
    if (covered.lt(quantity.abs())) {
      actions.push({
        code: "STOP_MISSING",
        positionId: p.id,
        tradeId: p.tradeId,
        symbol,
        quantity,
        coveredQuantity: covered,
        lastStopOrderId,
      });
    }
  }

  // Entries the books ended unsent that the broker works: past the grace period (the execute
  // job cancels one it finds arrived on its own), they are cancelled there.
  for (const k of input.orders) {
    const broker = matched.get(k.id);
    const ours = k.order;
    if (
      broker !== undefined &&
      (ours.role === "ENTRY" || ours.role === "SLICE") &&
      ours.status === "canceled" &&
      ours.brokerOrderId === null &&
      isOpenAtBroker(broker) &&
      input.now - k.createdAt >= input.graceMs
    ) {
      actions.push({
        code: "CANCELLED_ENTRY_WORKING",
        orderId: k.id,
        tradeId: k.tradeId,
        symbol: ours.symbol,
        brokerOrderId: broker.brokerOrderId,
        clientOrderId: ours.clientOrderId,
      });
    }
  }

  // 4. Working orders at the broker that are not ours.
  for (const o of external) {
    if (!isOpenAtBroker(o)) continue;
    actions.push({
      code: "EXTERNAL_ORDER_FOUND",
      symbol: o.symbol,
      side: o.side,
      brokerOrderId: o.brokerOrderId,
      clientOrderId: o.clientOrderId,
      status: o.status,
    });
  }
  return actions;
}

/**
 * What a live stop covers: its unfilled quantity, and for a bracket leg no more than its entry
 * has filled (the leg stands for the filled part; the protect job counts it the same way), and
 * nothing when that entry was cancelled or expired: the broker arms the legs only on the entry's
 * complete fill, so they never work, whatever status the broker still shows them in.
 */
function stopCoverage(stop: KnownOrder, knownById: ReadonlyMap<number, KnownOrder>): Decimal {
  const remaining = remainingQuantity(stop.order);
  const parent = stop.parentOrderId === null ? undefined : knownById.get(stop.parentOrderId);
  if (parent === undefined || !(parent.order.role === "ENTRY" || parent.order.role === "SLICE")) {
    return remaining;
  }
  if (parent.order.status === "canceled" || parent.order.status === "expired") return ZERO;
  return minDecimal(remaining, parent.order.filledQuantity);
}

/**
 * The price of shares the broker holds beyond ours: the broker's cost of its position minus our
 * cost, over the added quantity; else the broker's average entry.
 */
function addedPrice(
  ours: KnownPosition,
  brokerPosition: BrokerPosition | undefined,
  added: Decimal,
): { price: Decimal; source: PriceSource; externalOrder: null } | null {
  if (brokerPosition === undefined) return null;
  const brokerCost = brokerPosition.avgEntryPrice.times(brokerPosition.qty.abs());
  const implied = brokerCost
    .minus(ours.position.costBasis.abs())
    .div(added)
    .toDecimalPlaces(IMPLIED_PRICE_DECIMALS, Decimal.ROUND_HALF_EVEN);
  if (implied.gt(ZERO)) return { price: implied, source: "implied", externalOrder: null };
  return brokerPosition.avgEntryPrice.gt(ZERO)
    ? { price: brokerPosition.avgEntryPrice, source: "broker_position", externalOrder: null }
    : null;
}

/**
 * A decision still `executing` whose execute job is gone (failed for good, or lost): nothing will
 * carry it on, so reconciliation settles it.
 */
export interface StalledExecution {
  readonly decisionId: number;
  readonly symbol: string;
  /** When it was claimed for execution, epoch ms. */
  readonly claimedAt: number;
  /** Its recorded entry, or null when the job stopped before recording one. */
  readonly entry: KnownOrder | null;
  /**
   * Whether the broker knows the entry's client order id: true, false (not found), or null when
   * it was not asked (or could not answer).
   */
  readonly entryAtBroker: boolean | null;
}

/** The entry reached the broker: the decision was executed; the entry is followed as any order. */
export interface ExecutionConfirmed {
  readonly code: "EXECUTION_CONFIRMED";
  readonly decisionId: number;
  readonly symbol: string;
  readonly orderId: number;
  readonly tradeId: number | null;
}

/**
 * The entry never reached the broker: the decision failed, and the entry is closed in our books as
 * rejected (unless it already ended). It is never sent late: the plan behind it is stale.
 */
export interface EntryNeverSent {
  readonly code: "ENTRY_NEVER_SENT";
  readonly decisionId: number;
  readonly symbol: string;
  readonly orderId: number;
  readonly tradeId: number | null;
  /** False when the entry already ended in our books (only the decision is left to settle). */
  readonly closeEntry: boolean;
}

/** The execution stopped between the claim and recording an entry: the decision failed. */
export interface EntryNotRecorded {
  readonly code: "ENTRY_NOT_RECORDED";
  readonly decisionId: number;
  readonly symbol: string;
}

export type ExecutionSettlement = ExecutionConfirmed | EntryNeverSent | EntryNotRecorded;

/**
 * How to settle a stalled execution, or null to wait. An entry the broker acknowledged or knows by
 * its client order id confirms the execution at once. A failure needs the broker's word that the
 * entry is unknown (or no entry at all) and the grace period since the entry was recorded (or the
 * decision claimed), so an order still in flight is never written off.
 */
export function settleStalledExecution(
  stalled: StalledExecution,
  now: number,
  graceMs: number,
): ExecutionSettlement | null {
  const { decisionId, symbol, entry } = stalled;
  if (entry === null) {
    return now - stalled.claimedAt >= graceMs
      ? { code: "ENTRY_NOT_RECORDED", decisionId, symbol }
      : null;
  }
  const orderId = entry.id;
  const tradeId = entry.tradeId;
  if (entry.order.brokerOrderId !== null || stalled.entryAtBroker === true) {
    return { code: "EXECUTION_CONFIRMED", decisionId, symbol, orderId, tradeId };
  }
  if (stalled.entryAtBroker === false && now - entry.createdAt >= graceMs) {
    return {
      code: "ENTRY_NEVER_SENT",
      decisionId,
      symbol,
      orderId,
      tradeId,
      closeEntry: !isTerminal(entry.order.status),
    };
  }
  return null;
}

/** An approved decision whose execute job is gone (never queued, or lost) before it claimed it. */
export interface UnstartedExecution {
  readonly decisionId: number;
  readonly symbol: string;
  /** When it became due: approved, or its scheduled time when later, epoch ms. */
  readonly dueAt: number;
}

/**
 * Nothing ran the decision: it failed, and nothing was sent. Not queued again: the trader (or
 * the API client) may have planned it again after the approval's error, and a second entry would
 * double the position.
 */
export interface ExecutionNeverStarted {
  readonly code: "EXECUTION_NEVER_STARTED";
  readonly decisionId: number;
  readonly symbol: string;
}

/**
 * How to settle an approved decision that no execute job will run, or null to wait: the grace
 * period since it became due lets a job on its way to the queue arrive.
 */
export function settleUnstartedExecution(
  unstarted: UnstartedExecution,
  now: number,
  graceMs: number,
): ExecutionNeverStarted | null {
  if (now - unstarted.dueAt < graceMs) return null;
  return {
    code: "EXECUTION_NEVER_STARTED",
    decisionId: unstarted.decisionId,
    symbol: unstarted.symbol,
  };
}
