import { fmt } from "./decimal";
import type { SimOrder } from "./types";

function iso(t: Date | null): string | null {
  return t ? t.toISOString() : null;
}

/**
 * An order as Alpaca's REST API and stream print it. Simple orders carry `order_class: ""`, as in
 * Alpaca's own response examples; legs are nested only when `legs` are passed.
 */
export function orderJson(
  order: SimOrder,
  legs: SimOrder[] | null = null,
): Record<string, unknown> {
  const avg = order.filledQty.gt(0) ? order.filledNotional.div(order.filledQty) : null;
  return {
    id: order.id,
    client_order_id: order.clientOrderId,
    created_at: order.createdAt.toISOString(),
    updated_at: iso(order.updatedAt),
    submitted_at: iso(order.submittedAt),
    filled_at: iso(order.filledAt),
    expired_at: iso(order.expiredAt),
    canceled_at: iso(order.canceledAt),
    failed_at: iso(order.failedAt),
    replaced_at: iso(order.replacedAt),
    replaced_by: order.replacedBy,
    replaces: order.replaces,
    asset_id: order.assetId,
    symbol: order.symbol,
    asset_class: "us_equity",
    notional: order.notional ? fmt(order.notional) : null,
    // A notional order is sized by dollars: Alpaca shows no qty for it.
    qty: order.qty && !order.notional ? fmt(order.qty) : null,
    filled_qty: fmt(order.filledQty),
    filled_avg_price: avg ? fmt(avg.toDecimalPlaces(order.filledQty.isInteger() ? 4 : 9)) : null,
    order_class: order.orderClass === "simple" ? "" : order.orderClass,
    order_type: order.type,
    type: order.type,
    side: order.side,
    position_intent: order.positionIntent,
    time_in_force: order.timeInForce,
    limit_price: order.limitPrice ? fmt(order.limitPrice) : null,
    stop_price: order.stopPrice ? fmt(order.stopPrice) : null,
    status: order.status,
    extended_hours: order.extendedHours,
    legs: legs ? legs.map((leg) => orderJson(leg, null)) : null,
    trail_percent: order.trailPercent ? fmt(order.trailPercent) : null,
    trail_price: order.trailPrice ? fmt(order.trailPrice) : null,
    hwm: order.hwm ? fmt(order.hwm) : null,
    source: null,
    subtag: null,
  };
}
