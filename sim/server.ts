import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SimClock } from "./engine/clock";
import { Dec } from "./engine/decimal";
import { Exchange } from "./engine/exchange";
import { seededRandom, stepPrice } from "./engine/randomWalk";
import { parseBarsFile, ReplayFeed } from "./engine/replay";
import { addControlRoutes } from "./http/controlRoutes";
import { addDataRoutes } from "./http/dataRoutes";
import { Faults, RateLimiter } from "./http/faults";
import { type RouteResponse, Router } from "./http/router";
import { TradeStream } from "./http/stream";
import { addTradingRoutes } from "./http/tradingRoutes";

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** When both are set, only this key pair is accepted; otherwise any pair is. */
  keyId?: string;
  secretKey?: string;
  /** Extra symbols (or new prices for the default ones). */
  symbols?: Record<string, { price: string }>;
  /** Seed of the random walk. */
  seed?: number;
  /** Starting simulated time (ISO-8601); defaults to the wall clock. */
  time?: string;
  /** Starting cash (default "100000"); also what `/sim/reset` uses when it names none. */
  cash?: string;
  /** Buying-power multiplier: 1 (default) behaves as a cash account, 2 as Reg T margin, 4 day trading. */
  multiplier?: string;
  /** Let the simulated clock follow the wall clock (default false: it moves only when told). */
  clockRunning?: boolean;
  /** Tick every symbol's price on a seeded random walk every `intervalMs` (default off). */
  randomWalk?: { intervalMs: number } | false;
  /** Requests per minute per key before 429 (Alpaca: 200). */
  rateLimitPerMinute?: number;
  /** Bars (CSV or JSON text) to replay as the clock passes them. */
  replayBars?: string;
  /** Force the market open or closed regardless of the calendar (e.g. to trade on a weekend). */
  market?: "open" | "closed";
  /** Structured logger for request failures (pino-compatible); silent when absent. */
  logger?: { error: (obj: object, msg: string) => void };
}

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:5800 (trading and data); the stream is at `${ws url}/stream`. */
  url: string;
  streamUrl: string;
  port: number;
  exchange: Exchange;
  clock: SimClock;
  faults: Faults;
  close(): Promise<void>;
}

const MAX_BODY = 1_000_000;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function write(res: ServerResponse, out: RouteResponse, extra: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...extra, ...(out.headers ?? {}) };
  if (out.body === undefined || out.status === 204) {
    res.writeHead(out.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(out.body);
  res.writeHead(out.status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(text)),
  });
  res.end(text);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorBody(status: number): { code: number; message: string } {
  if (status === 429) return { code: 42910000, message: "rate limit exceeded" };
  if (status === 401) return { code: 40110000, message: "request is not authorized" };
  if (status === 403) return { code: 40310000, message: "forbidden" };
  if (status === 404) return { code: 40410000, message: "not found" };
  if (status >= 500) return { code: 50010000, message: "internal server error" };
  return { code: status * 100000, message: "request failed" };
}

/** Starts a simulator (HTTP + stream) in this process. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const clock = new SimClock(options.time ? new Date(options.time) : new Date(), () => Date.now());
  if (options.clockRunning) clock.run();
  const ex = new Exchange(
    { now: () => clock.now(), newId: () => randomUUID() },
    {
      ...(options.cash ? { cash: options.cash } : {}),
      ...(options.multiplier ? { multiplier: options.multiplier } : {}),
      ...(options.symbols ? { symbols: options.symbols } : {}),
    },
  );
  if (options.market) ex.marketOverride = options.market;
  if (options.replayBars) ex.replay = new ReplayFeed(parseBarsFile(options.replayBars));
  const faults = new Faults();
  const limiter = new RateLimiter(options.rateLimitPerMinute ?? 200, () => Date.now());
  const keysConfigured = Boolean(options.keyId && options.secretKey);
  const authorize = (keyId: string, secret: string) =>
    keysConfigured
      ? keyId === options.keyId && secret === options.secretKey
      : Boolean(keyId && secret);

  const random = seededRandom(options.seed ?? 1);
  let walkTimer: NodeJS.Timeout | null = null;
  const cent = new Dec("0.01");
  const stepAll = () => {
    ex.sync();
    for (const symbol of ex.market.symbols()) {
      const last = ex.market.quote(symbol)?.last;
      if (!last) continue;
      const price = stepPrice(last, random);
      const spread = price.gte(1) ? cent : new Dec("0.0001");
      ex.applyQuote(symbol, { bid: price.minus(spread), ask: price.plus(spread), last: price });
    }
  };
  const walk = {
    start(intervalMs: number) {
      if (walkTimer) clearInterval(walkTimer);
      walkTimer = setInterval(stepAll, Math.max(10, intervalMs));
    },
    step(steps: number) {
      for (let i = 0; i < steps; i++) stepAll();
    },
    stop() {
      if (walkTimer) clearInterval(walkTimer);
      walkTimer = null;
    },
    running: () => walkTimer !== null,
  };

  const stream = new TradeStream({ ex, faults, authorize });
  const control = new Router();
  addControlRoutes(control, {
    ex,
    clock,
    faults,
    limiter,
    dropStream: () => stream.dropAll(),
    walk,
  });
  const api = new Router();
  addTradingRoutes(api, ex);
  addDataRoutes(api, ex);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://sim.local");
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname;
    let body: unknown;
    const text = await readBody(req);
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        write(res, {
          status: 400,
          body: { code: 40010000, message: "request body format is invalid" },
        });
        return;
      }
    }
    const isControl = path.startsWith("/sim/");
    const router = isControl ? control : api;
    const found = router.find(method, path);
    const ctx = { method, path, query: url.searchParams, params: {}, body, headers: req.headers };
    if (isControl) {
      if (!found)
        return write(res, { status: 404, body: { code: 40410000, message: "endpoint not found" } });
      if ("allowed" in found)
        return write(res, { status: 405, body: { code: 40510000, message: "method not allowed" } });
      return write(res, await found.handler({ ...ctx, params: found.params }));
    }

    const keyId = String(req.headers["apca-api-key-id"] ?? "");
    const secret = String(req.headers["apca-api-secret-key"] ?? "");
    if (!authorize(keyId, secret)) return write(res, { status: 401, body: errorBody(401) });
    const bucket = path.startsWith("/v2/stocks") ? "data" : "trading";
    const rate = limiter.hit(`${keyId}:${bucket}`);
    if (rate.limited) return write(res, { status: 429, body: errorBody(429) }, rate.headers);
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    const fault = faults.take(method, path);
    if (fault?.delayMs) await sleep(fault.delayMs);
    const faultHeaders =
      fault?.retryAfterSeconds == null
        ? rate.headers
        : { ...rate.headers, "Retry-After": String(fault.retryAfterSeconds) };
    if (fault?.status && !fault.afterHandling) {
      return write(res, { status: fault.status, body: errorBody(fault.status) }, faultHeaders);
    }
    if (!found)
      return write(
        res,
        { status: 404, body: { code: 40410000, message: "endpoint not found" } },
        rate.headers,
      );
    if ("allowed" in found) {
      return write(
        res,
        { status: 405, body: { code: 40510000, message: "method not allowed" } },
        rate.headers,
      );
    }
    const out = await found.handler({ ...ctx, params: found.params });
    if (fault?.status)
      return write(res, { status: fault.status, body: errorBody(fault.status) }, faultHeaders);
    write(res, out, rate.headers);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger?.error({ err, url: req.url, method: req.method }, "simulator request failed");
      if (!res.headersSent) write(res, { status: 500, body: errorBody(500) });
      else res.end();
    });
  });
  server.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://sim.local").pathname;
    if (path === "/stream") stream.handleUpgrade(req, socket, head);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  if (options.randomWalk) walk.start(options.randomWalk.intervalMs);
  const address = server.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
  return {
    url,
    streamUrl: `${url.replace(/^http/, "ws")}/stream`,
    port: address.port,
    exchange: ex,
    clock,
    faults,
    close: async () => {
      walk.stop();
      stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
