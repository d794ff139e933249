import { type Dec, isOnTick, parseDec } from "./decimal";
import {
  type ApiResult,
  fail,
  type OrderClass,
  type OrderSide,
  type OrderType,
  type PositionIntent,
  type TimeInForce,
} from "./types";

/** A validated order request, before account checks. */
export interface OrderRequest {
  symbol: string;
  side: OrderSide;
  type: OrderType;
  timeInForce: TimeInForce;
  orderClass: OrderClass;
  qty: Dec | null;
  notional: Dec | null;
  limitPrice: Dec | null;
  stopPrice: Dec | null;
  trailPrice: Dec | null;
  trailPercent: Dec | null;
  extendedHours: boolean;
  /** The intent the client stated, if any (the account checks infer it otherwise). */
  positionIntent: PositionIntent | null;
  clientOrderId: string | null;
  takeProfit: { limitPrice: Dec } | null;
  stopLoss: { stopPrice: Dec; limitPrice: Dec | null } | null;
}

const TYPES: readonly OrderType[] = ["market", "limit", "stop", "stop_limit", "trailing_stop"];
const TIFS: readonly TimeInForce[] = ["day", "gtc", "opg", "cls", "ioc", "fok"];
const CLASSES: readonly OrderClass[] = ["simple", "bracket", "oco", "oto"];
const INTENTS: readonly PositionIntent[] = [
  "buy_to_open",
  "buy_to_close",
  "sell_to_open",
  "sell_to_close",
];

const INVALID = 42210000;

function invalid(message: string) {
  return fail(422, INVALID, message);
}

function subPenny(field: string, price: Dec) {
  return invalid(
    `invalid ${field} ${price.toFixed()}. sub-penny increment does not fulfill minimum pricing criteria`,
  );
}

type PriceResult = { ok: true; value: Dec | null } | ReturnType<typeof invalid>;

function readPrice(body: Record<string, unknown>, key: string, label = key): PriceResult {
  const raw = body[key];
  if (raw === undefined || raw === null || raw === "") return { ok: true, value: null };
  const value = parseDec(raw);
  if (!value || value.lte(0)) return invalid(`invalid ${label}`);
  if (!isOnTick(value)) return subPenny(label, value);
  return { ok: true, value };
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** Parses and validates `POST /v2/orders` the way Alpaca does, before account-level checks. */
export function parseOrderRequest(raw: unknown): ApiResult<OrderRequest> {
  const body = asRecord(raw);
  if (!body) return fail(400, 40010000, "request body format is invalid");
  const symbol = typeof body.symbol === "string" ? body.symbol.trim().toUpperCase() : "";
  if (!symbol) return invalid("symbol is required");
  const side = body.side;
  if (side !== "buy" && side !== "sell") return invalid("invalid side");
  const type = (body.type ?? body.order_type) as OrderType;
  if (!TYPES.includes(type)) return invalid("invalid order type");
  const timeInForce = body.time_in_force as TimeInForce;
  if (!TIFS.includes(timeInForce)) return invalid("invalid time_in_force");
  const rawClass =
    body.order_class === undefined || body.order_class === "" ? "simple" : body.order_class;
  if (!CLASSES.includes(rawClass as OrderClass)) return invalid("invalid order_class");
  const orderClass = rawClass as OrderClass;

  let qty: Dec | null = null;
  let notional: Dec | null = null;
  if (body.qty !== undefined && body.qty !== null && body.qty !== "") {
    qty = parseDec(body.qty);
    if (!qty || qty.lte(0)) return invalid("qty must be > 0");
  }
  if (body.notional !== undefined && body.notional !== null && body.notional !== "") {
    notional = parseDec(body.notional);
    if (!notional || notional.lte(0)) return invalid("notional must be > 0");
  }
  if (qty && notional) return invalid("only one of qty or notional is accepted");
  if (!qty && !notional) return invalid("qty or notional is required");
  if (notional && (type !== "market" || timeInForce !== "day")) {
    return invalid("notional orders must be DAY market orders");
  }
  if (qty && !qty.isInteger() && (type !== "market" || timeInForce !== "day")) {
    return invalid("fractional orders must be DAY market orders");
  }

  const limit = readPrice(body, "limit_price");
  if (!limit.ok) return limit;
  const stop = readPrice(body, "stop_price");
  if (!stop.ok) return stop;
  const trailPrice = readPrice(body, "trail_price");
  if (!trailPrice.ok) return trailPrice;
  let trailPercent: Dec | null = null;
  if (
    body.trail_percent !== undefined &&
    body.trail_percent !== null &&
    body.trail_percent !== ""
  ) {
    trailPercent = parseDec(body.trail_percent);
    if (!trailPercent || trailPercent.lte(0) || trailPercent.gte(100))
      return invalid("invalid trail_percent");
  }

  // An OCO names its limit in take_profit (Alpaca's documented request has no top-level limit_price).
  if (orderClass === "oco" && !limit.value) {
    const tpRecord = asRecord(body.take_profit);
    const tpLimit = tpRecord ? readPrice(tpRecord, "limit_price", "take_profit.limit_price") : null;
    if (tpLimit && !tpLimit.ok) return tpLimit;
    if (tpLimit?.ok) limit.value = tpLimit.value;
  }
  if ((type === "limit" || type === "stop_limit") && !limit.value) {
    return invalid("limit_price is required");
  }
  if ((type === "stop" || type === "stop_limit") && !stop.value) {
    return invalid("stop_price is required");
  }
  if (type === "market" && (limit.value || stop.value)) {
    return invalid("market orders must not have limit_price or stop_price");
  }
  if (type === "trailing_stop") {
    if (!trailPrice.value === !trailPercent) {
      return invalid("trailing_stop orders require exactly one of trail_price or trail_percent");
    }
    if (timeInForce !== "day" && timeInForce !== "gtc") {
      return invalid("trailing_stop orders must be DAY or GTC");
    }
  }

  const extendedHours = body.extended_hours === true || body.extended_hours === "true";
  if (extendedHours && (type !== "limit" || (timeInForce !== "day" && timeInForce !== "gtc"))) {
    return invalid("extended hours order must be DAY or GTC limit orders");
  }

  let positionIntent: PositionIntent | null = null;
  if (body.position_intent !== undefined && body.position_intent !== null) {
    const stated = INTENTS.find((i) => i === body.position_intent && i.startsWith(side));
    if (!stated) return invalid("invalid position_intent");
    positionIntent = stated;
  }

  let clientOrderId: string | null = null;
  if (
    body.client_order_id !== undefined &&
    body.client_order_id !== null &&
    body.client_order_id !== ""
  ) {
    if (typeof body.client_order_id !== "string") return invalid("invalid client_order_id");
    if (body.client_order_id.length > 128) {
      return invalid("client_order_id must be no more than 128 characters");
    }
    clientOrderId = body.client_order_id;
  }

  let takeProfit: OrderRequest["takeProfit"] = null;
  const tp = asRecord(body.take_profit);
  if (tp) {
    const p = readPrice(tp, "limit_price", "take_profit.limit_price");
    if (!p.ok) return p;
    if (!p.value) return invalid("take_profit.limit_price is required");
    takeProfit = { limitPrice: p.value };
  }
  let stopLoss: OrderRequest["stopLoss"] = null;
  const sl = asRecord(body.stop_loss);
  if (sl) {
    const sp = readPrice(sl, "stop_price", "stop_loss.stop_price");
    if (!sp.ok) return sp;
    const lp = readPrice(sl, "limit_price", "stop_loss.limit_price");
    if (!lp.ok) return lp;
    if (!sp.value) return invalid("stop_loss.stop_price is required");
    stopLoss = { stopPrice: sp.value, limitPrice: lp.value };
  }

  const request: OrderRequest = {
    symbol,
    side,
    type,
    timeInForce,
    orderClass,
    qty,
    notional,
    limitPrice: limit.value,
    stopPrice: stop.value,
    trailPrice: trailPrice.value,
    trailPercent,
    extendedHours,
    positionIntent,
    clientOrderId,
    takeProfit,
    stopLoss,
  };
  const classCheck = checkOrderClass(request);
  if (!classCheck.ok) return classCheck;
  return { ok: true, value: request };
}

/** Alpaca's rules for bracket, OCO and OTO orders that do not need the market price. */
function checkOrderClass(r: OrderRequest): ApiResult<true> {
  if (r.orderClass === "simple") {
    if (r.takeProfit || r.stopLoss)
      return invalid("take_profit and stop_loss require an advanced order_class");
    return { ok: true, value: true };
  }
  if (r.notional || (r.qty && !r.qty.isInteger())) {
    return invalid("fractional and notional orders must be simple orders");
  }
  if (r.timeInForce !== "day" && r.timeInForce !== "gtc") {
    return invalid(`${r.orderClass} orders must be DAY or GTC`);
  }
  if (r.extendedHours) return invalid(`extended hours is not supported for ${r.orderClass} orders`);
  if (r.type === "trailing_stop")
    return invalid(`trailing_stop is not supported for ${r.orderClass} orders`);
  if (r.orderClass === "bracket") {
    if (!r.takeProfit || !r.stopLoss) {
      return invalid("bracket orders require both take_profit and stop_loss");
    }
  }
  if (r.orderClass === "oco") {
    if (r.type !== "limit") return invalid("oco orders must be limit orders");
    if (!r.takeProfit || !r.stopLoss)
      return invalid("oco orders require both take_profit and stop_loss");
  }
  if (r.orderClass === "oto") {
    if (!r.takeProfit === !r.stopLoss) {
      return invalid("oto orders require exactly one of take_profit or stop_loss");
    }
  }
  // Bracket and OTO sides name the entry; an OCO's side is already the exit's.
  const exitSells = r.orderClass === "oco" ? r.side === "sell" : r.side === "buy";
  if (r.takeProfit && r.stopLoss) {
    const tp = r.takeProfit.limitPrice;
    const sp = r.stopLoss.stopPrice;
    if (exitSells ? tp.lte(sp) : tp.gte(sp)) {
      return invalid(
        exitSells
          ? "take_profit.limit_price must be > stop_loss.stop_price"
          : "take_profit.limit_price must be < stop_loss.stop_price",
      );
    }
  }
  if (r.stopLoss?.limitPrice) {
    const { stopPrice, limitPrice } = r.stopLoss;
    // A selling stop-limit may not have its limit above its stop (nor a buying one below).
    if (exitSells ? limitPrice.gt(stopPrice) : limitPrice.lt(stopPrice)) {
      return invalid("stop_loss.limit_price must not be through stop_loss.stop_price");
    }
  }
  return { ok: true, value: true };
}
