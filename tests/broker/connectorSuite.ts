/**
 * The connector suite: one set of assertions about the broker port, run against the simulator
 * always and against Alpaca paper when credentials are present. Tests that need to move the
 * market or inject failures run only where a simulator control is available; tests that need
 * fills run on paper only while the market is open.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AlpacaBrokerOptions } from "../../broker/alpaca/client";
import type { RateLimiter } from "../../broker/rateLimiter";
import type {
  Broker,
  BrokerErrorCode,
  BrokerFailure,
  BrokerOrder,
  BrokerResult,
  ResyncNeeded,
  TradeUpdate,
} from "../../domain/broker";
import { type Decimal, dec } from "../../domain/money";
import { roundToTick } from "../../domain/tick";
import type { SimulatorControl } from "./simulatorControl";

export interface ConnectorFixture {
  readonly broker: Broker;
  /** Another broker on the same account with some adapter options changed. */
  brokerWith(overrides: Partial<AlpacaBrokerOptions>): Broker;
  /** A fresh limiter on the fixture's Redis, with its own budget. */
  limiterWith(budget: { limit: number; windowMs: number }): RateLimiter;
  readonly symbol: string;
  /** The simulator's controls; null against Alpaca. */
  readonly sim: SimulatorControl | null;
  /** Puts the account in a known state before each test. */
  prepare(): Promise<void>;
  close(): Promise<void>;
}

/** Unwraps a successful result, failing the test with the broker's message otherwise. */
export function expectOk<T>(result: BrokerResult<T>): T {
  if (!result.ok) {
    throw new Error(`expected success, got ${result.code}: ${result.message}`);
  }
  return result.value;
}

/** Asserts a failure with the given code and returns it. */
export function expectFailure<T>(result: BrokerResult<T>, code: BrokerErrorCode): BrokerFailure {
  if (result.ok) throw new Error(`expected ${code}, got success`);
  expect(result.code, result.message).toBe(code);
  return result;
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 8_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function clientOrderId(tag: string): string {
  return `test-${tag}-${randomUUID().slice(0, 13)}`;
}

const TERMINAL = new Set(["filled", "canceled", "expired", "rejected", "replaced", "done_for_day"]);

/**
 * Registers the suite. `makeFixture` runs once for the file; `fixture.prepare()` before each
 * test.
 */
export function describeBrokerConnector(
  name: string,
  makeFixture: () => Promise<ConnectorFixture>,
): void {
  describe(`broker connector: ${name}`, () => {
    let fixture: ConnectorFixture | undefined;
    const current = (): ConnectorFixture => {
      if (!fixture) throw new Error("fixture not ready");
      return fixture;
    };
    const broker = (): Broker => current().broker;
    const symbol = (): string => current().symbol;

    beforeAll(async () => {
      fixture = await makeFixture();
    });
    afterAll(async () => {
      await fixture?.close();
    });
    beforeEach(async () => {
      await current().prepare();
    });

    /** The current reference price: the ask, else the bid. */
    async function referencePrice(): Promise<Decimal> {
      const quotes = expectOk(await broker().getLatestQuotes([symbol()]));
      const quote = quotes.get(symbol());
      const price = quote?.askPrice ?? quote?.bidPrice;
      if (!price) throw new Error(`no quote for ${symbol()}`);
      return price;
    }

    /** A buy limit far enough below the market that it rests. */
    async function restingBuyLimit(): Promise<Decimal> {
      return roundToTick((await referencePrice()).times("0.8"), "down");
    }

    /** Whether market orders can fill now (always on the simulator; on paper while open). */
    async function canFill(): Promise<boolean> {
      if (current().sim) return true;
      return expectOk(await broker().getClock()).isOpen;
    }

    async function submitRestingLimit(tag: string, qty = "2"): Promise<BrokerOrder> {
      const limitPrice = await restingBuyLimit();
      return expectOk(
        await broker().submitOrder({
          orderClass: "simple",
          clientOrderId: clientOrderId(tag),
          symbol: symbol(),
          side: "buy",
          qty: dec(qty),
          timeInForce: "day",
          entry: { type: "limit", limitPrice },
        }),
      );
    }

    async function buyAtMarketAndWaitForFill(qty: string): Promise<BrokerOrder> {
      const order = expectOk(
        await broker().submitOrder({
          orderClass: "simple",
          clientOrderId: clientOrderId("mkt"),
          symbol: symbol(),
          side: "buy",
          qty: dec(qty),
          timeInForce: "day",
          entry: { type: "market" },
        }),
      );
      return eventually("the market order to fill", async () => {
        const seen = expectOk(await broker().getOrder(order.brokerOrderId));
        return seen.status === "filled" ? seen : undefined;
      });
    }

    describe("account, clock, calendar, asset, quotes", () => {
      it("reads the account in decimals", async () => {
        const account = expectOk(await broker().getAccount());
        expect(account.accountId).not.toBe("");
        expect(account.equity.isFinite()).toBe(true);
        expect(account.buyingPower.gte(0)).toBe(true);
        if (current().sim) {
          expect(account.cash.toFixed(2)).toBe("100000.00");
          expect(account.equity.toFixed(2)).toBe("100000.00");
          expect(account.tradingBlocked).toBe(false);
        }
      });

      it("reads the cash moved in and out of the account, signed", async () => {
        const since = new Date(Date.now() - 7 * 86_400_000);
        if (!current().sim) {
          expect(Array.isArray(expectOk(await broker().listCashTransfers(since)))).toBe(true);
          return;
        }
        const account = expectOk(await broker().getAccount());
        const before = expectOk(await broker().listCashTransfers(new Date(0))).length;
        await current().sim?.transferCash("2500");
        await current().sim?.transferCash("-1000.50");
        await current().sim?.transferCash("-200", "JNLC");
        const transfers = expectOk(await broker().listCashTransfers(new Date(0))).slice(before);
        expect(transfers.map((x) => [x.kind, x.amount.toFixed(), x.canceled])).toEqual([
          ["deposit", "2500", false],
          ["withdrawal", "-1000.5", false],
          ["journal", "-200", false],
        ]);
        expect(transfers.every((x) => x.at.getTime() > 0 && x.id !== "")).toBe(true);
        const after = expectOk(await broker().getAccount());
        expect(after.equity.minus(account.equity).toFixed()).toBe("1299.5");
        expect(after.lastEquity.toFixed()).toBe(account.lastEquity.toFixed());
      });

      it("reads the market clock", async () => {
        const clock = expectOk(await broker().getClock());
        expect(clock.nextOpen.getTime()).toBeGreaterThan(0);
        expect(clock.nextClose.getTime()).toBeGreaterThan(clock.timestamp.getTime() - 86_400_000);
        if (current().sim) {
          // Reset to Monday 2026-03-02 14:35Z, 09:35 in New York: open until 16:00 (21:00Z).
          expect(clock.timestamp.toISOString()).toBe("2026-03-02T14:35:00.000Z");
          expect(clock.isOpen).toBe(true);
          expect(clock.nextClose.toISOString()).toBe("2026-03-02T21:00:00.000Z");
          expect(clock.nextOpen.toISOString()).toBe("2026-03-03T14:30:00.000Z");
        }
      });

      it("reads the trading calendar in New York time", async () => {
        // 2026-03-02..06 is an ordinary week; 2026-04-03 is Good Friday (closed).
        const week = expectOk(await broker().getCalendar("2026-03-02", "2026-03-06"));
        expect(week.map((day) => day.date)).toEqual([
          "2026-03-02",
          "2026-03-03",
          "2026-03-04",
          "2026-03-05",
          "2026-03-06",
        ]);
        for (const day of week) {
          expect(day.open).toBe("09:30");
          expect(day.close).toBe("16:00");
        }
        const easter = expectOk(await broker().getCalendar("2026-04-02", "2026-04-06"));
        expect(easter.map((day) => day.date)).toEqual(["2026-04-02", "2026-04-06"]);
      });

      it("reads an asset's tradable, shortable and fractionable flags", async () => {
        const asset = expectOk(await broker().getAsset(symbol()));
        expect(asset.symbol).toBe(symbol());
        expect(asset.status).toBe("active");
        expect(asset.tradable).toBe(true);
        expect(asset.shortable).toBe(true);
        expect(asset.fractionable).toBe(true);
        expectFailure(await broker().getAsset("ZZZZQX"), "NOT_FOUND");
      });

      it("reads latest quotes as exact decimals", async () => {
        if (current().sim) {
          await current().sim?.setQuote(symbol(), "189.97", "190.03");
        }
        const quotes = expectOk(await broker().getLatestQuotes([symbol()]));
        const quote = quotes.get(symbol());
        expect(quote).toBeDefined();
        if (current().sim) {
          expect(quote?.bidPrice?.toFixed(2)).toBe("189.97");
          expect(quote?.askPrice?.toFixed(2)).toBe("190.03");
        } else {
          expect(quote?.askPrice ?? quote?.bidPrice).not.toBeNull();
        }
        expect(expectOk(await broker().getLatestQuotes([])).size).toBe(0);
      });
    });

    describe("orders", () => {
      it("submits a simple limit, finds it by client order id and broker order id, lists it", async () => {
        const order = await submitRestingLimit("limit");
        expect(["new", "accepted", "pending_new"]).toContain(order.status);
        expect(order.orderClass).toBe("simple");
        expect(order.type).toBe("limit");
        expect(order.qty?.toString()).toBe("2");
        expect(order.filledQty.toString()).toBe("0");

        const byClientId = expectOk(await broker().getOrderByClientOrderId(order.clientOrderId));
        expect(byClientId.brokerOrderId).toBe(order.brokerOrderId);
        expect(byClientId.limitPrice?.eq(order.limitPrice ?? dec(0))).toBe(true);

        const byId = expectOk(await broker().getOrder(order.brokerOrderId));
        expect(byId.clientOrderId).toBe(order.clientOrderId);

        const open = expectOk(await broker().listOrders({ status: "open", symbols: [symbol()] }));
        expect(open.map((o) => o.brokerOrderId)).toContain(order.brokerOrderId);
        expect(expectOk(await broker().cancelOrder(order.brokerOrderId)).brokerOrderId).toBe(
          order.brokerOrderId,
        );
      });

      it("replaces a working order: new broker order id, the old one replaced", async () => {
        const order = await submitRestingLimit("replace");
        const newPrice = (order.limitPrice ?? dec(1)).minus("0.05");
        const replacement = expectOk(
          await broker().replaceOrder(order.brokerOrderId, { limitPrice: newPrice, qty: dec(3) }),
        );
        expect(replacement.brokerOrderId).not.toBe(order.brokerOrderId);
        expect(replacement.replaces).toBe(order.brokerOrderId);
        expect(replacement.limitPrice?.eq(newPrice)).toBe(true);
        expect(replacement.qty?.toString()).toBe("3");
        const old = await eventually("the old order to be replaced", async () => {
          const seen = expectOk(await broker().getOrder(order.brokerOrderId));
          return seen.status === "replaced" ? seen : undefined;
        });
        expect(old.replacedBy).toBe(replacement.brokerOrderId);
        expectOk(await broker().cancelOrder(replacement.brokerOrderId));
      });

      it("cancels one order, then all open orders", async () => {
        const first = await submitRestingLimit("cancel-1");
        expectOk(await broker().cancelOrder(first.brokerOrderId));
        const canceled = await eventually("the cancel", async () => {
          const seen = expectOk(await broker().getOrder(first.brokerOrderId));
          return seen.status === "canceled" ? seen : undefined;
        });
        expect(canceled.canceledAt).not.toBeNull();

        const second = await submitRestingLimit("cancel-2");
        const third = await submitRestingLimit("cancel-3");
        const outcomes = expectOk(await broker().cancelAllOrders());
        const ids = outcomes.map((outcome) => outcome.brokerOrderId);
        expect(ids).toEqual(expect.arrayContaining([second.brokerOrderId, third.brokerOrderId]));
        await eventually("no open orders", async () => {
          const open = expectOk(await broker().listOrders({ status: "open" }));
          return open.length === 0 ? true : undefined;
        });
        const closed = expectOk(await broker().listOrders({ status: "closed", limit: 50 }));
        expect(closed.map((o) => o.brokerOrderId)).toEqual(
          expect.arrayContaining([first.brokerOrderId, second.brokerOrderId, third.brokerOrderId]),
        );
      });

      it("submits a bracket: entry with a held take-profit and stop-loss leg", async () => {
        const entry = await restingBuyLimit();
        const order = expectOk(
          await broker().submitOrder({
            orderClass: "bracket",
            clientOrderId: clientOrderId("bracket"),
            symbol: symbol(),
            side: "buy",
            qty: dec(3),
            timeInForce: "gtc",
            entry: { type: "limit", limitPrice: entry },
            takeProfit: { limitPrice: roundToTick(entry.times("1.1"), "down") },
            stopLoss: { stopPrice: roundToTick(entry.times("0.95"), "up") },
          }),
        );
        expect(order.orderClass).toBe("bracket");
        expect(order.legs).toHaveLength(2);
        const types = order.legs.map((leg) => leg.type).sort();
        expect(types).toEqual(["limit", "stop"]);
        for (const leg of order.legs) {
          expect(leg.side).toBe("sell");
          expect(leg.qty?.toString()).toBe("3");
          expect(leg.status).toBe("held");
        }
        // Cancelling the entry cancels the whole group.
        expectOk(await broker().cancelOrder(order.brokerOrderId));
        await eventually("the legs to be canceled", async () => {
          const seen = expectOk(await broker().getOrder(order.brokerOrderId));
          return seen.status === "canceled" && seen.legs.every((leg) => TERMINAL.has(leg.status))
            ? true
            : undefined;
        });
      });

      it("submits an OTO: entry with one stop-loss leg", async () => {
        const entry = await restingBuyLimit();
        const order = expectOk(
          await broker().submitOrder({
            orderClass: "oto",
            clientOrderId: clientOrderId("oto"),
            symbol: symbol(),
            side: "buy",
            qty: dec(2),
            timeInForce: "day",
            entry: { type: "limit", limitPrice: entry },
            exit: { stopLoss: { stopPrice: roundToTick(entry.times("0.95"), "up") } },
          }),
        );
        expect(order.orderClass).toBe("oto");
        expect(order.legs).toHaveLength(1);
        expect(order.legs[0]?.type).toBe("stop");
        expectOk(await broker().cancelOrder(order.brokerOrderId));
      });

      it("fills a market order, then protects the position with an OCO", async (ctx) => {
        if (!(await canFill())) ctx.skip("the market is closed: no fills on paper");
        const filled = await buyAtMarketAndWaitForFill("5");
        expect(filled.filledQty.toString()).toBe("5");
        expect(filled.filledAvgPrice).not.toBeNull();
        const price = filled.filledAvgPrice ?? dec(1);

        const submitted = await broker().submitOrder({
          orderClass: "oco",
          clientOrderId: clientOrderId("oco"),
          symbol: symbol(),
          side: "sell",
          qty: dec(5),
          timeInForce: "gtc",
          takeProfit: { limitPrice: roundToTick(price.times("1.2"), "down") },
          stopLoss: { stopPrice: roundToTick(price.times("0.8"), "up") },
        });
        // Alpaca's documented OCO is a limit order with no top-level limit_price.
        const oco = expectOk(submitted);
        expect(oco.orderClass).toBe("oco");
        expect(oco.type).toBe("limit");
        expect(oco.legs).toHaveLength(1);
        expect(oco.legs[0]?.type).toBe("stop");
        expectOk(await broker().cancelOrder(oco.brokerOrderId));
      });
    });

    describe("positions", () => {
      it("lists, partly closes and closes all positions", async (ctx) => {
        if (!(await canFill())) ctx.skip("the market is closed: no fills on paper");
        await buyAtMarketAndWaitForFill("10");
        const position = await eventually("the position", async () => {
          const list = expectOk(await broker().listPositions());
          return list.find((p) => p.symbol === symbol() && p.qty.gte(10));
        });
        expect(position.side).toBe("long");
        expect(position.avgEntryPrice.gt(0)).toBe(true);
        const before = position.qty;
        expect(expectOk(await broker().getPosition(symbol())).qty.eq(before)).toBe(true);

        const partial = expectOk(await broker().closePosition(symbol(), { qty: dec(4) }));
        expect(partial.side).toBe("sell");
        expect(partial.qty?.toString()).toBe("4");
        await eventually("the partial close", async () => {
          const seen = expectOk(await broker().getPosition(symbol()));
          return seen.qty.eq(before.minus(4)) ? true : undefined;
        });

        const outcomes = expectOk(await broker().closeAllPositions({ cancelOrders: true }));
        const mine = outcomes.find((outcome) => outcome.symbol === symbol());
        expect(mine?.result.ok).toBe(true);
        await eventually("no positions", async () => {
          const list = expectOk(await broker().listPositions());
          return list.length === 0 ? true : undefined;
        });
        expectFailure(await broker().getPosition(symbol()), "NOT_FOUND");
      });
    });

    describe("coded failures", () => {
      it("insufficient buying power", async () => {
        const price = await referencePrice();
        const result = await broker().submitOrder({
          orderClass: "simple",
          clientOrderId: clientOrderId("ibp"),
          symbol: symbol(),
          side: "buy",
          qty: dec(1_000_000),
          timeInForce: "day",
          entry: { type: "limit", limitPrice: roundToTick(price, "down") },
        });
        const failure = expectFailure(result, "INSUFFICIENT_BUYING_POWER");
        expect(failure.retryable).toBe(false);
        expect(failure.httpStatus).toBe(403);
      });

      it("invalid: refused by the broker (422), and off-tick prices refused before sending", async () => {
        const price = await restingBuyLimit();
        const inverted = await broker().submitOrder({
          orderClass: "bracket",
          clientOrderId: clientOrderId("inverted"),
          symbol: symbol(),
          side: "buy",
          qty: dec(1),
          timeInForce: "day",
          entry: { type: "limit", limitPrice: price },
          // Take-profit under the stop for a long: the broker refuses it.
          takeProfit: { limitPrice: roundToTick(price.times("0.9"), "down") },
          stopLoss: { stopPrice: roundToTick(price.times("0.95"), "up") },
        });
        const failure = expectFailure(inverted, "INVALID");
        expect(failure.httpStatus).toBe(422);
        expect(failure.retryable).toBe(false);

        const offTick = await broker().submitOrder({
          orderClass: "simple",
          clientOrderId: clientOrderId("offtick"),
          symbol: symbol(),
          side: "buy",
          qty: dec(1),
          timeInForce: "day",
          entry: { type: "limit", limitPrice: price.plus("0.005") },
        });
        expect(expectFailure(offTick, "INVALID").httpStatus).toBeUndefined();
      });

      it("not found", async () => {
        expectFailure(await broker().getOrder(randomUUID()), "NOT_FOUND");
        expectFailure(
          await broker().getOrderByClientOrderId(clientOrderId("missing")),
          "NOT_FOUND",
        );
      });

      it("a duplicate client order id answers the existing order, never a second one", async () => {
        const first = await submitRestingLimit("dup");
        const again = expectOk(
          await broker().submitOrder({
            orderClass: "simple",
            clientOrderId: first.clientOrderId,
            symbol: symbol(),
            side: "buy",
            qty: dec(7),
            timeInForce: "day",
            entry: { type: "limit", limitPrice: (first.limitPrice ?? dec(1)).minus("0.01") },
          }),
        );
        expect(again.brokerOrderId).toBe(first.brokerOrderId);
        expect(again.qty?.toString()).toBe("2");
        const mine = expectOk(await broker().listOrders({ status: "all", limit: 500 })).filter(
          (o) => o.clientOrderId === first.clientOrderId,
        );
        expect(mine).toHaveLength(1);
        expectOk(await broker().cancelOrder(first.brokerOrderId));
      });

      it("a client order id that already names another order (the other side) is refused, never answered with it", async () => {
        const first = await submitRestingLimit("taken");
        const other = {
          orderClass: "simple",
          clientOrderId: first.clientOrderId,
          symbol: symbol(),
          side: "sell",
          qty: dec(2),
          timeInForce: "day",
          entry: {
            type: "limit",
            limitPrice: (await referencePrice()).times(2).toDecimalPlaces(2),
          },
        } as const;
        for (const lookUpFirst of [false, true]) {
          const refused = expectFailure(
            await broker().submitOrder(other, { lookUpFirst }),
            "DUPLICATE_CLIENT_ORDER_ID",
          );
          expect(refused.retryable).toBe(false);
          expect(refused.message).toContain(first.clientOrderId);
        }
        const mine = expectOk(await broker().listOrders({ status: "all", limit: 500 })).filter(
          (o) => o.clientOrderId === first.clientOrderId,
        );
        expect(mine.map((o) => o.brokerOrderId)).toEqual([first.brokerOrderId]);
        expectOk(await broker().cancelOrder(first.brokerOrderId));
      });

      it("a retried submission that looks up first answers the earlier order without posting", async () => {
        const first = await submitRestingLimit("retry");
        // On the simulator, any POST would now be refused: the answer must come from the lookup.
        await current().sim?.inject({ method: "POST", path: "/v2/orders", status: 403, times: 1 });
        const retried = expectOk(
          await broker().submitOrder(
            {
              orderClass: "simple",
              clientOrderId: first.clientOrderId,
              symbol: symbol(),
              side: "buy",
              qty: dec(2),
              timeInForce: "day",
              entry: { type: "limit", limitPrice: first.limitPrice ?? dec(1) },
            },
            { lookUpFirst: true },
          ),
        );
        expect(retried.brokerOrderId).toBe(first.brokerOrderId);
        await current().sim?.inject({ clear: true });
        const fresh = await broker().submitOrder(
          {
            orderClass: "simple",
            clientOrderId: clientOrderId("first-try"),
            symbol: symbol(),
            side: "buy",
            qty: dec(1),
            timeInForce: "day",
            entry: { type: "limit", limitPrice: first.limitPrice ?? dec(1) },
          },
          { lookUpFirst: true },
        );
        expect(expectOk(fresh).brokerOrderId).not.toBe(first.brokerOrderId);
        expectOk(await broker().cancelAllOrders());
      });

      it("unauthorized, on REST and on the stream", async () => {
        const intruder = current().brokerWith({ secretKey: "not-the-secret", readRetries: 0 });
        const failure = expectFailure(await intruder.getAccount(), "UNAUTHORIZED");
        expect(failure.retryable).toBe(false);
        expect(failure.message).not.toContain("not-the-secret");
        const stream = await intruder.subscribeTradeUpdates({
          onTradeUpdate: () => {},
          onResyncNeeded: () => {},
        });
        if (stream.ok) await stream.value.close();
        expect(stream.ok ? "subscribed" : stream.code).toBe("UNAUTHORIZED");
      });

      it("network: nobody listening", async () => {
        const nowhere = current().brokerWith({
          tradingUrl: "http://127.0.0.1:9",
          dataUrl: "http://127.0.0.1:9",
          readRetries: 0,
        });
        const failure = expectFailure(await nowhere.getClock(), "NETWORK");
        expect(failure.retryable).toBe(true);
      });
    });

    describe("rate limit", () => {
      it("sends every request through the shared limiter: no more than its budget per window", async () => {
        const budget = { limit: 3, windowMs: 1_000 };
        const limited = current().brokerWith({ rateLimiter: current().limiterWith(budget) });
        const started = performance.now();
        const answers = await Promise.all(Array.from({ length: 7 }, () => limited.getClock()));
        const elapsed = performance.now() - started;
        for (const answer of answers) expectOk(answer);
        // Seven requests at three per second: the seventh waits for the third window.
        expect(elapsed).toBeGreaterThanOrEqual(2 * budget.windowMs - 50);
      });
    });

    describe("injected faults (simulator)", () => {
      const sim = (): SimulatorControl => {
        const control = current().sim;
        if (!control) throw new Error("no simulator");
        return control;
      };

      it("server error: retryable, and retried away on reads", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        await sim().inject({ method: "GET", path: "/v2/clock", status: 500, times: 1 });
        const failure = expectFailure(
          await current().brokerWith({ readRetries: 0 }).getClock(),
          "SERVER_ERROR",
        );
        expect(failure.retryable).toBe(true);
        expect(failure.httpStatus).toBe(500);

        await sim().inject({ method: "GET", path: "/v2/clock", status: 500, times: 1 });
        expectOk(await current().brokerWith({ readRetries: 1, retryDelayMs: 10 }).getClock());
      });

      it("forbidden: refused, not retryable, and a refused submit is never looked up or resent", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        const limitPrice = await restingBuyLimit();
        const id = clientOrderId("forbidden");
        await sim().inject({ method: "POST", path: "/v2/orders", status: 403, times: 1 });
        const failure = expectFailure(
          await broker().submitOrder({
            orderClass: "simple",
            clientOrderId: id,
            symbol: symbol(),
            side: "buy",
            qty: dec(1),
            timeInForce: "day",
            entry: { type: "limit", limitPrice },
          }),
          "FORBIDDEN",
        );
        expect(failure.retryable).toBe(false);
        expect(failure.httpStatus).toBe(403);
        const state = await sim().state();
        expect(state.orders.filter((o) => o.client_order_id === id)).toHaveLength(0);
      });

      it("rate limited: retryable with the broker's suggested wait", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        await sim().inject({ method: "GET", path: "/v2/account", status: 429, times: 1 });
        const failure = expectFailure(
          await current().brokerWith({ readRetries: 0 }).getAccount(),
          "RATE_LIMITED",
        );
        expect(failure.retryable).toBe(true);
        expect(failure.httpStatus).toBe(429);
      });

      it("timeout: a slow broker", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        await sim().inject({ delayMs: 400 });
        const slow = current().brokerWith({ requestTimeoutMs: 100, readRetries: 0 });
        const failure = expectFailure(await slow.getAccount(), "TIMEOUT");
        expect(failure.retryable).toBe(true);
        await sim().inject({ delayMs: 0 });
      });

      it("a 500 on submit never leaves two orders, whether or not the order landed", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        const limitPrice = await restingBuyLimit();
        const submitter = current().brokerWith({ retryDelayMs: 10 });
        // Before handling: the order never landed, so it is submitted again after the lookup.
        // After handling: the order landed and the answer was lost, so the lookup finds it.
        for (const afterHandling of [false, true]) {
          const id = clientOrderId(afterHandling ? "safe-500-after" : "safe-500-before");
          await sim().inject({
            method: "POST",
            path: "/v2/orders",
            status: 500,
            times: 1,
            afterHandling,
          });
          const order = expectOk(
            await submitter.submitOrder({
              orderClass: "simple",
              clientOrderId: id,
              symbol: symbol(),
              side: "buy",
              qty: dec(1),
              timeInForce: "day",
              entry: { type: "limit", limitPrice },
            }),
          );
          expect(order.clientOrderId).toBe(id);
          const state = await sim().state();
          expect(state.orders.filter((o) => o.client_order_id === id)).toHaveLength(1);
        }
      });

      it("a timed-out submit never leaves two orders, however often it is retried", async (ctx) => {
        if (!current().sim) ctx.skip("needs the simulator's fault injection");
        const limitPrice = await restingBuyLimit();
        const id = clientOrderId("safe-timeout");
        const request = {
          orderClass: "simple",
          clientOrderId: id,
          symbol: symbol(),
          side: "buy",
          qty: dec(1),
          timeInForce: "day",
          entry: { type: "limit", limitPrice },
        } as const;
        await sim().inject({ delayMs: 300 });
        const impatient = current().brokerWith({
          requestTimeoutMs: 100,
          readRetries: 0,
          retryDelayMs: 10,
        });
        const first = await impatient.submitOrder(request);
        if (!first.ok) expect(first.retryable).toBe(true);
        await sim().inject({ delayMs: 0 });
        // Give any request still sleeping in the simulator time to land, then retry as a job would.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const second = expectOk(await broker().submitOrder(request));
        expect(second.clientOrderId).toBe(id);
        const state = await sim().state();
        expect(state.orders.filter((o) => o.client_order_id === id)).toHaveLength(1);
      });
    });

    describe("trade updates stream", () => {
      it("reports each execution's own price and qty, the position after it, distinct execution ids", async (ctx) => {
        const sim = current().sim;
        if (!sim) return ctx.skip("needs the simulator's liquidity control");
        const updates: TradeUpdate[] = [];
        const subscription = expectOk(
          await broker().subscribeTradeUpdates({
            onTradeUpdate: (update) => updates.push(update),
            onResyncNeeded: () => {},
          }),
        );
        try {
          await sim.setLiquidity(symbol(), "4");
          const order = expectOk(
            await broker().submitOrder({
              orderClass: "simple",
              clientOrderId: clientOrderId("partial"),
              symbol: symbol(),
              side: "buy",
              qty: dec(10),
              timeInForce: "day",
              entry: { type: "market" },
            }),
          );
          const executionsOf = () =>
            updates.filter(
              (u) =>
                u.order.clientOrderId === order.clientOrderId &&
                (u.event === "partial_fill" || u.event === "fill"),
            );
          await eventually("the first partial fill", () =>
            executionsOf().length >= 1 ? true : undefined,
          );
          await sim.setQuote(symbol(), "190.03", "190.05");
          await eventually("the second partial fill", () =>
            executionsOf().length >= 2 ? true : undefined,
          );
          await sim.setQuote(symbol(), "190.08", "190.10");
          await eventually("the final fill", () => (executionsOf().length >= 3 ? true : undefined));

          const executions = executionsOf().map((u) => ({
            event: u.event,
            price: u.price?.toFixed(2),
            qty: u.qty?.toString(),
            positionQty: u.positionQty?.toString(),
            filledQty: u.order.filledQty.toString(),
          }));
          expect(executions).toEqual([
            { event: "partial_fill", price: "190.01", qty: "4", positionQty: "4", filledQty: "4" },
            { event: "partial_fill", price: "190.05", qty: "4", positionQty: "8", filledQty: "8" },
            { event: "fill", price: "190.10", qty: "2", positionQty: "10", filledQty: "10" },
          ]);
          const ids = executionsOf().map((u) => u.executionId);
          expect(new Set(ids).size).toBe(3);
          expect(ids).not.toContain(null);
        } finally {
          await subscription.close();
        }
      });

      it("delivers new and fill events, and signals resync after a dropped stream", async (ctx) => {
        if (!(await canFill())) ctx.skip("the market is closed: no fills on paper");
        const updates: TradeUpdate[] = [];
        const resyncs: ResyncNeeded[] = [];
        const subscription = expectOk(
          await broker().subscribeTradeUpdates({
            onTradeUpdate: (update) => updates.push(update),
            onResyncNeeded: (signal) => resyncs.push(signal),
          }),
        );
        try {
          expect(resyncs).toEqual([{ reason: "connected", reconnects: 0 }]);

          const first = await buyAtMarketAndWaitForFill("3");
          const fill = await eventually("the fill event", () =>
            updates.find(
              (u) => u.event === "fill" && u.order.clientOrderId === first.clientOrderId,
            ),
          );
          expect(fill.executionId).not.toBeNull();
          expect(fill.qty?.toString()).toBe("3");
          expect(fill.price?.gt(0)).toBe(true);
          expect(fill.positionQty?.gte(3)).toBe(true);
          expect(fill.order.status).toBe("filled");
          expect(
            updates.some((u) => u.event === "new" && u.order.clientOrderId === first.clientOrderId),
          ).toBe(true);

          if (current().sim) {
            await current().sim?.inject({ dropStream: true });
            await eventually("the resync signal", () =>
              resyncs.find((signal) => signal.reason === "reconnected"),
            );
            expect(resyncs.at(-1)).toEqual({ reason: "reconnected", reconnects: 1 });
            const second = await buyAtMarketAndWaitForFill("2");
            await eventually("a fill after the reconnect", () =>
              updates.find(
                (u) => u.event === "fill" && u.order.clientOrderId === second.clientOrderId,
              ),
            );
          }
        } finally {
          await subscription.close();
        }
      });
    });
  });
}
