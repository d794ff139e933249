import { newYorkParts, newYorkTime } from "../engine/calendar";
import type { Dec } from "../engine/decimal";
import type { Exchange } from "../engine/exchange";
import type { Bar } from "../engine/marketData";
import type { Quote } from "../engine/types";
import { json, type RequestContext, type RouteResponse, type Router } from "./router";

/**
 * Market Data v2 prints prices as JSON numbers. Converting the exact decimal string with Number()
 * is output formatting only (the shortest round-trip form prints the same digits); no arithmetic
 * happens on the result.
 */
function num(d: Dec | null): number {
  return d ? Number(d.toFixed()) : 0;
}

function quoteJson(q: Quote): Record<string, unknown> {
  return {
    ap: num(q.ask),
    as: q.ask ? q.askSize : 0,
    ax: "V",
    bp: num(q.bid),
    bs: q.bid ? q.bidSize : 0,
    bx: "V",
    c: ["R"],
    t: q.time.toISOString(),
    z: "C",
  };
}

function tradeJson(q: Quote): Record<string, unknown> {
  return {
    c: ["@"],
    i: q.tradeId,
    p: num(q.last),
    s: q.lastSize,
    t: q.time.toISOString(),
    x: "V",
    z: "C",
  };
}

function barJson(b: Bar): Record<string, unknown> {
  const vw = b.v > 0 ? b.notional.div(b.v).toDecimalPlaces(6) : b.c;
  return {
    t: b.t.toISOString(),
    o: num(b.o),
    h: num(b.h),
    l: num(b.l),
    c: num(b.c),
    v: b.v,
    n: b.n,
    vw: num(vw),
  };
}

function symbolsParam(ctx: RequestContext): string[] {
  return (ctx.query.get("symbols") ?? "")
    .split(",")
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
}

function missingSymbols(): RouteResponse {
  return json(400, { code: 40010001, message: "missing symbols" });
}

type Bucket = (t: Date) => Date;

/** Parses Alpaca's timeframe (1Min, 5T, 1Hour, 1Day, 1Week, 1Month) into a bucketing function. */
function parseTimeframe(text: string): Bucket | null {
  const m = /^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2];
  const floorTo = (ms: number) => (t: Date) => new Date(Math.floor(t.getTime() / ms) * ms);
  switch (unit) {
    case "Min":
    case "T":
      return n >= 1 && n <= 59 ? floorTo(n * 60_000) : null;
    case "Hour":
    case "H":
      return n >= 1 && n <= 23 ? floorTo(n * 3_600_000) : null;
    case "Day":
    case "D":
      // Daily bars are stamped at midnight New York time, as Alpaca stamps them.
      return n === 1 ? (t) => newYorkTime(newYorkParts(t).date, "00:00") : null;
    case "Week":
    case "W":
      return n === 1
        ? (t) => {
            const date = newYorkParts(t).date;
            const dow = new Date(`${date}T00:00:00Z`).getUTCDay();
            const monday = new Date(Date.parse(`${date}T00:00:00Z`) - ((dow + 6) % 7) * 86_400_000);
            return newYorkTime(monday.toISOString().slice(0, 10), "00:00");
          }
        : null;
    case "Month":
    case "M":
      return [1, 2, 3, 4, 6, 12].includes(n)
        ? (t) => newYorkTime(`${newYorkParts(t).date.slice(0, 7)}-01`, "00:00")
        : null;
    default:
      return null;
  }
}

function parseTime(text: string | null, fallback: Date): Date | null {
  if (!text) return fallback;
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? null : t;
}

/** Bars for each symbol with Alpaca's paging: the token is the index of the next bar overall. */
function barsFor(
  ex: Exchange,
  ctx: RequestContext,
  symbols: string[],
):
  | { ok: true; bars: Record<string, Bar[]>; next: string | null }
  | { ok: false; res: RouteResponse } {
  const bucket = parseTimeframe(ctx.query.get("timeframe") ?? "");
  if (!bucket)
    return { ok: false, res: json(400, { code: 40010001, message: "invalid timeframe" }) };
  const now = ex.time();
  const dayStart = newYorkTime(newYorkParts(now).date, "00:00");
  const start = parseTime(ctx.query.get("start"), dayStart);
  const end = parseTime(ctx.query.get("end"), now);
  if (!start || !end)
    return { ok: false, res: json(400, { code: 40010001, message: "invalid start or end" }) };
  const limit = Math.min(10_000, Math.max(1, Number(ctx.query.get("limit") ?? "1000") || 1000));
  const desc = ctx.query.get("sort") === "desc";
  const skip =
    Number(Buffer.from(ctx.query.get("page_token") ?? "", "base64").toString() || "0") || 0;
  const all: [string, Bar][] = [];
  for (const symbol of symbols) {
    const list = ex.market.bars(symbol, bucket, start, new Date(end.getTime() + 1));
    for (const b of desc ? list.reverse() : list) all.push([symbol, b]);
  }
  const page = all.slice(skip, skip + limit);
  const out: Record<string, Bar[]> = {};
  for (const [symbol, b] of page) {
    const list = out[symbol] ?? [];
    list.push(b);
    out[symbol] = list;
  }
  const next =
    skip + limit < all.length ? Buffer.from(String(skip + limit)).toString("base64") : null;
  return { ok: true, bars: out, next };
}

/** Market Data v2 routes for stocks: latest quotes and trades, bars. */
export function addDataRoutes(router: Router, ex: Exchange): void {
  const notFound = (symbol: string) =>
    json(404, { code: 40410000, message: `no data for ${symbol}` });
  router
    .on("GET", "/v2/stocks/{symbol}/quotes/latest", (ctx) => {
      ex.sync();
      const symbol = (ctx.params.symbol ?? "").toUpperCase();
      const q = ex.market.quote(symbol);
      return q ? json(200, { symbol, quote: quoteJson(q) }) : notFound(symbol);
    })
    .on("GET", "/v2/stocks/quotes/latest", (ctx) => {
      ex.sync();
      const symbols = symbolsParam(ctx);
      if (symbols.length === 0) return missingSymbols();
      const quotes: Record<string, unknown> = {};
      for (const s of symbols) {
        const q = ex.market.quote(s);
        if (q) quotes[s] = quoteJson(q);
      }
      return json(200, { quotes });
    })
    .on("GET", "/v2/stocks/{symbol}/trades/latest", (ctx) => {
      ex.sync();
      const symbol = (ctx.params.symbol ?? "").toUpperCase();
      const q = ex.market.quote(symbol);
      return q ? json(200, { symbol, trade: tradeJson(q) }) : notFound(symbol);
    })
    .on("GET", "/v2/stocks/trades/latest", (ctx) => {
      ex.sync();
      const symbols = symbolsParam(ctx);
      if (symbols.length === 0) return missingSymbols();
      const trades: Record<string, unknown> = {};
      for (const s of symbols) {
        const q = ex.market.quote(s);
        if (q) trades[s] = tradeJson(q);
      }
      return json(200, { trades });
    })
    .on("GET", "/v2/stocks/bars", (ctx) => {
      ex.sync();
      const symbols = symbolsParam(ctx);
      if (symbols.length === 0) return missingSymbols();
      const r = barsFor(ex, ctx, symbols);
      if (!r.ok) return r.res;
      const bars = Object.fromEntries(
        Object.entries(r.bars).map(([s, list]) => [s, list.map(barJson)]),
      );
      return json(200, { bars, next_page_token: r.next });
    })
    .on("GET", "/v2/stocks/{symbol}/bars", (ctx) => {
      ex.sync();
      const symbol = (ctx.params.symbol ?? "").toUpperCase();
      const r = barsFor(ex, ctx, [symbol]);
      if (!r.ok) return r.res;
      return json(200, {
        symbol,
        bars: (r.bars[symbol] ?? []).map(barJson),
        next_page_token: r.next,
      });
    })
    .on("GET", "/v2/stocks/bars/latest", (ctx) => {
      ex.sync();
      const symbols = symbolsParam(ctx);
      if (symbols.length === 0) return missingSymbols();
      const bars: Record<string, unknown> = {};
      for (const s of symbols) {
        const list = ex.market.bars(s, (t) => t, new Date(0), new Date(ex.time().getTime() + 1));
        const last = list[list.length - 1];
        if (last) bars[s] = barJson(last);
      }
      return json(200, { bars });
    });
}
