import { assetJson } from "../engine/assets";
import { isOpen } from "../engine/book";
import { newYorkParts } from "../engine/calendar";
import { cashActivityJson, listCashActivities } from "../engine/cashActivities";
import type { Exchange } from "../engine/exchange";
import {
  cancelAllOrders,
  cancelOrder,
  closeAllPositions,
  closePosition,
  findOrder,
  replaceOrder,
  submitOrder,
} from "../engine/orderEntry";
import { orderJson } from "../engine/orderView";
import type { ApiResult, SimOrder } from "../engine/types";
import { json, type RequestContext, type RouteResponse, type Router } from "./router";

function result<T>(r: ApiResult<T>, status = 200): RouteResponse {
  return r.ok ? json(status, r.value) : json(r.status, r.body);
}

function orderWithLegs(ex: Exchange, o: SimOrder): Record<string, unknown> {
  return orderJson(o, ex.legsJson(o));
}

function listOrders(ex: Exchange, ctx: RequestContext): RouteResponse {
  ex.sync();
  const q = ctx.query;
  const status = q.get("status") ?? "open";
  const limit = Math.min(500, Math.max(1, Number(q.get("limit") ?? "50") || 50));
  const direction = q.get("direction") === "asc" ? "asc" : "desc";
  const nested = q.get("nested") === "true";
  const symbols = q
    .get("symbols")
    ?.split(",")
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const side = q.get("side");
  const after = q.get("after") ? new Date(q.get("after") ?? "") : null;
  const until = q.get("until") ? new Date(q.get("until") ?? "") : null;
  let orders = ex.book.all().filter((o) => {
    if (status === "open" && !isOpen(o)) return false;
    if (status === "closed" && isOpen(o)) return false;
    if (symbols && symbols.length > 0 && !symbols.includes(o.symbol)) return false;
    if (side && o.side !== side) return false;
    if (after && !(o.submittedAt > after)) return false;
    if (until && !(o.submittedAt < until)) return false;
    return true;
  });
  if (nested) {
    const ids = new Set(orders.map((o) => o.id));
    // A leg is shown under its parent when the parent is listed.
    orders = orders.filter((o) => !o.parentId || !ids.has(o.parentId));
  }
  orders.sort((a, b) => {
    const d = a.submittedAt.getTime() - b.submittedAt.getTime() || a.seq - b.seq;
    return direction === "asc" ? d : -d;
  });
  return json(
    200,
    orders.slice(0, limit).map((o) => (nested ? orderWithLegs(ex, o) : orderJson(o))),
  );
}

/** `GET /v2/account/activities[/{activity_type}]`: the account's cash activities. */
function activities(ex: Exchange, ctx: RequestContext, type: string | null): RouteResponse {
  const q = ctx.query;
  const types =
    type !== null
      ? [type.toUpperCase()]
      : (q
          .get("activity_types")
          ?.split(",")
          .map((s) => s.trim().toUpperCase())
          .filter(Boolean) ?? null);
  const time = (name: string): Date | null | undefined => {
    const text = q.get(name);
    if (text === null) return null;
    const t = new Date(text);
    return Number.isNaN(t.getTime()) ? undefined : t;
  };
  const after = time("after");
  const until = time("until");
  const date = q.get("date");
  const pageSize = Number(q.get("page_size") ?? "100");
  if (after === undefined || until === undefined) {
    return json(422, { code: 42210000, message: "after and until must be dates" });
  }
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) {
    return json(422, { code: 42210000, message: "page_size must be 1 to 100" });
  }
  const page = listCashActivities(ex.cashActivities, {
    types: types && types.length > 0 ? types : null,
    after,
    until,
    date: date ? date.slice(0, 10) : null,
    direction: q.get("direction") === "asc" ? "asc" : "desc",
    pageSize,
    pageToken: q.get("page_token"),
  });
  return json(200, page.map(cashActivityJson));
}

function calendar(ex: Exchange, ctx: RequestContext): RouteResponse {
  const today = newYorkParts(ex.time()).date;
  const shift = (days: number) =>
    new Date(Date.parse(`${today}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
  const start = (ctx.query.get("start") ?? shift(-30)).slice(0, 10);
  const end = (ctx.query.get("end") ?? shift(365)).slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || !/^\d{4}-\d{2}-\d{2}$/.test(end)) {
    return json(422, { code: 42210000, message: "invalid start or end date" });
  }
  return json(200, ex.calendarJson(start, end));
}

/** Trading API v2 routes, at Alpaca's paths. */
export function addTradingRoutes(router: Router, ex: Exchange): void {
  router
    .on("GET", "/v2/account", () => json(200, ex.accountJson()))
    .on("GET", "/v2/account/activities", (ctx) => activities(ex, ctx, null))
    .on("GET", "/v2/account/activities/{activity_type}", (ctx) =>
      activities(ex, ctx, ctx.params.activity_type ?? ""),
    )
    .on("GET", "/v2/clock", () => json(200, ex.clockJson()))
    .on("GET", "/v2/calendar", (ctx) => calendar(ex, ctx))
    .on("GET", "/v2/assets", () =>
      json(
        200,
        [...ex.assets.values()].sort((a, b) => a.symbol.localeCompare(b.symbol)).map(assetJson),
      ),
    )
    .on("GET", "/v2/assets/{symbol}", (ctx) => {
      const key = (ctx.params.symbol ?? "").toUpperCase();
      const asset =
        ex.assets.get(key) ??
        [...ex.assets.values()].find((a) => assetJson(a).id === ctx.params.symbol);
      return asset
        ? json(200, assetJson(asset))
        : json(404, { code: 40410000, message: "asset not found" });
    })
    .on("POST", "/v2/orders", (ctx) => result(submitOrder(ex, ctx.body)))
    .on("GET", "/v2/orders", (ctx) => listOrders(ex, ctx))
    .on("DELETE", "/v2/orders", () => json(207, cancelAllOrders(ex)))
    .on("GET", "/v2/orders:by_client_order_id", (ctx) => {
      ex.sync();
      const order = ex.book.byClientOrderId(ctx.query.get("client_order_id") ?? "");
      return order
        ? json(200, orderWithLegs(ex, order))
        : json(404, { code: 40410000, message: "order not found" });
    })
    .on("GET", "/v2/orders/{order_id}", (ctx) => {
      const found = findOrder(ex, ctx.params.order_id ?? "");
      return found.ok ? json(200, orderWithLegs(ex, found.value)) : result(found);
    })
    .on("PATCH", "/v2/orders/{order_id}", (ctx) =>
      result(replaceOrder(ex, ctx.params.order_id ?? "", ctx.body)),
    )
    .on("DELETE", "/v2/orders/{order_id}", (ctx) => {
      const r = cancelOrder(ex, ctx.params.order_id ?? "");
      return r.ok ? { status: 204 } : result(r);
    })
    .on("GET", "/v2/positions", () => json(200, ex.positionsJson()))
    .on("DELETE", "/v2/positions", (ctx) =>
      json(207, closeAllPositions(ex, ctx.query.get("cancel_orders") === "true")),
    )
    .on("GET", "/v2/positions/{symbol}", (ctx) => {
      ex.sync();
      const p = ex.positions.get((ctx.params.symbol ?? "").toUpperCase());
      return p
        ? json(200, ex.positionJson(p))
        : json(404, { code: 40410000, message: "position does not exist" });
    })
    .on("DELETE", "/v2/positions/{symbol}", (ctx) =>
      result(
        closePosition(ex, ctx.params.symbol ?? "", {
          qty: ctx.query.get("qty"),
          percentage: ctx.query.get("percentage"),
        }),
      ),
    );
}
