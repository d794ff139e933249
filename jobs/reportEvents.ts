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
 * inference) and nothing is added.
 */
import type { BrokerOrder, TradeUpdateEvent } from "../domain/broker";
import { Decimal } from "../domain/money";
import type { OrderEvent, OrderRole } from "../domain/order";

/** The execution a streamed fill reports. */
export interface ReportedExecution {
  readonly executionId: string;
  readonly quantity: Decimal;
  readonly price: Decimal;
}

/** Our order's fill figures, as stored. */
export interface KnownFills {
  readonly filledQuantity: Decimal;
  readonly filledNotional: Decimal;
  readonly appliedExecutionIds: readonly string[];
}

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

function impliedPrice(
  order: BrokerOrder,
  knownNotional: Decimal,
  quantity: Decimal,
  fallback: Decimal | null,
): Decimal | null {
  const average = order.filledAvgPrice ?? fallback ?? order.limitPrice ?? order.stopPrice;
  if (average === null) return null;
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

/**
 * The events that bring our order up to the broker's report: missed or new fills first (the
 * cumulative quantity), then the status, or the refused cancel/replace the update names.
 */
export function eventsForReport(
  known: KnownFills,
  order: BrokerOrder,
  update: {
    readonly event: TradeUpdateEvent | null;
    readonly execution: ReportedExecution | null;
    readonly at: string;
  },
): ReportEvent[] {
  const events: ReportEvent[] = [];
  const base = { at: update.at, brokerOrderId: order.brokerOrderId };
  const cumulative = order.filledQty;
  const ours = known.filledQuantity;
  const exec = update.execution;
  if (cumulative.gt(ours)) {
    const execUsable =
      exec !== null &&
      !known.appliedExecutionIds.includes(exec.executionId) &&
      ours.plus(exec.quantity).lte(cumulative);
    const inferUpTo = execUsable ? cumulative.minus(exec.quantity) : cumulative;
    const missing = inferUpTo.minus(ours);
    if (missing.gt(0)) {
      const knownNotional = known.filledNotional.plus(
        execUsable ? exec.price.times(exec.quantity) : 0,
      );
      const price = impliedPrice(order, knownNotional, missing, exec?.price ?? null);
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
  } else {
    const status = statusEvent(order, update.at);
    if (status !== null) events.push({ inferred: false, event: status });
  }
  return events;
}

/** The role of an exit leg by its order type: a stop protects, a limit takes the profit. */
export function roleOfLeg(leg: Pick<BrokerOrder, "type">): OrderRole {
  return leg.type === "limit" ? "TAKE_PROFIT" : "STOP_LOSS";
}
