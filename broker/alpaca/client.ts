/**
 * The broker port on Alpaca, through @alpacahq/alpaca-trade-api 4.x.
 *
 * How the SDK is set up, and why:
 * - The API classes are built from `Configuration({ basePath })`, so trading and market data can
 *   point anywhere (paper, live, the simulator); the stream takes its own URL.
 * - The SDK's own retries and rate limiter are off (`retry` and `rateLimit` unset). Its retries
 *   only ever replay safe verbs, but this adapter owns the policy so that every request on the
 *   wire passes through one limiter shared with other processes through Redis, and so that order
 *   submission follows one rule: look up by client order id before any resubmission.
 * - The SDK's per-request deadline is off too (`timeoutMs: 0`): it would start while a request
 *   is still waiting for a rate-limit slot. The deadline is applied in `fetchApi` instead, after
 *   the slot is taken, so a timeout always means the broker was slow.
 * - Every request is rate limited in `fetchApi`, the one place each attempt passes through.
 */
import {
  type marketData,
  marketData as marketDataApi,
  OrdersApi,
  trading,
} from "@alpacahq/alpaca-trade-api";
import type { Logger } from "pino";
import type {
  Broker,
  BrokerFailure,
  BrokerOrder,
  BrokerResult,
  CashTransfer,
  CloseAmount,
  ClosePositionOutcome,
  LatestQuote,
  OrderQuery,
  OrderReplacement,
  OrderRequest,
  TradeUpdateListener,
} from "../../domain/broker";
import type { RateLimiter } from "../rateLimiter";
import { brokerFailure, toBrokerFailure } from "./errors";
import {
  CASH_TRANSFER_ACTIVITIES,
  formatPercentage,
  formatQuantity,
  fromAccount,
  fromAsset,
  fromCalendarDay,
  fromCashActivity,
  fromClock,
  fromOrder,
  fromPosition,
  fromQuote,
  InvalidOrderRequest,
  isStockOrder,
  isStockPosition,
  toPatchOrderRequest,
  toPostOrderRequest,
} from "./mapping";
import { subscribeTradeUpdates } from "./stream";
import { submitOrderSafely } from "./submitOrderSafely";

export const ALPACA_PAPER_TRADING_URL = "https://paper-api.alpaca.markets";
export const ALPACA_LIVE_TRADING_URL = "https://api.alpaca.markets";
export const ALPACA_DATA_URL = "https://data.alpaca.markets";
export const ALPACA_PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream";
export const ALPACA_LIVE_STREAM_URL = "wss://api.alpaca.markets/stream";

export interface AlpacaBrokerOptions {
  readonly keyId: string;
  readonly secretKey: string;
  readonly tradingUrl: string;
  readonly dataUrl: string;
  readonly streamUrl: string;
  /** Shared request budget for this account (see `createRedisRateLimiter`). */
  readonly rateLimiter: RateLimiter;
  readonly logger?: Logger;
  /** Per-request deadline once a rate-limit slot is taken (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Extra tries for reads after a retryable failure (default 2). */
  readonly readRetries?: number;
  /** POST attempts per submission, each after a NOT_FOUND lookup (default 2). */
  readonly submitAttempts?: number;
  /** First backoff delay (default 250 ms), doubling; the broker's suggested wait wins (60 s at most). */
  readonly retryDelayMs?: number;
  /** Market data feed for quotes (default "iex", the free one). */
  readonly dataFeed?: marketData.StockLatestFeed;
  /** Stream tuning, mostly for tests. */
  readonly stream?: {
    readonly connectTimeoutMs?: number;
    readonly initialReconnectMs?: number;
    readonly maxReconnectMs?: number;
    readonly pingIntervalMs?: number;
  };
}

/** Where the adapter talks to: Alpaca's hosts for paper or live, each replaceable (e.g. by the simulator). */
export function alpacaUrls(
  paper: boolean,
  overrides: { tradingUrl?: string; dataUrl?: string; streamUrl?: string } = {},
): { tradingUrl: string; dataUrl: string; streamUrl: string } {
  return {
    tradingUrl:
      overrides.tradingUrl || (paper ? ALPACA_PAPER_TRADING_URL : ALPACA_LIVE_TRADING_URL),
    dataUrl: overrides.dataUrl || ALPACA_DATA_URL,
    streamUrl: overrides.streamUrl || (paper ? ALPACA_PAPER_STREAM_URL : ALPACA_LIVE_STREAM_URL),
  };
}

/**
 * `DELETE /v2/positions/{symbol}` with `qty` or `percentage` as decimal strings: the generated
 * method types them as numbers, and a quantity must never pass through a float.
 */
class PositionsApi extends trading.PositionsApi {
  async closePosition(
    symbol: string,
    amount: { qty?: string; percentage?: string },
  ): Promise<trading.Order> {
    const headers: trading.HTTPHeaders = {};
    const apiKey = this.configuration.apiKey;
    if (apiKey) {
      headers["APCA-API-KEY-ID"] = await apiKey("APCA-API-KEY-ID");
      headers["APCA-API-SECRET-KEY"] = await apiKey("APCA-API-SECRET-KEY");
    }
    const query: trading.HTTPQuery = {};
    if (amount.qty !== undefined) query.qty = amount.qty;
    if (amount.percentage !== undefined) query.percentage = amount.percentage;
    const response = await this.request({
      path: `/v2/positions/${encodeURIComponent(symbol)}`,
      method: "DELETE",
      headers,
      query,
    });
    return new trading.JSONApiResponse(response, (json) => trading.OrderFromJSON(json)).value();
  }
}

/** Symbols compared by letters and digits alone ("BRK.B" is "BRK/B"), in any case. */
function sameSymbol(a: string, b: string): boolean {
  const plain = (symbol: string) => symbol.toUpperCase().replace(/[^A-Z0-9]/g, "");
  return plain(a) === plain(b);
}

/** The least wait before retrying a 429, whatever its reset time says. */
const RATE_LIMITED_FLOOR_MS = 1_000;
/** At most this many pages of cash transfers are read in one call (100 a page). */
const CASH_TRANSFER_PAGES = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Builds the Alpaca broker. Owns no connection: the limiter's Redis belongs to the caller. */
export function createAlpacaBroker(options: AlpacaBrokerOptions): Broker {
  const log = options.logger;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const readRetries = Math.max(0, options.readRetries ?? 2);
  const retryDelayMs = options.retryDelayMs ?? 250;
  const feed = options.dataFeed ?? "iex";

  const fetchApi: trading.FetchAPI = async (url, init) => {
    await options.rateLimiter.acquire(init.signal ?? undefined);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    return fetch(url, { ...init, signal });
  };
  const shared = {
    keyId: options.keyId,
    secret: options.secretKey,
    fetchApi,
    timeoutMs: 0,
    userAgent: "alpaca-telegram-desk",
  };
  const tradingConfig = new trading.Configuration({ ...shared, basePath: options.tradingUrl });
  const dataConfig = new marketDataApi.Configuration({ ...shared, basePath: options.dataUrl });
  const orders = new OrdersApi(tradingConfig);
  const positions = new PositionsApi(tradingConfig);
  const account = new trading.AccountsApi(tradingConfig);
  const activities = new trading.AccountActivitiesApi(tradingConfig);
  const clock = new trading.ClockApi(tradingConfig);
  const calendar = new trading.CalendarApi(tradingConfig);
  const assets = new trading.AssetsApi(tradingConfig);
  const stocks = new marketDataApi.StockApi(dataConfig);

  const backoff = (attempt: number, failure: BrokerFailure): Promise<void> => {
    const exponential = retryDelayMs * 2 ** (attempt - 1);
    // A 429 whose reset has passed here already (our clock ahead of Alpaca's) suggests 0 ms:
    // retrying at once would only earn another 429.
    const floor =
      failure.code === "RATE_LIMITED" ? Math.max(exponential, RATE_LIMITED_FLOOR_MS) : exponential;
    return sleep(Math.min(Math.max(failure.retryAfterMs ?? 0, floor), 60_000));
  };

  /** One call, with SDK errors and unreadable answers turned into failures. */
  async function once<T>(what: string, call: () => Promise<T>): Promise<BrokerResult<T>> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      if (error instanceof InvalidOrderRequest) {
        return brokerFailure("INVALID", error.message, false);
      }
      const failure = toBrokerFailure(error);
      // A missing order is routine (a lookup before a resubmit); the rest deserve attention.
      const level = failure.code === "NOT_FOUND" ? "debug" : "warn";
      log?.[level](
        {
          call: what,
          code: failure.code,
          httpStatus: failure.httpStatus,
          retryable: failure.retryable,
        },
        `broker ${what} failed: ${failure.message}`,
      );
      return failure;
    }
  }

  /** A read, retried while the failure is retryable. */
  async function read<T>(what: string, call: () => Promise<T>): Promise<BrokerResult<T>> {
    for (let attempt = 1; ; attempt++) {
      const result = await once(what, call);
      if (result.ok || !result.retryable || attempt > readRetries) return result;
      await backoff(attempt, result);
    }
  }

  const getOrderByClientOrderId = (clientOrderId: string): Promise<BrokerResult<BrokerOrder>> =>
    read("get order by client order id", async () =>
      fromOrder(await orders.getOrderByClientOrderId({ clientOrderId })),
    );

  return {
    async submitOrder(request: OrderRequest, submitOptions: { lookUpFirst?: boolean } = {}) {
      let body: trading.PostOrderRequest;
      try {
        body = toPostOrderRequest(request);
      } catch (error) {
        if (error instanceof InvalidOrderRequest) {
          return brokerFailure("INVALID", error.message, false);
        }
        throw error;
      }
      return submitOrderSafely(
        {
          post: () =>
            once("submit order", async () =>
              fromOrder(await orders.postOrder({ postOrderRequest: body })),
            ),
          lookUp: () => getOrderByClientOrderId(request.clientOrderId),
          wait: backoff,
          isSubmitted: (found) =>
            found.side === request.side && sameSymbol(found.symbol, request.symbol),
        },
        {
          maxAttempts: options.submitAttempts ?? 2,
          lookUpFirst: submitOptions.lookUpFirst === true,
        },
      );
    },

    getOrderByClientOrderId,

    getOrder: (brokerOrderId) =>
      read("get order", async () =>
        fromOrder(await orders.getOrderByOrderID({ orderId: brokerOrderId, nested: true })),
      ),

    listOrders: (query: OrderQuery = {}) =>
      read("list orders", async () => {
        const list = await orders.getAllOrders({
          status: query.status ?? "open",
          limit: query.limit ?? 100,
          nested: query.nested ?? true,
          assetClass: ["us_equity"],
          ...(query.after ? { after: query.after.toISOString() } : {}),
          ...(query.until ? { until: query.until.toISOString() } : {}),
          ...(query.direction ? { direction: query.direction } : {}),
          ...(query.symbols && query.symbols.length > 0 ? { symbols: [...query.symbols] } : {}),
        });
        // Others' options orders would make the whole list unreadable (and with it polling).
        return list.filter(isStockOrder).map(fromOrder);
      }),

    cancelOrder: (brokerOrderId) =>
      once("cancel order", async () => {
        await orders.deleteOrderByOrderID({ orderId: brokerOrderId });
        return { brokerOrderId };
      }),

    cancelAllOrders: () =>
      once("cancel all orders", async () => {
        const answers = await orders.deleteAllOrders();
        return answers.map((answer) => ({
          brokerOrderId: String(answer.id ?? ""),
          httpStatus: typeof answer.status === "number" ? answer.status : 0,
        }));
      }),

    replaceOrder: (brokerOrderId: string, replacement: OrderReplacement) =>
      once("replace order", async () =>
        fromOrder(
          await orders.patchOrderByOrderId({
            orderId: brokerOrderId,
            patchOrderRequest: toPatchOrderRequest(replacement),
          }),
        ),
      ),

    listPositions: () =>
      read("list positions", async () =>
        // An options position held beside is not a stock position the desk could manage.
        (await positions.getAllOpenPositions()).filter(isStockPosition).map(fromPosition),
      ),

    getPosition: (symbol) =>
      read("get position", async () =>
        fromPosition(await positions.getOpenPosition({ symbolOrAssetId: symbol })),
      ),

    closePosition: (symbol: string, amount?: CloseAmount) =>
      once("close position", async () => {
        const query =
          amount === undefined
            ? {}
            : "qty" in amount
              ? { qty: formatQuantity(amount.qty) }
              : { percentage: formatPercentage(amount.percentage, "percentage") };
        return fromOrder(await positions.closePosition(symbol, query));
      }),

    closeAllPositions: (closeOptions = {}) =>
      once("close all positions", async () => {
        const answers = await positions.deleteAllOpenPositions({
          cancelOrders: closeOptions.cancelOrders ?? false,
        });
        return answers.map((answer): ClosePositionOutcome => {
          const succeeded = answer.status >= 200 && answer.status < 300 && answer.body;
          return {
            symbol: answer.symbol,
            result: succeeded
              ? { ok: true, value: fromOrder(answer.body as trading.Order) }
              : brokerFailure(
                  answer.status === 403
                    ? "FORBIDDEN"
                    : answer.status >= 500
                      ? "SERVER_ERROR"
                      : "INVALID",
                  `could not close ${answer.symbol} (HTTP ${answer.status})`,
                  answer.status >= 500,
                  { httpStatus: answer.status },
                ),
          };
        });
      }),

    getAccount: () => read("get account", async () => fromAccount(await account.getAccount())),

    listCashTransfers: (after: Date) =>
      read("list cash transfers", async () => {
        const transfers: CashTransfer[] = [];
        let pageToken: string | undefined;
        // Pages of 100, oldest first; a day's transfers rarely fill one.
        for (let page = 0; page < CASH_TRANSFER_PAGES; page++) {
          const answer = await activities.getAccountActivities({
            activityTypes: Object.keys(CASH_TRANSFER_ACTIVITIES) as trading.ActivityType[],
            after,
            direction: "asc",
            pageSize: 100,
            ...(pageToken ? { pageToken } : {}),
          });
          transfers.push(...answer.map(fromCashActivity));
          const last = transfers.at(-1);
          if (answer.length < 100 || last === undefined) break;
          pageToken = last.id;
        }
        return transfers;
      }),

    getClock: () => read("get clock", async () => fromClock(await clock.legacyClock())),

    getCalendar: (start: string, end: string) =>
      read("get calendar", async () => {
        const days = await calendar.legacyCalendar({
          start: new Date(`${start}T00:00:00Z`),
          end: new Date(`${end}T00:00:00Z`),
        });
        return days.map(fromCalendarDay);
      }),

    getAsset: (symbol) =>
      read("get asset", async () =>
        fromAsset(await assets.getV2AssetsSymbolOrAssetId({ symbolOrAssetId: symbol })),
      ),

    getLatestQuotes: (symbols: readonly string[]) =>
      read("get latest quotes", async () => {
        const quotes = new Map<string, LatestQuote>();
        if (symbols.length === 0) return quotes;
        const answer = await stocks.stockLatestQuotes({ symbols: symbols.join(","), feed });
        for (const [symbol, quote] of Object.entries(answer.quotes ?? {})) {
          quotes.set(symbol, fromQuote(symbol, quote));
        }
        return quotes;
      }),

    subscribeTradeUpdates: (
      listener: TradeUpdateListener,
      subscribeOptions: { readonly signal?: AbortSignal } = {},
    ) =>
      subscribeTradeUpdates(
        {
          url: options.streamUrl,
          keyId: options.keyId,
          secretKey: options.secretKey,
          ...(log ? { logger: log } : {}),
          ...options.stream,
          ...(subscribeOptions.signal ? { signal: subscribeOptions.signal } : {}),
        },
        listener,
      ),
  };
}
