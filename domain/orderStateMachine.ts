import type { Decimal } from "./money";
import {
  type Order,
  type OrderEvent,
  type OrderEventName,
  type OrderFillEvent,
  type OrderStatus,
  PENDING_REQUEST_STATUSES,
  type PendingRequestStatus,
  TERMINAL_ORDER_STATUSES,
} from "./order";
import { type Ok, ok, type Refusal, refuse } from "./outcome";

/**
 * The one transition table: from each broker status, the statuses an event may move an order to.
 *
 * Reading it:
 * - Fills: a fill moves a working order to `partially_filled` or `filled` by cumulative quantity.
 *   While a cancel or replace request is outstanding, a partial fill keeps the pending status (the
 *   request is still out; the status to restore becomes `partially_filled`), hence the
 *   `pending_cancel -> pending_cancel` and `pending_replace -> pending_replace` entries.
 * - A rejected cancel or replace restores the status held before the request, so the pending
 *   statuses list every status a request can be made from.
 * - `canceled -> canceled` / `canceled -> filled`: a late fill after a cancel is real and is
 *   applied; the order stays `canceled` (nothing more will fill, nothing to cancel) unless the late
 *   fill completes it. The same for `expired` and `rejected` (see `LATE_FILL_STATUSES`): the books
 *   may end an order so that the broker filled all the same (an entry settled as never sent that
 *   had reached the broker, a day order ended expired while its fill was on the way); the shares
 *   are the order's and belong on its trade, not adopted as someone else's.
 * - `held` is a bracket leg waiting for its entry; it may report its first fill without the
 *   activation event in between (the stream does not replay missed messages).
 * - `filled` and `replaced` are final; `expired` and `rejected` take nothing but a late fill. A
 *   local denial ends as `rejected`.
 * The test holds this table against a reference engine's table; every difference is listed there
 * with its reason.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending_new: [
    "accepted",
    "accepted_for_bidding",
    "new",
    "held",
    "partially_filled",
    "filled",
    "pending_cancel",
    "pending_replace",
    "canceled",
    "expired",
    "rejected",
  ],
  accepted: [
    "pending_new",
    "accepted_for_bidding",
    "new",
    "held",
    "partially_filled",
    "filled",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
    "rejected",
  ],
  accepted_for_bidding: [
    "new",
    "partially_filled",
    "filled",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
    "rejected",
  ],
  new: [
    "partially_filled",
    "filled",
    "done_for_day",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
    "rejected",
    "stopped",
    "suspended",
    "calculated",
  ],
  held: [
    "pending_new",
    "accepted",
    "new",
    "partially_filled",
    "filled",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
    "rejected",
  ],
  partially_filled: [
    "partially_filled",
    "filled",
    "done_for_day",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
  ],
  done_for_day: [
    "new",
    "partially_filled",
    "filled",
    "calculated",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "canceled",
    "expired",
  ],
  stopped: ["partially_filled", "filled", "canceled", "expired"],
  suspended: [
    "new",
    "partially_filled",
    "filled",
    "pending_cancel",
    "canceled",
    "expired",
    "rejected",
  ],
  calculated: ["partially_filled", "filled", "canceled", "expired"],
  pending_cancel: [
    "pending_cancel",
    "canceled",
    "filled",
    "expired",
    // restored when the cancel is rejected:
    "pending_new",
    "accepted",
    "accepted_for_bidding",
    "new",
    "held",
    "partially_filled",
    "done_for_day",
    "suspended",
  ],
  pending_replace: [
    "pending_replace",
    "replaced",
    "pending_cancel",
    "filled",
    "canceled",
    "expired",
    // restored when the replace is rejected:
    "pending_new",
    "accepted",
    "accepted_for_bidding",
    "new",
    "held",
    "partially_filled",
    "done_for_day",
  ],
  canceled: ["canceled", "filled"],
  filled: [],
  expired: ["expired", "filled"],
  replaced: [],
  rejected: ["rejected", "filled"],
};

/**
 * Ended statuses that still take a late fill, keeping the status unless the fill completes the
 * order. A replaced order takes none: its replacement carries its fills.
 */
export const LATE_FILL_STATUSES: readonly OrderStatus[] = ["canceled", "expired", "rejected"];

/** Whether the table allows an order to move from one status to another. */
export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return ORDER_TRANSITIONS[from].includes(to);
}

/**
 * Whether an order in this status is finished: it will not work again (a canceled, expired or
 * rejected order may still report a late fill).
 */
export function isTerminal(status: OrderStatus): boolean {
  return (TERMINAL_ORDER_STATUSES as readonly OrderStatus[]).includes(status);
}

/** Whether an order in this status is open at the broker: it may still fill and would need cancelling. */
export function isWorking(status: OrderStatus): boolean {
  return !isTerminal(status);
}

/** Whether a cancel or replace request is outstanding. */
export function isPendingRequest(status: OrderStatus): status is PendingRequestStatus {
  return (PENDING_REQUEST_STATUSES as readonly OrderStatus[]).includes(status);
}

/** Quantity still to fill: order quantity minus filled quantity (never negative, fills are capped). */
export function remainingQuantity(order: Order): Decimal {
  return order.quantity.minus(order.filledQuantity);
}

/** The execution that an event added to an order, for the position and the trade journal. */
export interface AppliedFill {
  readonly executionId: string;
  readonly price: Decimal;
  readonly quantity: Decimal;
  readonly at: string;
}

/**
 * What applying an event did, beside the new order:
 * - `APPLIED`: the event moved the order (status, fill, or recorded broker id).
 * - `LATE_FILL`: a fill on a canceled, expired or rejected order, applied.
 * - `DUPLICATE_EXECUTION`: the execution id was applied before; nothing changed.
 * - `REPEATED_STATUS`: the order already has the status the event reports; nothing changed.
 * - `NO_PENDING_REQUEST`: a cancel/replace rejection with no such request outstanding (typically
 *   the order filled first); nothing changed.
 * - `REVIVED`: a bracket leg the books had ended unsent (canceled or rejected) took the
 *   broker's first report of it (see `endedUnsentLeg`), or an entry the books had ended unsent
 *   took the broker's refusal to cancel it (see `endedUnsentEntry`).
 */
export type OrderEventNote =
  | "APPLIED"
  | "LATE_FILL"
  | "DUPLICATE_EXECUTION"
  | "REPEATED_STATUS"
  | "NO_PENDING_REQUEST"
  | "REVIVED";

export interface OrderEventApplied {
  readonly order: Order;
  /** False when the event was a no-op; `order` is then the very object passed in. */
  readonly changed: boolean;
  readonly note: OrderEventNote;
  /** The fill this event added, when it added one; apply it to the position and trade exactly once. */
  readonly fill: AppliedFill | null;
}

/**
 * Why an event was refused. The order is unchanged; the caller records the event and flags it.
 * - `ILLEGAL_TRANSITION`: the table does not allow `from -> to` (including anything on a final order).
 * - `OVERFILL`: the fill would take the filled quantity past the order quantity.
 * - `INVALID_FILL`: a fill with a non-positive quantity or price.
 * - `BROKER_ORDER_ID_MISMATCH`: the event names another broker order.
 * - `ALREADY_SUBMITTED`: a local denial for an order the broker has already acknowledged.
 */
export type OrderEventRefusalCode =
  | "ILLEGAL_TRANSITION"
  | "OVERFILL"
  | "INVALID_FILL"
  | "BROKER_ORDER_ID_MISMATCH"
  | "ALREADY_SUBMITTED";

export interface OrderEventRefusal extends Refusal<OrderEventRefusalCode> {
  readonly event: OrderEventName;
  readonly from: OrderStatus;
  /** The status the event would have led to, when there is one. */
  readonly to: OrderStatus | null;
}

export type OrderEventOutcome = Ok<OrderEventApplied> | OrderEventRefusal;

function refuseEvent(
  code: OrderEventRefusalCode,
  message: string,
  order: Order,
  event: OrderEvent,
  to: OrderStatus | null,
): OrderEventRefusal {
  return { ...refuse(code, message), event: event.event, from: order.status, to };
}

function unchanged(order: Order, note: OrderEventNote): Ok<OrderEventApplied> {
  return ok({ order, changed: false, note, fill: null });
}

/** The status to leave a pending request to, and the status to remember while one is pending. */
function statusBeforePendingAfter(order: Order, to: OrderStatus): OrderStatus | null {
  if (!isPendingRequest(to)) return null;
  // A cancel stacked on a replace restores the status before the first request.
  return isPendingRequest(order.status) ? order.statusBeforePending : order.status;
}

/**
 * Applies one broker event (or our local denial) to an order through the transition table.
 *
 * Rules: a fill whose execution id was already applied changes nothing; a fill makes the order
 * `filled` when the cumulative quantity reaches the order quantity, else `partially_filled` (or
 * keeps a pending cancel/replace status); the average fill price is recomputed from the exact
 * filled notional; a late fill on a canceled, expired or rejected order is applied; a fill
 * past the order quantity is refused (OVERFILL); a rejected cancel or replace restores the
 * status before the request; an event repeating the current status changes nothing; a bracket
 * leg ended in the books before the broker had it takes the broker's first report of it, and
 * such an entry the broker's refusal to cancel it (REVIVED: `pending_new`, or `partially_filled`
 * with what it filled); anything else the table does not allow is refused (ILLEGAL_TRANSITION)
 * and leaves the order as it was.
 */
export function applyOrderEvent(order: Order, event: OrderEvent): OrderEventOutcome {
  const brokerOrderId = event.event === "denied" ? undefined : event.brokerOrderId;
  if (
    brokerOrderId !== undefined &&
    order.brokerOrderId !== null &&
    brokerOrderId !== order.brokerOrderId
  ) {
    return refuseEvent(
      "BROKER_ORDER_ID_MISMATCH",
      `event for broker order ${brokerOrderId} applied to broker order ${order.brokerOrderId}`,
      order,
      event,
      null,
    );
  }
  const acknowledged =
    brokerOrderId !== undefined && order.brokerOrderId === null ? { brokerOrderId } : {};

  if (brokerOrderId !== undefined && event.event !== order.status && endedUnsentLeg(order)) {
    // The books ended the leg only because its entry seemed not to have reached the broker; the
    // broker reporting it proves the entry (and its legs) got there: the leg is judged again as
    // the held leg it was, and takes the broker's status.
    const revived = applyOrderEvent({ ...order, status: "held", statusBeforePending: null }, event);
    return revived.ok && revived.value.changed
      ? ok({ ...revived.value, note: "REVIVED" })
      : revived;
  }

  if (
    brokerOrderId !== undefined &&
    event.event === "order_cancel_rejected" &&
    endedUnsentEntry(order)
  ) {
    // The books ended the entry as unsent, the broker took it all the same and refused to cancel
    // it: it works there, so it works in the books, with the broker's id, as if that cancel had
    // been pending and was rejected. It restores the status the entry had when the books ended
    // it, `pending_new` (sent, its acknowledgement not stored), from which the broker's next
    // report of it leads to any status it may have (accepted, new...); or `partially_filled`
    // when it filled meanwhile, the fills kept.
    return ok({
      order: {
        ...order,
        ...acknowledged,
        status: order.filledQuantity.isZero() ? "pending_new" : "partially_filled",
        statusBeforePending: null,
        updatedAt: event.at,
      },
      changed: true,
      note: "REVIVED",
      fill: null,
    });
  }

  if (event.event === "fill" || event.event === "partial_fill") {
    return applyFill(order, event, acknowledged);
  }

  if (event.event === "order_cancel_rejected" || event.event === "order_replace_rejected") {
    const pending: PendingRequestStatus =
      event.event === "order_cancel_rejected" ? "pending_cancel" : "pending_replace";
    if (order.status !== pending) return unchanged(order, "NO_PENDING_REQUEST");
    // Without a remembered status (an order loaded mid-request), fall back on what the fills say.
    const restored =
      order.statusBeforePending ?? (order.filledQuantity.isZero() ? "new" : "partially_filled");
    return moveTo(order, event, restored, acknowledged, {});
  }

  if (event.event === "denied") {
    if (order.brokerOrderId !== null) {
      return refuseEvent(
        "ALREADY_SUBMITTED",
        `order ${order.clientOrderId} was already acknowledged by the broker; it cannot be denied`,
        order,
        event,
        "rejected",
      );
    }
    return moveTo(order, event, "rejected", acknowledged, {
      rejection: { source: "risk", reason: event.reason },
    });
  }

  if (event.event === "rejected") {
    return moveTo(order, event, "rejected", acknowledged, {
      rejection: { source: "broker", reason: event.reason },
    });
  }

  if (event.event === "replaced") {
    return moveTo(order, event, "replaced", acknowledged, {
      replacedByOrderId: event.replacedByOrderId,
    });
  }

  // The remaining events are named after the status they report.
  return moveTo(order, event, event.event, acknowledged, {});
}

/**
 * A bracket's stop or target leg the books ended (canceled, or rejected) before the broker ever
 * acknowledged it, with nothing filled: its entry was cancelled while it seemed unsent, or
 * ended as never sent (its send answered with a refusal, or settled as lost). Such a leg takes
 * the broker's word when the broker reports it after all (the entry's send arrived), instead of
 * being held ended beside a leg working at the broker: the entry's late fill would otherwise be
 * protected a second time, or found unprotected when the broker's legs hold its shares.
 */
export function endedUnsentLeg(order: Order): boolean {
  return (
    order.orderClass === "bracket" &&
    (order.role === "STOP_LOSS" || order.role === "TAKE_PROFIT") &&
    (order.status === "canceled" || order.status === "rejected") &&
    order.brokerOrderId === null &&
    order.filledQuantity.isZero()
  );
}

/**
 * An entry (or slice) the books ended (canceled) before the broker ever acknowledged it: a
 * trader's cancel found it unsent while its send was on the way. When the broker took it and
 * refuses to cancel it (`order_cancel_rejected` with its id), it takes the broker's word that it
 * works, so that /orders shows it and a halt's sweep cancels it. Only that refusal revives it:
 * the broker merely reporting it working is the cue to cancel it there.
 *
 * Nothing filled, such an entry has no broker id: one with the id and nothing filled was reported
 * canceled by the broker itself, and stays so. Filled in part, it may have the id from the fill
 * the broker reported before refusing the cancel (the same report, or the stream's before it), so
 * the id does not tell who ended it; the broker refusing a cancel of it says it works, and it is
 * revived with what it filled. (A refusal handled after the broker's own cancel was stored would
 * show it working until the next report of it, which ends it again: the safe side of the doubt.)
 */
export function endedUnsentEntry(order: Order): boolean {
  return (
    (order.role === "ENTRY" || order.role === "SLICE") &&
    order.status === "canceled" &&
    (order.brokerOrderId === null || order.filledQuantity.gt(0))
  );
}

function moveTo(
  order: Order,
  event: OrderEvent,
  to: OrderStatus,
  acknowledged: { brokerOrderId?: string },
  extra: Partial<Pick<Order, "rejection" | "replacedByOrderId">>,
): OrderEventOutcome {
  if (to === order.status) {
    // A repeated delivery (stream and polling both report it). Only a first broker id is news.
    if (acknowledged.brokerOrderId === undefined) return unchanged(order, "REPEATED_STATUS");
    return ok({
      order: { ...order, ...acknowledged, updatedAt: event.at },
      changed: true,
      note: "APPLIED",
      fill: null,
    });
  }
  if (!canTransition(order.status, to)) {
    return refuseEvent(
      "ILLEGAL_TRANSITION",
      `order ${order.clientOrderId}: ${event.event} cannot move ${order.status} to ${to}`,
      order,
      event,
      to,
    );
  }
  return ok({
    order: {
      ...order,
      ...acknowledged,
      ...extra,
      status: to,
      statusBeforePending: statusBeforePendingAfter(order, to),
      updatedAt: event.at,
    },
    changed: true,
    note: "APPLIED",
    fill: null,
  });
}

function applyFill(
  order: Order,
  event: OrderFillEvent,
  acknowledged: { brokerOrderId?: string },
): OrderEventOutcome {
  if (order.appliedExecutionIds.includes(event.executionId)) {
    return unchanged(order, "DUPLICATE_EXECUTION");
  }
  if (
    !event.quantity.isFinite() ||
    event.quantity.lte(0) ||
    !event.price.isFinite() ||
    event.price.lte(0)
  ) {
    return refuseEvent(
      "INVALID_FILL",
      `execution ${event.executionId}: quantity and price must be positive`,
      order,
      event,
      null,
    );
  }
  const filledQuantity = order.filledQuantity.plus(event.quantity);
  const complete = filledQuantity.gte(order.quantity);
  const late = LATE_FILL_STATUSES.includes(order.status);
  const to: OrderStatus = complete
    ? "filled"
    : late || isPendingRequest(order.status)
      ? order.status
      : "partially_filled";
  if (!canTransition(order.status, to)) {
    return refuseEvent(
      "ILLEGAL_TRANSITION",
      `order ${order.clientOrderId}: execution ${event.executionId} cannot move ${order.status} to ${to}`,
      order,
      event,
      to,
    );
  }
  if (filledQuantity.gt(order.quantity)) {
    return refuseEvent(
      "OVERFILL",
      `order ${order.clientOrderId}: execution ${event.executionId} of ${event.quantity.toString()} would fill ${filledQuantity.toString()} of ${order.quantity.toString()}`,
      order,
      event,
      to,
    );
  }
  const filledNotional = order.filledNotional.plus(event.price.times(event.quantity));
  const statusBeforePending =
    to === order.status && isPendingRequest(to) ? "partially_filled" : null;
  return ok({
    order: {
      ...order,
      ...acknowledged,
      filledQuantity,
      filledNotional,
      averageFillPrice: filledNotional.div(filledQuantity),
      status: to,
      statusBeforePending,
      appliedExecutionIds: [...order.appliedExecutionIds, event.executionId],
      updatedAt: event.at,
    },
    changed: true,
    note: late ? "LATE_FILL" : "APPLIED",
    fill: {
      executionId: event.executionId,
      price: event.price,
      quantity: event.quantity,
      at: event.at,
    },
  });
}
