/**
 * Turns what the broker reports about one order (a streamed update with its execution, or an
 * order read over REST) into the events our order has not seen yet. Pure: the handler feeds the
 * result to the order state machine, which drops anything already applied.
 *
 * Fills: the broker's cumulative filled quantity is the truth. When it is ahead of ours, the
 * reported execution is applied under its own id if it accounts for the gap exactly; any gap it
 * does not explain (executions missed while the stream was down, or a polled report with no
 * execution at all) becomes an inferred fill at the implied average price, with an id built from
 * the order and the cumulative quantity, so two workers inferring the same gap infer the same
 * fill. When ours is already at or past the broker's figure, the fill was counted (by an earlier
 * inference) and nothing is added. A gap the broker gives no average price for is not guessed
 * (neither at the order's limit or stop price nor at a streamed execution's): it is left, with
 * the order's status, to a later report that prices it (`unpricedFillQuantity` says how much).
 *
 * Statuses: a read of the order (a poll, no event) showing it working while the books hold a
 * cancel pending is believed only after `PENDING_CANCEL_GRACE_MS` (see there).
 */
import type { BrokerOrder, TradeUpdateEvent } from "../domain/broker";
import { Decimal } from "../domain/money";
import type { OrderEvent, OrderRole, OrderStatus } from "../domain/order";

/** The execution a streamed fill reports. */
export interface ReportedExecution {
  readonly executionId: string;
  readonly quantity: Decimal;
  readonly price: Decimal;
}

/** Our order's fill figures, as stored, and (when given) its status and when it last moved. */
export interface KnownFills {
  readonly filledQuantity: Decimal;
  readonly filledNotional: Decimal;
  readonly appliedExecutionIds: readonly string[];
  readonly status?: OrderStatus;
  /** ISO-8601: when the books last moved the order (for a pending cancel: the request). */
  readonly updatedAt?: string;
}

/**
 * How long after the books asked for a cancel (the order `pending_cancel`) a read of the order
 * showing it working (`new`, `accepted`, `held`) is taken as old news rather than the cancel's
 * failure: the broker may show the old status for a moment after accepting a cancel, and the
 * books taking it would show the order working (to /orders, the stop checks, a halt's sweep)
 * while it is being cancelled. Past it, the read is believed (the cancel did not take). A
 * refusal the stream reports (`order_cancel_rejected`) is taken at once; reconciliation, whose
 * grace period is longer, restores a refused cancel in any case.
 */
export const PENDING_CANCEL_GRACE_MS = 10_000;

const WORKING_AFTER_CANCEL: readonly OrderStatus[] = ["new", "accepted", "held"];

/** An event to apply, and whether it is a fill we inferred rather than one the broker named. */
export interface ReportEvent {
  readonly event: OrderEvent;
  readonly inferred: boolean;
}

/** Decimals kept for an inferred fill's implied price (the broker's average is not on the tick). */
const IMPLIED_PRICE_DECIMALS = 6;

/** The deterministic execution id of a fill inferred up to a cumulative quantity. */
export function inferredExecutionId(brokerOrderId: string, cumulativeQuantity: Decimal): string {
  return `inferred-${brokerOrderId}-${cumulativeQuantity.toFixed()}`;
}

/**
 * The price of the executions that took our count to the broker's: from the broker's average,
 * null without one (never the order's limit or stop price, which a fill may beat or miss).
 */
function impliedPrice(
  order: BrokerOrder,
  knownNotional: Decimal,
  quantity: Decimal,
): Decimal | null {
  const average = order.filledAvgPrice;
  if (average === null || average.lte(0)) return null;
  const price = order.filledQty.times(average).minus(knownNotional).div(quantity);
  const rounded = price.toDecimalPlaces(IMPLIED_PRICE_DECIMALS, Decimal.ROUND_HALF_EVEN);
  // A rounding of the broker's average can imply a price that is not positive; use the average.
  return rounded.gt(0) ? rounded : average;
}

/** The status event a broker status stands for (fills are reported by quantity instead). */
function statusEvent(order: BrokerOrder, at: string): OrderEvent | null {
  const base = { at, brokerOrderId: order.brokerOrderId };
  switch (order.status) {
    case "filled":
    case "partially_filled":
      return null;
    case "accepted_for_bidding":
      return { ...base, event: "accepted" };
    case "replaced":
      return { ...base, event: "replaced", replacedByOrderId: order.replacedBy ?? "unknown" };
    case "rejected":
      return { ...base, event: "rejected", reason: "rejected by the broker" };
    default:
      return { ...base, event: order.status };
  }
}

/** Whether the reported execution is news that fits within the broker's cumulative count. */
function usableExecution(
  known: KnownFills,
  order: BrokerOrder,
  exec: ReportedExecution | null,
): exec is ReportedExecution {
  return (
    exec !== null &&
    !known.appliedExecutionIds.includes(exec.executionId) &&
    known.filledQuantity.plus(exec.quantity).lte(order.filledQty)
  );
}

/**
 * The quantity the broker filled beyond ours that its report cannot price (no average price),
 * beside the reported execution, which has its own; null when there is none. Such a gap is left
 * to a later report: the caller may log it.
 */
export function unpricedFillQuantity(
  known: KnownFills,
  order: BrokerOrder,
  execution: ReportedExecution | null,
): Decimal | null {
  if (order.filledAvgPrice?.gt(0)) return null;
  const named = usableExecution(known, order, execution) ? execution.quantity : 0;
  const missing = order.filledQty.minus(named).minus(known.filledQuantity);
  return missing.gt(0) ? missing : null;
}

/**
 * Whether a read of the order showing it working may be the broker's old status while the
 * books' cancel is on its way (see `PENDING_CANCEL_GRACE_MS`): measured on `now` when given,
 * else on the report's own time (a status the broker dated before the request is no answer
 * to it).
 */
function cancelMayBeOnItsWay(
  known: KnownFills,
  status: OrderEvent,
  update: { readonly event: TradeUpdateEvent | null; readonly at: string; readonly now?: Date },
): boolean {
  if (update.event !== null || known.status !== "pending_cancel" || !known.updatedAt) {
    return false;
  }
  if (!WORKING_AFTER_CANCEL.includes(status.event as OrderStatus)) return false;
  const clock = update.now?.getTime() ?? Date.parse(update.at);
  return clock - Date.parse(known.updatedAt) < PENDING_CANCEL_GRACE_MS;
}

/**
 * The events that bring our order up to the broker's report: missed or new fills first (the
 * cumulative quantity), then the status, or the refused cancel/replace the update names. A fill
 * the broker gives no price for is left out, and so is the status (it may end the order, which
 * a poll then no longer reads): both come with a later report. `now`, the desk's clock, times
 * the grace period of a pending cancel (else the report's time does).
 */
export function eventsForReport(
  known: KnownFills,
  order: BrokerOrder,
  update: {
    readonly event: TradeUpdateEvent | null;
    readonly execution: ReportedExecution | null;
    readonly at: string;
    readonly now?: Date;
  },
): ReportEvent[] {
  const events: ReportEvent[] = [];
  const base = { at: update.at, brokerOrderId: order.brokerOrderId };
  const cumulative = order.filledQty;
  const ours = known.filledQuantity;
  const exec = update.execution;
  let unpriced = false;
  if (cumulative.gt(ours)) {
    const execUsable = usableExecution(known, order, exec);
    const inferUpTo = execUsable ? cumulative.minus(exec.quantity) : cumulative;
    const missing = inferUpTo.minus(ours);
    if (missing.gt(0)) {
      const knownNotional = known.filledNotional.plus(
        execUsable ? exec.price.times(exec.quantity) : 0,
      );
      const price = impliedPrice(order, knownNotional, missing);
      unpriced = price === null;
      if (price !== null) {
        events.push({
          inferred: true,
          event: {
            ...base,
            event: "partial_fill",
            executionId: inferredExecutionId(order.brokerOrderId, inferUpTo),
            quantity: missing,
            price,
          },
        });
      }
    }
    if (execUsable) {
      events.push({
        inferred: false,
        event: {
          ...base,
          event: update.event === "fill" ? "fill" : "partial_fill",
          executionId: exec.executionId,
          quantity: exec.quantity,
          price: exec.price,
        },
      });
    }
  }
  if (update.event === "order_cancel_rejected" || update.event === "order_replace_rejected") {
    events.push({ inferred: false, event: { ...base, event: update.event } });
  } else if (!unpriced) {
    const status = statusEvent(order, update.at);
    if (status !== null && !cancelMayBeOnItsWay(known, status, update)) {
      events.push({ inferred: false, event: status });
    }
  }
  return events;
}

/** The role of an exit leg by its order type: a stop protects, a limit takes the profit. */
export function roleOfLeg(leg: Pick<BrokerOrder, "type">): OrderRole {
  return leg.type === "limit" ? "TAKE_PROFIT" : "STOP_LOSS";
}
