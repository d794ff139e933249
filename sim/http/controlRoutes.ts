import { cashActivityJson, isCashActivityType } from "../engine/cashActivities";
import type { SimClock } from "../engine/clock";
import { type Dec, parseDec } from "../engine/decimal";
import type { Exchange } from "../engine/exchange";
import { orderJson } from "../engine/orderView";
import { parseBarsFile, ReplayFeed } from "../engine/replay";
import type { Faults, RateLimiter } from "./faults";
import { json, type RouteResponse, type Router } from "./router";

export interface ControlDeps {
  ex: Exchange;
  clock: SimClock;
  faults: Faults;
  limiter: RateLimiter;
  dropStream: () => number;
  walk: {
    start: (intervalMs: number) => void;
    stop: () => void;
    step: (steps: number) => void;
    running: () => boolean;
  };
}

function bad(message: string): RouteResponse {
  return json(400, { code: 40010000, message });
}

function record(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}

function optionalDec(
  value: unknown,
  name: string,
): { ok: true; value: Dec | null } | { ok: false; res: RouteResponse } {
  if (value === undefined || value === null || value === "") return { ok: true, value: null };
  const d = parseDec(value);
  if (!d || d.lte(0)) return { ok: false, res: bad(`${name} must be a positive decimal`) };
  return { ok: true, value: d };
}

function timeValue(value: unknown): Date | null {
  if (typeof value !== "string") return null;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? null : t;
}

/** Applies one `/sim/quotes` entry: a quote, a price, or a path of prices played in order. */
function applyQuoteBody(ex: Exchange, b: Record<string, unknown>): RouteResponse | null {
  const symbol = typeof b.symbol === "string" ? b.symbol.trim().toUpperCase() : "";
  if (!symbol) return bad("symbol is required");
  if (Array.isArray(b.path)) {
    const prices: Dec[] = [];
    for (const p of b.path) {
      const d = parseDec(p);
      if (!d || d.lte(0)) return bad("path must hold positive decimals");
      prices.push(d);
    }
    ex.sync();
    for (const price of prices) ex.applyQuote(symbol, { bid: price, ask: price, last: price });
    return null;
  }
  const price = optionalDec(b.price, "price");
  if (!price.ok) return price.res;
  const bid = optionalDec(b.bid, "bid");
  if (!bid.ok) return bid.res;
  const ask = optionalDec(b.ask, "ask");
  if (!ask.ok) return ask.res;
  const last = optionalDec(b.last, "last");
  if (!last.ok) return last.res;
  if (!price.value && !bid.value && !ask.value) return bad("give price, or bid and/or ask");
  if (bid.value && ask.value && bid.value.gt(ask.value)) return bad("bid must not exceed ask");
  ex.sync();
  if (price.value) {
    ex.applyQuote(symbol, { bid: price.value, ask: price.value, last: last.value ?? price.value });
  } else {
    ex.applyQuote(symbol, { bid: bid.value, ask: ask.value, last: last.value });
  }
  return null;
}

function quoteState(ex: Exchange, symbol: string): Record<string, unknown> {
  const q = ex.market.quote(symbol);
  return {
    symbol,
    bid: q?.bid?.toFixed() ?? null,
    ask: q?.ask?.toFixed() ?? null,
    last: q?.last.toFixed() ?? null,
    time: q?.time.toISOString() ?? null,
  };
}

/** Everything the simulator holds, for `GET /sim/state` (and the answer to a reset). */
function stateJson(ex: Exchange): Record<string, unknown> {
  ex.sync();
  return {
    time: ex.time().toISOString(),
    market_open: ex.isMarketOpen(),
    account: ex.accountJson(),
    positions: ex.positionsJson(),
    orders: ex.book
      .all()
      .sort((a, b) => a.seq - b.seq)
      .map((o) => orderJson(o)),
    quotes: Object.fromEntries(ex.market.symbols().map((s) => [s, quoteState(ex, s)])),
    liquidity: Object.fromEntries([...ex.liquidity].map(([k, v]) => [k, v.toFixed()])),
  };
}

/** The `/sim/*` control endpoints (public interface, see DESIGN.md). */
export function addControlRoutes(router: Router, deps: ControlDeps): void {
  const { ex, clock, faults, limiter } = deps;
  router
    .on("POST", "/sim/reset", (ctx) => {
      const b = record(ctx.body);
      const cash = b.cash;
      if (cash !== undefined && (!parseDec(cash) || parseDec(cash)?.isNeg())) {
        return bad("cash must be a decimal");
      }
      if (b.time !== undefined) {
        const t = timeValue(b.time);
        if (!t) return bad("time must be ISO-8601");
        clock.set(t);
      }
      const multiplier = b.multiplier === undefined ? undefined : String(b.multiplier);
      if (multiplier !== undefined && !parseDec(multiplier)?.gte(1))
        return bad("multiplier must be >= 1");
      ex.reset({
        ...(cash === undefined ? {} : { cash: String(cash) }),
        ...(multiplier ? { multiplier } : {}),
        ...(typeof b.shortingEnabled === "boolean" ? { shortingEnabled: b.shortingEnabled } : {}),
        ...(b.symbols && typeof b.symbols === "object"
          ? { symbols: b.symbols as Record<string, { price: string }> }
          : {}),
      });
      faults.clear();
      limiter.reset();
      return json(200, stateJson(ex));
    })
    .on("POST", "/sim/cash", (ctx) => {
      const b = record(ctx.body);
      const amount = parseDec(b.amount);
      if (!amount || amount.isZero()) return bad("amount must be a non-zero decimal");
      const type = b.type === undefined ? (amount.isNeg() ? "CSW" : "CSD") : b.type;
      if (!isCashActivityType(type)) return bad("type must be CSD, CSW, JNLC or ACATC");
      if ((type === "CSD" && amount.isNeg()) || (type === "CSW" && !amount.isNeg()))
        return bad("a deposit is positive, a withdrawal negative");
      const activity = ex.transferCash(amount, type);
      return json(200, { activity: cashActivityJson(activity), account: ex.accountJson() });
    })
    .on("POST", "/sim/quotes", (ctx) => {
      const b = record(ctx.body);
      const entries = Array.isArray(b.quotes) ? b.quotes.map(record) : [b];
      for (const entry of entries) {
        const error = applyQuoteBody(ex, entry);
        if (error) return error;
      }
      const symbols = entries.map((e) => String(e.symbol ?? "").toUpperCase());
      return json(
        200,
        symbols.length === 1
          ? quoteState(ex, symbols[0] ?? "")
          : symbols.map((s) => quoteState(ex, s)),
      );
    })
    .on("POST", "/sim/clock", (ctx) => {
      const b = record(ctx.body);
      if (b.time !== undefined) {
        const t = timeValue(b.time);
        if (!t) return bad("time must be ISO-8601");
        clock.set(t);
      } else if (b.advanceSeconds !== undefined) {
        const s = Number(b.advanceSeconds);
        if (!Number.isFinite(s) || s < 0)
          return bad("advanceSeconds must be a non-negative number");
        clock.advance(s * 1000);
      }
      if (b.run === true) clock.run();
      if (b.run === false) clock.freeze();
      ex.sync();
      return json(200, {
        ...ex.clockJson(),
        time: ex.time().toISOString(),
        running: clock.isRunning(),
      });
    })
    .on("POST", "/sim/market", (ctx) => {
      const b = record(ctx.body);
      if (b.open !== true && b.open !== false && b.open !== null)
        return bad("open must be true, false or null");
      ex.sync();
      ex.marketOverride = b.open === null ? null : b.open ? "open" : "closed";
      if (ex.isMarketOpen()) {
        ex.routeQueued();
        ex.matchAll("continuous");
      }
      return json(200, ex.clockJson());
    })
    .on("POST", "/sim/liquidity", (ctx) => {
      const b = record(ctx.body);
      const symbol = typeof b.symbol === "string" && b.symbol ? b.symbol.toUpperCase() : "*";
      if (b.sharesPerFill === null || b.sharesPerFill === undefined) {
        ex.liquidity.delete(symbol);
      } else {
        const d = parseDec(b.sharesPerFill);
        if (!d || d.lte(0)) return bad("sharesPerFill must be a positive decimal or null");
        ex.liquidity.set(symbol, d);
      }
      return json(200, { symbol, sharesPerFill: ex.liquidity.get(symbol)?.toFixed() ?? null });
    })
    .on("POST", "/sim/faults", (ctx) => {
      const b = record(ctx.body);
      if (b.clear === true) {
        faults.clear();
        ex.rejectNext = 0;
        ex.eventOptions = { pendingNew: false, doneForDay: false, holdCancels: false };
        ex.releaseCancels();
      }
      if (b.dropStream === true) deps.dropStream();
      const count = (v: unknown) => (v === true ? Number.POSITIVE_INFINITY : Number(v) || 0);
      if (b.status !== undefined || (b.delayMs !== undefined && (b.path || b.method))) {
        const status = b.status === undefined ? null : Number(b.status);
        if (status !== null && (!Number.isInteger(status) || status < 400 || status > 599)) {
          return bad("status must be an HTTP error status");
        }
        const retryAfter = b.retryAfterSeconds === undefined ? null : Number(b.retryAfterSeconds);
        if (retryAfter !== null && (!Number.isInteger(retryAfter) || retryAfter < 0)) {
          return bad("retryAfterSeconds must be a whole number of seconds, 0 or more");
        }
        faults.http.push({
          method: typeof b.method === "string" ? b.method.toUpperCase() : null,
          path: typeof b.path === "string" ? b.path : null,
          status,
          delayMs: Number(b.delayMs) || 0,
          times: b.times === undefined ? 1 : count(b.times),
          afterHandling: b.afterHandling === true,
          retryAfterSeconds: retryAfter,
        });
      } else if (b.delayMs !== undefined) {
        faults.delayMs = Number(b.delayMs) || 0;
      }
      if (b.streamDelayMs !== undefined) faults.streamDelayMs = Number(b.streamDelayMs) || 0;
      if (b.duplicateEvents !== undefined) faults.duplicateEvents = count(b.duplicateEvents);
      if (b.dropEvents !== undefined) faults.dropEvents = count(b.dropEvents);
      if (typeof b.pendingNew === "boolean") ex.eventOptions.pendingNew = b.pendingNew;
      if (typeof b.doneForDay === "boolean") ex.eventOptions.doneForDay = b.doneForDay;
      if (typeof b.holdCancels === "boolean") ex.eventOptions.holdCancels = b.holdCancels;
      if (b.releaseCancels === true) {
        ex.sync();
        ex.releaseCancels();
      }
      if (b.rejectOrders !== undefined)
        ex.rejectNext = Math.max(0, Math.floor(Number(b.rejectOrders) || 0));
      return json(200, {
        http: faults.http.map((f) => ({
          ...f,
          times: Number.isFinite(f.times) ? f.times : "unlimited",
        })),
        delayMs: faults.delayMs,
        streamDelayMs: faults.streamDelayMs,
        duplicateEvents: Number.isFinite(faults.duplicateEvents)
          ? faults.duplicateEvents
          : "unlimited",
        dropEvents: Number.isFinite(faults.dropEvents) ? faults.dropEvents : "unlimited",
        rejectOrders: ex.rejectNext,
        pendingNew: ex.eventOptions.pendingNew,
        doneForDay: ex.eventOptions.doneForDay,
        holdCancels: ex.eventOptions.holdCancels,
      });
    })
    .on("DELETE", "/sim/faults", () => {
      faults.clear();
      ex.rejectNext = 0;
      ex.eventOptions = { pendingNew: false, doneForDay: false, holdCancels: false };
      ex.releaseCancels();
      return json(200, { cleared: true });
    })
    .on("POST", "/sim/rate-limit", (ctx) => {
      const b = record(ctx.body);
      const limit = Number(b.perMinute);
      if (!Number.isInteger(limit) || limit < 1) return bad("perMinute must be a positive integer");
      limiter.limit = limit;
      limiter.reset();
      return json(200, { perMinute: limit });
    })
    .on("POST", "/sim/replay", (ctx) => {
      const b = record(ctx.body);
      try {
        const text =
          typeof b.csv === "string"
            ? b.csv
            : JSON.stringify(b.bars === undefined ? b : { bars: b.bars });
        const bars = parseBarsFile(text, typeof b.symbol === "string" ? b.symbol : null);
        for (const bar of bars) ex.ensureAsset(bar.symbol);
        ex.sync();
        ex.replay = new ReplayFeed(bars);
        return json(200, { bars: bars.length, ticks: ex.replay.size() });
      } catch (err) {
        return bad(err instanceof Error ? err.message : "invalid bars");
      }
    })
    .on("POST", "/sim/walk", (ctx) => {
      const b = record(ctx.body);
      if (b.steps !== undefined) {
        const steps = Number(b.steps);
        if (!Number.isInteger(steps) || steps < 1 || steps > 10_000)
          return bad("steps must be 1-10000");
        deps.walk.step(steps);
      } else if (b.enabled === false) {
        deps.walk.stop();
      } else {
        deps.walk.start(Number(b.intervalMs) || 1000);
      }
      return json(200, { running: deps.walk.running() });
    })
    .on("GET", "/sim/state", () => json(200, stateJson(ex)));
}
