import { assetIdFor } from "./assets";
import { isOpen, isPendingRequest, remainingQty } from "./book";
import { Dec, fmt, isOnTick, parseDec, ZERO } from "./decimal";
import type { Exchange } from "./exchange";
import { type OrderRequest, parseOrderRequest } from "./orderRequest";
import { orderJson } from "./orderView";
import {
  type ApiResult,
  fail,
  type LegRole,
  type OrderSide,
  type SimOrder,
  type TimeInForce,
} from "./types";

const FORBIDDEN = 40310000;
const INVALID = 42210000;
const NOT_FOUND = 40410000;

function insufficientQty(symbol: string, requested: Dec, available: Dec) {
  return fail(
    403,
    FORBIDDEN,
    `insufficient qty available for order (requested: ${fmt(requested)}, available: ${fmt(available)})`,
    { symbol, requested: fmt(requested), available: fmt(available) },
  );
}

type Intent = SimOrder["positionIntent"];

/**
 * Checks the order against the account the way Alpaca does: closing orders may not exceed the
 * position less what other closing orders already hold; opening orders need buying power (and
 * shorting permission). Returns the position intent.
 */
function checkAccount(ex: Exchange, r: OrderRequest, qty: Dec): ApiResult<Intent> {
  const pos = ex.positions.get(r.symbol)?.qty ?? ZERO;
  const closing = r.side === "sell" ? pos.gt(0) : pos.lt(0);
  // A stated closing intent closes or is refused; it never opens the other side.
  const mustClose = r.orderClass === "oco" || (r.positionIntent?.endsWith("_to_close") ?? false);
  if (closing || mustClose) {
    const held = r.side === "sell" ? pos : pos.neg();
    const available = held.gt(0) ? held.minus(ex.book.reservedToClose(r.symbol, r.side)) : ZERO;
    if (qty.gt(available)) {
      return insufficientQty(r.symbol, qty, available.gt(0) ? available : ZERO);
    }
    return { ok: true, value: r.side === "sell" ? "sell_to_close" : "buy_to_close" };
  }
  if (r.side === "sell") {
    const asset = ex.assets.get(r.symbol);
    if (!ex.account.shortingEnabled || !asset?.shortable || !qty.isInteger()) {
      return insufficientQty(r.symbol, qty, ZERO);
    }
  }
  const price = ex.estimatePrice({
    limitPrice: r.limitPrice,
    stopPrice: r.stopPrice,
    side: r.side,
    symbol: r.symbol,
  });
  const cost = qty.times(price);
  const power = ex.buyingPower();
  if (cost.gt(power)) {
    return fail(403, FORBIDDEN, "insufficient buying power", {
      buying_power: power.toFixed(2),
      cost_basis: cost.toFixed(2),
    });
  }
  return { ok: true, value: r.side === "buy" ? "buy_to_open" : "sell_to_open" };
}

/** Alpaca's bracket price rule: exits at least a cent on the right side of the entry's base price. */
function checkBasePrice(ex: Exchange, r: OrderRequest): ApiResult<true> {
  if (r.orderClass !== "bracket" && r.orderClass !== "oto") return { ok: true, value: true };
  const q = ex.market.quote(r.symbol);
  const base = r.limitPrice ?? r.stopPrice ?? q?.last ?? null;
  if (!base) return { ok: true, value: true };
  const cent = new Dec("0.01");
  const buy = r.side === "buy";
  if (r.takeProfit) {
    const tp = r.takeProfit.limitPrice;
    if (buy ? tp.lt(base.plus(cent)) : tp.gt(base.minus(cent))) {
      return fail(
        422,
        INVALID,
        `take_profit.limit_price must be ${buy ? ">=" : "<="} base_price ${buy ? "+" : "-"} 0.01`,
      );
    }
  }
  if (r.stopLoss) {
    const sp = r.stopLoss.stopPrice;
    if (buy ? sp.gt(base.minus(cent)) : sp.lt(base.plus(cent))) {
      return fail(
        422,
        INVALID,
        `stop_loss.stop_price must be ${buy ? "<=" : ">="} base_price ${buy ? "-" : "+"} 0.01`,
      );
    }
  }
  return { ok: true, value: true };
}

function blankOrder(
  ex: Exchange,
  fields: Pick<SimOrder, "symbol" | "side" | "type" | "timeInForce" | "orderClass" | "qty"> &
    Partial<SimOrder>,
): SimOrder {
  const t = ex.time();
  const id = ex.newId();
  return {
    id,
    seq: ex.book.nextSeq(),
    clientOrderId: id,
    assetId: "",
    notional: null,
    filledQty: ZERO,
    filledNotional: ZERO,
    limitPrice: null,
    stopPrice: null,
    trailPrice: null,
    trailPercent: null,
    hwm: null,
    stopTriggered: false,
    status: "accepted",
    extendedHours: false,
    createdAt: t,
    updatedAt: t,
    submittedAt: t,
    filledAt: null,
    expiredAt: null,
    canceledAt: null,
    failedAt: null,
    replacedAt: null,
    replacedBy: null,
    replaces: null,
    parentId: null,
    legIds: [],
    role: "entry",
    armed: false,
    pendingFrom: null,
    positionIntent: "buy_to_open",
    ...fields,
  };
}

function exitLeg(
  ex: Exchange,
  parent: SimOrder,
  role: LegRole,
  side: OrderSide,
  prices: { limitPrice: Dec | null; stopPrice: Dec | null },
  tif: TimeInForce,
): SimOrder {
  const type =
    role === "take_profit" ? "limit" : prices.limitPrice ? "stop_limit" : ("stop" as const);
  return blankOrder(ex, {
    symbol: parent.symbol,
    assetId: parent.assetId,
    side,
    type,
    timeInForce: tif,
    orderClass: parent.orderClass,
    qty: parent.qty,
    limitPrice: prices.limitPrice,
    stopPrice: prices.stopPrice,
    status: "held",
    parentId: parent.id,
    role,
    positionIntent: side === "sell" ? "sell_to_close" : "buy_to_close",
  });
}

/** `POST /v2/orders`: validates like Alpaca, records the order (and legs), routes and matches. */
export function submitOrder(ex: Exchange, body: unknown): ApiResult<Record<string, unknown>> {
  ex.sync();
  const parsed = parseOrderRequest(body);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  const asset = ex.assets.get(r.symbol);
  if (!asset) return fail(422, INVALID, `asset "${r.symbol}" not found`);
  if (!asset.tradable) return fail(422, INVALID, `asset ${r.symbol} is not tradable`);
  if (ex.account.tradingBlocked) return fail(403, FORBIDDEN, "trading is blocked for this account");
  if (r.clientOrderId && ex.book.hasClientOrderId(r.clientOrderId)) {
    return fail(422, 40010001, "client_order_id must be unique");
  }
  if (r.qty && !r.qty.isInteger() && !asset.fractionable) {
    return fail(422, INVALID, `asset ${r.symbol} is not fractionable`);
  }
  const base = checkBasePrice(ex, r);
  if (!base.ok) return base;

  let qty = r.qty;
  if (r.notional) {
    const price = ex.estimatePrice({
      limitPrice: null,
      stopPrice: null,
      side: r.side,
      symbol: r.symbol,
    });
    if (price.lte(0)) return fail(422, INVALID, "no price available for a notional order");
    qty = r.notional.div(price).toDecimalPlaces(9, 1);
  }
  if (!qty || qty.lte(0)) return fail(422, INVALID, "qty must be > 0");
  const intent = checkAccount(ex, r, qty);
  if (!intent.ok) return intent;
  if (
    (r.orderClass === "bracket" || r.orderClass === "oto") &&
    intent.value.endsWith("_to_close")
  ) {
    return fail(422, INVALID, `${r.orderClass} orders must be entry orders`);
  }

  const exitSide: OrderSide = r.orderClass === "oco" ? r.side : r.side === "buy" ? "sell" : "buy";
  const parent = blankOrder(ex, {
    symbol: r.symbol,
    assetId: assetIdFor(r.symbol),
    side: r.side,
    type: r.type,
    timeInForce: r.timeInForce,
    orderClass: r.orderClass,
    qty,
    notional: r.notional,
    limitPrice: r.orderClass === "oco" ? (r.takeProfit?.limitPrice ?? r.limitPrice) : r.limitPrice,
    stopPrice: r.stopPrice,
    trailPrice: r.trailPrice,
    trailPercent: r.trailPercent,
    extendedHours: r.extendedHours,
    role: r.orderClass === "oco" ? "take_profit" : "entry",
    positionIntent: intent.value,
  });
  if (r.clientOrderId) parent.clientOrderId = r.clientOrderId;
  const legs: SimOrder[] = [];
  if (r.orderClass !== "oco" && r.takeProfit) {
    legs.push(
      exitLeg(
        ex,
        parent,
        "take_profit",
        exitSide,
        { limitPrice: r.takeProfit.limitPrice, stopPrice: null },
        r.timeInForce,
      ),
    );
  }
  if (r.stopLoss) {
    legs.push(
      exitLeg(
        ex,
        parent,
        "stop_loss",
        exitSide,
        { limitPrice: r.stopLoss.limitPrice, stopPrice: r.stopLoss.stopPrice },
        r.timeInForce,
      ),
    );
  }
  parent.legIds = legs.map((l) => l.id);
  ex.addOrder(parent);
  for (const leg of legs) ex.addOrder(leg);

  if (ex.rejectNext > 0) {
    // The venue refuses it after Alpaca accepted it: the answer is 200, the stream says rejected.
    ex.rejectNext -= 1;
    const response = orderJson(
      { ...parent, status: "accepted" },
      legs.length > 0 ? legs.map((l) => ({ ...l })) : null,
    );
    ex.reject(parent);
    return { ok: true, value: response };
  }
  const routable = ex.canTrade(parent);
  // Alpaca answers before the order reaches the market: pending_new while open, accepted when queued.
  const response = orderJson(
    { ...parent, status: routable ? "pending_new" : "accepted" },
    legs.length > 0 ? legs.map((l) => ({ ...l })) : null,
  );
  if (routable) {
    parent.status = "new";
    ex.orderChanged(parent);
    ex.route(parent);
    ex.match(parent.symbol, "continuous");
  }
  return { ok: true, value: response };
}

/** `GET /v2/orders/{id}` and friends: 404 body when missing. */
export function findOrder(ex: Exchange, id: string): ApiResult<SimOrder> {
  ex.sync();
  const order = ex.book.get(id);
  if (!order) return fail(404, NOT_FOUND, "order not found");
  return { ok: true, value: order };
}

/**
 * `DELETE /v2/orders/{id}`: requests the cancel of the order and the rest of its group (204, then
 * `pending_cancel` and `canceled` on the stream). An order with a request outstanding refuses it.
 */
export function cancelOrder(ex: Exchange, id: string): ApiResult<true> {
  const found = findOrder(ex, id);
  if (!found.ok) return found;
  const order = found.value;
  if (!isOpen(order) || isPendingRequest(order.status)) {
    return fail(422, INVALID, `order is already in "${order.status}" state`);
  }
  ex.requestCancel(order);
  return { ok: true, value: true };
}

/** `DELETE /v2/orders`: requests the cancel of every open order; one `{id, status}` per order. */
export function cancelAllOrders(ex: Exchange): { id: string; status: number }[] {
  ex.sync();
  const open = ex.book.open();
  const answers: { id: string; status: number }[] = [];
  for (const o of open) {
    // A group member canceled with an earlier one of this loop counts as cancelled.
    if (!isOpen(o)) answers.push({ id: o.id, status: 200 });
    else if (o.status === "pending_replace") answers.push({ id: o.id, status: 500 });
    else {
      if (o.status !== "pending_cancel") ex.requestCancel(o);
      answers.push({ id: o.id, status: 200 });
    }
  }
  return answers;
}

/**
 * `PATCH /v2/orders/{id}`: a new order (new id) takes the old one's place, in its group too; the old
 * one becomes `replaced`. Alpaca refuses orders that are not yet working (accepted, pending_new).
 */
export function replaceOrder(
  ex: Exchange,
  id: string,
  raw: unknown,
): ApiResult<Record<string, unknown>> {
  const found = findOrder(ex, id);
  if (!found.ok) return found;
  const old = found.value;
  if (
    !isOpen(old) ||
    old.status === "accepted" ||
    old.status === "pending_new" ||
    isPendingRequest(old.status)
  ) {
    return fail(422, INVALID, `order is not replaceable in "${old.status}" state`);
  }
  const body = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const price = (key: string): ApiResult<Dec | null> => {
    const v = body[key];
    if (v === undefined || v === null || v === "") return { ok: true, value: null };
    const d = parseDec(v);
    if (!d || d.lte(0)) return fail(422, INVALID, `invalid ${key}`);
    if (!isOnTick(d)) {
      return fail(
        422,
        INVALID,
        `invalid ${key} ${d.toFixed()}. sub-penny increment does not fulfill minimum pricing criteria`,
      );
    }
    return { ok: true, value: d };
  };
  const limit = price("limit_price");
  if (!limit.ok) return limit;
  const stop = price("stop_price");
  if (!stop.ok) return stop;
  const trail = price("trail");
  if (!trail.ok) return trail;
  if (limit.value && old.type !== "limit" && old.type !== "stop_limit") {
    return fail(422, INVALID, `${old.type} orders must not have limit_price`);
  }
  if (stop.value && old.type !== "stop" && old.type !== "stop_limit") {
    return fail(422, INVALID, `${old.type} orders must not have stop_price`);
  }
  if (trail.value && old.type !== "trailing_stop")
    return fail(422, INVALID, `${old.type} orders must not have trail`);
  let qty = remainingQty(old);
  if (body.qty !== undefined && body.qty !== null && body.qty !== "") {
    const q = parseDec(body.qty);
    if (!q || q.lte(0)) return fail(422, INVALID, "qty must be > 0");
    qty = q;
  }
  const tif = (body.time_in_force as TimeInForce | undefined) ?? old.timeInForce;
  if (!["day", "gtc", "opg", "cls", "ioc", "fok"].includes(tif))
    return fail(422, INVALID, "invalid time_in_force");
  const clientOrderId =
    typeof body.client_order_id === "string" && body.client_order_id ? body.client_order_id : null;
  if (clientOrderId && ex.book.hasClientOrderId(clientOrderId)) {
    return fail(422, 40010001, "client_order_id must be unique");
  }
  if (old.positionIntent.endsWith("_to_close") && old.status !== "held") {
    const pos = ex.positions.get(old.symbol)?.qty.abs() ?? ZERO;
    const others = ex.book.reservedToClose(old.symbol, old.side).minus(remainingQty(old));
    const available = pos.minus(others.gt(0) ? others : ZERO);
    if (qty.gt(available)) return insufficientQty(old.symbol, qty, available);
  }

  if (old.positionIntent.endsWith("_to_open")) {
    // Buying power counts the larger of the two orders while one replaces the other.
    const oldCost = remainingQty(old).times(ex.estimatePrice(old));
    const newCost = qty.times(
      ex.estimatePrice({
        limitPrice: limit.value ?? old.limitPrice,
        stopPrice: stop.value ?? old.stopPrice,
        side: old.side,
        symbol: old.symbol,
      }),
    );
    const power = ex.buyingPower();
    if (newCost.gt(oldCost) && newCost.minus(oldCost).gt(power)) {
      return fail(403, FORBIDDEN, "insufficient buying power", {
        buying_power: power.toFixed(2),
        cost_basis: newCost.toFixed(2),
      });
    }
  }
  // The request is acknowledged first (`pending_replace`), then confirmed below.
  const wasHeld = old.status === "held";
  old.pendingFrom = old.status;
  old.status = "pending_replace";
  old.updatedAt = ex.time();
  ex.orderChanged(old);
  ex.emit("pending_replace", old);
  const fresh = blankOrder(ex, {
    symbol: old.symbol,
    assetId: old.assetId,
    side: old.side,
    type: old.type,
    timeInForce: tif,
    orderClass: old.orderClass,
    qty,
    limitPrice: limit.value ?? old.limitPrice,
    stopPrice: stop.value ?? old.stopPrice,
    trailPrice: old.trailPrice ? (trail.value ?? old.trailPrice) : null,
    trailPercent: old.trailPercent ? (trail.value ?? old.trailPercent) : null,
    extendedHours: old.extendedHours,
    status: wasHeld ? "held" : "new",
    armed: old.armed,
    parentId: old.parentId,
    legIds: old.legIds,
    role: old.role,
    positionIntent: old.positionIntent,
    replaces: old.id,
  });
  if (clientOrderId) fresh.clientOrderId = clientOrderId;
  ex.addOrder(fresh);
  const t = ex.time();
  old.status = "replaced";
  old.pendingFrom = null;
  old.replacedAt = t;
  old.replacedBy = fresh.id;
  old.updatedAt = t;
  ex.orderChanged(old);
  for (const leg of ex.book.legsOf(old)) {
    leg.parentId = fresh.id;
    // Held exits are sized to their entry: they follow a new quantity.
    if (old.role === "entry" && leg.status === "held" && !leg.armed) {
      leg.qty = qty.plus(old.filledQty);
      ex.orderChanged(leg);
    }
  }
  if (old.parentId) {
    const parent = ex.book.get(old.parentId);
    if (parent) parent.legIds = parent.legIds.map((l) => (l === old.id ? fresh.id : l));
  }
  old.legIds = [];
  ex.emit("replaced", old);
  if (fresh.status === "new") ex.emit("new", fresh);
  ex.match(fresh.symbol, "continuous");
  return { ok: true, value: orderJson(fresh, ex.legsJson(fresh)) };
}

/** `DELETE /v2/positions/{symbol}`: a market order for all (or `qty` / `percentage` of) the position. */
export function closePosition(
  ex: Exchange,
  symbol: string,
  options: { qty?: string | null; percentage?: string | null },
): ApiResult<Record<string, unknown>> {
  ex.sync();
  const pos = ex.positions.get(symbol.toUpperCase());
  if (!pos) return fail(404, NOT_FOUND, "position does not exist");
  let qty = pos.qty.abs();
  if (options.qty) {
    const q = parseDec(options.qty);
    if (!q || q.lte(0)) return fail(422, INVALID, "invalid qty");
    qty = q;
  } else if (options.percentage) {
    const p = parseDec(options.percentage);
    if (!p || p.lte(0) || p.gt(100)) return fail(422, INVALID, "invalid percentage");
    qty = qty
      .times(p)
      .div(100)
      .toDecimalPlaces(pos.qty.isInteger() ? 0 : 9, 1);
  }
  return submitOrder(ex, {
    symbol: pos.symbol,
    side: pos.qty.isNeg() ? "buy" : "sell",
    type: "market",
    time_in_force: "day",
    qty: fmt(qty),
  });
}

/** `DELETE /v2/positions`: optionally cancels every order first, then closes each position. */
export function closeAllPositions(
  ex: Exchange,
  cancelOrders: boolean,
): { symbol: string; status: number; body: Record<string, unknown> }[] {
  ex.sync();
  if (cancelOrders) cancelAllOrders(ex);
  return [...ex.positions.values()].map((p) => {
    const result = closePosition(ex, p.symbol, {});
    return result.ok
      ? { symbol: p.symbol, status: 200, body: result.value }
      : { symbol: p.symbol, status: result.status, body: result.body };
  });
}
