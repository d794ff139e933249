import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createExecutionService } from "../../../app/execution/service";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics, type DeskMetrics } from "../../../app/metrics";
import { createAlpacaBroker } from "../../../broker/alpaca/client";
import { createRedisRateLimiter } from "../../../broker/rateLimiter";
import { changeTradingState, ensureBrokerAccount } from "../../../db/brokerAccounts";
import { findDecision } from "../../../db/decisions";
import { applyOrderUpdate } from "../../../db/orderEvents";
import { decisions } from "../../../db/schema";
import { recordTradeEntry } from "../../../db/trades";
import { dec } from "../../../domain/money";
import { createOrder } from "../../../domain/order";
import { setTradingStateManually } from "../../../domain/tradingState";
import { createJobClient, executeJobId } from "../../../jobs/client";
import { closeQueues, createQueues, type Queues } from "../../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { createTestRedis, deleteKeysWithPrefix, type TestRedis } from "../../support/redis";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../../support/simulator";

const TOKEN = "api-token-0123456789abcdef";
const NOW = new Date(MARKET_OPEN_TIME);

describe("/api/execution", () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let simulator: TestSimulator;
  let queues: Queues;
  let app: FastifyInstance;
  let metrics: DeskMetrics;
  let accountId: number;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    redis = createTestRedis("execution-api");
    simulator = await startTestSimulator();
    queues = createQueues({ connection: redis.connect(), prefix: `${redis.prefix}q` });
    const broker = createAlpacaBroker({
      keyId: "test-key",
      secretKey: "test-secret",
      tradingUrl: simulator.url,
      dataUrl: simulator.url,
      streamUrl: simulator.streamUrl,
      rateLimiter: createRedisRateLimiter({
        redis: redis.redis,
        keyPrefix: redis.prefix,
        bucket: "api-test",
      }),
      requestTimeoutMs: 5_000,
    });
    metrics = createMetrics();
    const logger = createLogger({ level: "silent" });
    app = createHttpServer({
      logger,
      metrics,
      health: [],
      execution: {
        apiToken: TOKEN,
        service: createExecutionService({
          db: database.db,
          broker,
          jobs: createJobClient(queues),
          accountId: await createAccount(),
          logger,
          metrics,
          now: () => NOW,
        }),
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    if (queues) await closeQueues(queues);
    await simulator?.close();
    await redis?.cleanup();
    await database?.close();
  });
  beforeEach(async () => {
    await database.truncate();
    await deleteKeysWithPrefix(redis.redis, `${redis.prefix}q`);
    await simulator.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
    // Truncating restarts the ids, so the account comes back with the id the service was given.
    expect(await createAccount()).toBe(accountId);
  });

  async function createAccount(): Promise<number> {
    const account = await ensureBrokerAccount(
      database.db,
      { environment: "paper", brokerAccountId: "sim-account" },
      NOW,
    );
    accountId = account.id;
    return account.id;
  }

  const call = (
    method: "GET" | "POST",
    url: string,
    body?: unknown,
    token: string | null = TOKEN,
  ) =>
    app.inject({
      method,
      url,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });

  const ORDER = {
    ticker: "AAPL",
    order_type: "BUY",
    price_type: "MARKET",
    stop_loss: "185.00",
    target_price: "200.00",
  };

  it("refuses requests without a token, with a wrong token, or another scheme (401)", async () => {
    for (const url of [
      "/api/execution/positions",
      "/api/execution/account",
      "/api/execution/execution-log",
    ]) {
      const none = await call("GET", url, undefined, null);
      expect(none.statusCode).toBe(401);
      expect(none.json()).toMatchObject({ error: "MISSING_TOKEN" });
      const wrong = await call("GET", url, undefined, "api-token-0123456789abcdeX");
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toMatchObject({ error: "INVALID_TOKEN" });
    }
    const basic = await app.inject({
      method: "GET",
      url: "/api/execution/positions",
      headers: { authorization: `Basic ${TOKEN}` },
    });
    expect(basic.statusCode).toBe(401);
    const submit = await call("POST", "/api/execution/submit", ORDER, "short");
    expect(submit.statusCode).toBe(401);
    expect(await queues.execute.count()).toBe(0);
  });

  it("accepts a sound order: an approved api decision and exactly one execute job", async () => {
    const response = await call("POST", "/api/execution/submit", ORDER);
    expect(response.statusCode).toBe(202);
    const body = response.json();
    // 1% of 100,000 at risk would be 199 shares; 5% max position (5,000 at the 190.01 ask) binds.
    expect(body).toMatchObject({
      success: true,
      status: "queued",
      ticker: "AAPL",
      side: "buy",
      quantity: "26",
      expected_entry: "190.01",
      stop_loss: "185",
    });
    const decision = await findDecision(database.db, body.decision_id);
    expect(decision).toMatchObject({
      source: "api",
      status: "approved",
      symbol: "AAPL",
      createdBy: "api",
    });
    expect(decision?.quantity.toString()).toBe("26");
    const jobs = await queues.execute.getJobs(["waiting", "delayed", "active"]);
    expect(jobs.map((job) => job.data)).toEqual([
      { action: "NEW_TRADE", decisionId: body.decision_id },
    ]);
  });

  it("keeps an order's notes with its decision: in the answer, the decision and the execution log", async () => {
    const notes = "Breakout over the March high; earnings after the close";
    const response = await call("POST", "/api/execution/submit", { ...ORDER, notes });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body.notes).toBe(notes);
    expect(await findDecision(database.db, body.decision_id)).toMatchObject({ notes });
    const log = (await call("GET", "/api/execution/execution-log?limit=1")).json();
    expect(log.events[0]).toMatchObject({
      entity: "decision",
      event_type: "CREATED",
      details: { notes },
    });
    const without = (await call("POST", "/api/execution/submit", ORDER)).json();
    expect(without.notes).toBeNull();
    expect(await findDecision(database.db, without.decision_id)).toMatchObject({ notes: null });
  });

  it("refuses an order the risk rules forbid with 422 and every violated code, enqueuing nothing", async () => {
    const response = await call("POST", "/api/execution/submit", { ...ORDER, quantity: 1000 });
    expect(response.statusCode).toBe(422);
    const body = response.json();
    expect(body.error).toBe("RISK_CHECK_FAILED");
    const codes = body.violations.map((v: { code: string }) => v.code);
    expect(codes).toEqual(
      expect.arrayContaining(["RISK_PER_TRADE", "MAX_POSITION_SIZE", "BUYING_POWER"]),
    );
    expect(await queues.execute.count()).toBe(0);
    const scraped = await metrics.render();
    expect(scraped).toMatch(
      /desk_order_rejections_total\{code="MAX_POSITION_SIZE",source="risk"\} 1/,
    );
  });

  it("checks a submission against the desk's own entries, as the execute job will: one recorded but not yet at the broker is a duplicate", async () => {
    const LIMIT_ORDER = {
      ...ORDER,
      price_type: "LIMIT",
      limit_price: "189.00",
      quantity: 10,
    };
    // Nothing recorded yet: the same order passes.
    const first = await call("POST", "/api/execution/submit", LIMIT_ORDER);
    expect(first.statusCode).toBe(202);
    // The execute job records the entry (and sends it only after): the broker has no order yet.
    await recordTradeEntry(
      database.db,
      {
        accountId,
        decisionId: null,
        plan: {
          symbol: "AAPL",
          side: "long",
          plannedEntryPrice: dec("189"),
          plannedStopPrice: dec("185"),
          plannedTargetPrice: dec("200"),
          plannedQuantity: dec("10"),
          plannedRisk: dec("40"),
        },
        entry: {
          order: createOrder(
            {
              clientOrderId: "api-test-recorded",
              symbol: "AAPL",
              side: "buy",
              type: "limit",
              timeInForce: "day",
              orderClass: "simple",
              role: "ENTRY",
              quantity: dec("10"),
              limitPrice: dec("189"),
              stopPrice: null,
            },
            NOW.toISOString(),
          ),
        },
        legs: [],
      },
      "test",
      NOW,
    );
    const again = await call("POST", "/api/execution/submit", LIMIT_ORDER);
    expect(again.statusCode).toBe(422);
    const codes = again.json().violations.map((v: { code: string }) => v.code);
    expect(codes).toEqual(["DUPLICATE_ORDER"]);
    expect(await queues.execute.count()).toBe(1);
  });

  it("refuses a ticker the broker does not know as not tradable (422), not as the broker unavailable", async () => {
    const response = await call("POST", "/api/execution/submit", {
      ...ORDER,
      ticker: "ZZZZ",
      price_type: "LIMIT",
      limit_price: "190.00",
    });
    expect(response.statusCode).toBe(422);
    const codes = response.json().violations.map((v: { code: string }) => v.code);
    expect(codes).toContain("NOT_TRADABLE");
    expect(await queues.execute.count()).toBe(0);
  });

  it("refuses a plan whose stop is on the wrong side", async () => {
    const response = await call("POST", "/api/execution/submit", { ...ORDER, stop_loss: "195.00" });
    expect(response.statusCode).toBe(422);
    const codes = response.json().violations.map((v: { code: string }) => v.code);
    expect(codes).toContain("STOP_WRONG_SIDE");
  });

  it("reads prices within floating-point noise of a tick as that tick, as alert intake does, and refuses one really off the grid", async () => {
    const noisy = await call("POST", "/api/execution/submit", {
      ...ORDER,
      price_type: "LIMIT",
      limit_price: 190.10000000000002,
      stop_loss: 185.00000000000003,
      target_price: "199.99999999999997",
      quantity: 10,
    });
    expect(noisy.statusCode).toBe(202);
    expect(noisy.json()).toMatchObject({
      limit_price: "190.1",
      stop_loss: "185",
      target_price: "200",
    });
    const decision = await findDecision(database.db, noisy.json().decision_id);
    expect(decision?.entryPrice?.toString()).toBe("190.1");
    expect(decision?.stopPrice.toString()).toBe("185");

    const off = await call("POST", "/api/execution/submit", {
      ...ORDER,
      price_type: "LIMIT",
      limit_price: 190.105,
      quantity: 10,
    });
    expect(off.statusCode).toBe(400);
    expect(off.json().issues).toEqual([
      {
        path: "limit_price",
        message:
          "must be on the broker's price grid: whole cents at or above $1 (such as 190.10), at most 4 decimals below $1 (such as 0.1234); got 190.105",
      },
    ]);
    expect(await queues.execute.count()).toBe(1);
  });

  it("honours the kill switch: a halted account refuses new entries", async () => {
    await changeTradingState(
      database.db,
      accountId,
      () => setTradingStateManually("HALTED", "/halt by the test", NOW.getTime()),
      "user:1",
      NOW,
    );
    const response = await call("POST", "/api/execution/submit", ORDER);
    expect(response.statusCode).toBe(422);
    const codes = response.json().violations.map((v: { code: string }) => v.code);
    expect(codes).toContain("TRADING_HALTED");
    expect(await queues.execute.count()).toBe(0);
  });

  it("answers 400 with the fields at fault for a malformed order", async () => {
    const response = await call("POST", "/api/execution/submit", {
      ticker: "AA PL",
      order_type: "HOLD",
      price_type: "LIMIT",
      quantity: 1.5,
    });
    expect(response.statusCode).toBe(400);
    const paths = response.json().issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(["ticker", "order_type", "stop_loss", "quantity"]),
    );
    const notJson = await app.inject({
      method: "POST",
      url: "/api/execution/submit",
      payload: "{oops",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ error: "INVALID_JSON" });
  });

  it("enqueues a cancel for an entry, refuses unknown orders and protective exits", async () => {
    const { trade, entry, legs } = await recordTradeEntry(
      database.db,
      {
        accountId,
        decisionId: null,
        plan: {
          symbol: "AAPL",
          side: "long",
          plannedEntryPrice: dec("190"),
          plannedStopPrice: dec("185"),
          plannedTargetPrice: dec("200"),
          plannedQuantity: dec("10"),
          plannedRisk: dec("50"),
        },
        entry: {
          order: createOrder(
            {
              clientOrderId: "api-test-entry",
              symbol: "AAPL",
              side: "buy",
              type: "limit",
              timeInForce: "day",
              orderClass: "bracket",
              role: "ENTRY",
              quantity: dec("10"),
              limitPrice: dec("189"),
              stopPrice: null,
            },
            NOW.toISOString(),
          ),
        },
        legs: [
          {
            order: createOrder(
              {
                clientOrderId: "api-test-stop",
                symbol: "AAPL",
                side: "sell",
                type: "stop",
                timeInForce: "gtc",
                orderClass: "bracket",
                role: "STOP_LOSS",
                quantity: dec("10"),
                limitPrice: null,
                stopPrice: dec("185"),
              },
              NOW.toISOString(),
              "held",
            ),
          },
        ],
      },
      "test",
      NOW,
    );
    const cancel = await call("POST", `/api/execution/orders/${entry.id}/cancel`);
    expect(cancel.statusCode).toBe(202);
    expect(cancel.json()).toMatchObject({ success: true, order_id: entry.id, trade_id: trade.id });
    const jobs = await queues.execute.getJobs(["waiting", "delayed"]);
    expect(jobs.map((job) => job.data)).toEqual([
      {
        action: "CANCEL",
        accountId,
        tradeId: trade.id,
        reason: "cancel requested by api",
        requestedBy: "api",
      },
    ]);

    const stop = legs[0];
    const exit = await call("POST", `/api/execution/orders/${stop?.id}/cancel`);
    expect(exit.statusCode).toBe(409);
    expect(exit.json()).toMatchObject({ error: "PROTECTIVE_ORDER" });
    const unknown = await call("POST", "/api/execution/orders/999999/cancel");
    expect(unknown.statusCode).toBe(404);

    const listed = await call("GET", "/api/execution/orders?status=PENDING&ticker=aapl");
    expect(listed.statusCode).toBe(200);
    expect(
      listed
        .json()
        .orders.map((o: { order_id: number }) => o.order_id)
        .sort(),
    ).toEqual([entry.id, stop?.id].sort());
    const filled = await call("GET", "/api/execution/orders?status=FILLED");
    expect(filled.json().orders).toEqual([]);
  });

  it("reads positions, fills, the account and the execution log", async () => {
    await call("POST", "/api/execution/submit", ORDER);
    const account = await call("GET", "/api/execution/account");
    expect(account.statusCode).toBe(200);
    expect(account.json()).toMatchObject({
      total_equity: "100000",
      available_cash: "100000",
      trading_state: "ACTIVE",
      stale: false,
    });
    expect((await call("GET", "/api/execution/positions")).json()).toEqual({ positions: [] });
    expect((await call("GET", "/api/execution/fills")).json()).toEqual({
      fills: [],
      next_before_id: null,
    });
    const log = await call("GET", "/api/execution/execution-log?limit=1");
    expect(log.statusCode).toBe(200);
    const page = log.json();
    expect(page.events).toHaveLength(1);
    expect(page.events[0]).toMatchObject({ entity: "decision", event_type: "CREATED" });
    const next = await call(
      "GET",
      `/api/execution/execution-log?limit=10&before_id=${page.next_before_id}`,
    );
    expect(next.json().events.map((e: { event_type: string }) => e.event_type)).toEqual([
      "CREATED",
    ]);
    expect(next.json().events[0].entity).toBe("account");
    const badPage = await call("GET", "/api/execution/execution-log?limit=0");
    expect(badPage.statusCode).toBe(400);
  });
  it("serves an average of fills at different prices to four decimals: avg_cost, and the order's and fill's avg_fill_price", async () => {
    const { entry } = await recordTradeEntry(
      database.db,
      {
        accountId,
        decisionId: null,
        plan: {
          symbol: "AAPL",
          side: "long",
          plannedEntryPrice: dec("190.15"),
          plannedStopPrice: dec("185"),
          plannedTargetPrice: dec("200"),
          plannedQuantity: dec("150"),
          plannedRisk: dec("772.5"),
        },
        entry: {
          order: createOrder(
            {
              clientOrderId: "api-test-average",
              symbol: "AAPL",
              side: "buy",
              type: "limit",
              timeInForce: "day",
              orderClass: "simple",
              role: "ENTRY",
              quantity: dec("150"),
              limitPrice: dec("190.15"),
              stopPrice: null,
            },
            NOW.toISOString(),
          ),
        },
        legs: [],
      },
      "test",
      NOW,
    );
    // 100 at 190.10 and 50 at 190.15: 28,517.50 / 150 = 190.11666...
    for (const [n, quantity, price] of [
      [1, "100", "190.10"],
      [2, "50", "190.15"],
    ] as const) {
      const applied = await applyOrderUpdate(
        database.db,
        { orderId: entry.id },
        {
          event: n === 2 ? "fill" : "partial_fill",
          executionId: `api-average-${n}`,
          quantity: dec(quantity),
          price: dec(price),
          at: new Date(NOW.getTime() + n * 1000).toISOString(),
        },
        { source: "stream", recordedAt: new Date(NOW.getTime() + n * 1000) },
      );
      expect(applied.ok).toBe(true);
    }
    const [position] = (await call("GET", "/api/execution/positions")).json().positions;
    expect(position).toMatchObject({ ticker: "AAPL", quantity: "150", avg_cost: "190.1167" });
    const [order] = (await call("GET", "/api/execution/orders")).json().orders;
    expect(order.avg_fill_price).toBe("190.1167");
    const fills = (await call("GET", "/api/execution/fills")).json().fills;
    expect(
      fills.map((f: { fill_price: string; avg_fill_price: string }) => [
        f.fill_price,
        f.avg_fill_price,
      ]),
    ).toEqual([
      ["190.15", "190.1167"],
      ["190.1", "190.1"],
    ]);
  });

  describe("Idempotency-Key", () => {
    let baseUrl: string | undefined;
    /** A submit over a socket to the listening server, as a client sends it. */
    const post = async (body: unknown, key?: string) => {
      baseUrl ??= await app.listen({ port: 0, host: "127.0.0.1" });
      const response = await fetch(`${baseUrl}/api/execution/submit`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/json",
          ...(key === undefined ? {} : { "idempotency-key": key }),
        },
        body: JSON.stringify(body),
      });
      return {
        status: response.status,
        replayed: response.headers.get("idempotent-replayed"),
        body: (await response.json()) as Record<string, unknown>,
      };
    };
    const decisionCount = async () => (await database.db.select().from(decisions)).length;

    it("answers a retry with the same key and request with the first decision, recording nothing more", async () => {
      const key = "6f1c2d3e-0000-4000-8000-000000000001";
      const first = await post(ORDER, key);
      expect(first.status).toBe(202);
      expect(first.replayed).toBeNull();
      // The same order, its decimals written otherwise.
      const retry = await post({ ...ORDER, stop_loss: 185, target_price: "200" }, key);
      expect(retry.status).toBe(202);
      expect(retry.replayed).toBe("true");
      expect(retry.body).toEqual(first.body);
      expect(await decisionCount()).toBe(1);
      expect(await queues.execute.count()).toBe(1);
      expect(await findDecision(database.db, first.body.decision_id as number)).toMatchObject({
        idempotencyKey: key,
      });
      // Without a key, the same order is another decision, as before.
      expect((await post(ORDER)).status).toBe(202);
      expect(await decisionCount()).toBe(2);
    });

    it("refuses the same key for another order with IDEMPOTENCY_KEY_REUSED, recording nothing", async () => {
      const key = "order-2026-03-02-0001";
      const first = await post(ORDER, key);
      expect(first.status).toBe(202);
      const other = await post({ ...ORDER, quantity: 5 }, key);
      expect(other.status).toBe(422);
      expect(other.body).toMatchObject({ error: "IDEMPOTENCY_KEY_REUSED" });
      expect(other.body.message).toContain(`decision ${first.body.decision_id}`);
      expect(other.body.message).toContain("send a new key");
      expect(await decisionCount()).toBe(1);
      expect(await queues.execute.count()).toBe(1);
    });

    it("makes one decision of concurrent requests with the same key: each answers it", async () => {
      const key = "6f1c2d3e-0000-4000-8000-000000000002";
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(ORDER, key)));
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
      const ids = new Set(answers.map((a) => a.body.decision_id));
      expect(ids.size).toBe(1);
      expect(answers.filter((a) => a.replayed === null)).toHaveLength(1);
      for (const answer of answers) expect(answer.body).toEqual(answers[0]?.body);
      expect(await decisionCount()).toBe(1);
      expect(await queues.execute.count()).toBe(1);
    });

    it("queues the decision again on a retry when the first answer failed before its job was queued", async () => {
      const key = "6f1c2d3e-0000-4000-8000-000000000003";
      const first = await post(ORDER, key);
      const id = first.body.decision_id as number;
      // As if the first request died between recording the decision and queueing its job.
      await (await queues.execute.getJob(executeJobId(id)))?.remove();
      expect(await queues.execute.count()).toBe(0);
      const retry = await post(ORDER, key);
      expect(retry.body.decision_id).toBe(id);
      const jobs = await queues.execute.getJobs(["waiting", "delayed", "active"]);
      expect(jobs.map((job) => job.data)).toEqual([{ action: "NEW_TRADE", decisionId: id }]);
    });

    it("refuses a malformed key (400) and an idempotency_key body field, pointing at the header", async () => {
      for (const key of ["short", "has a space-0001", "x".repeat(129), "été-2026-0001"]) {
        const answer = await post(ORDER, key);
        expect(answer.status, key).toBe(400);
        expect(answer.body).toMatchObject({ error: "INVALID_IDEMPOTENCY_KEY" });
      }
      const inBody = await post({ ...ORDER, idempotency_key: "order-2026-03-02-0002" });
      expect(inBody.status).toBe(400);
      expect(inBody.body.message).toContain("Idempotency-Key header");
      expect(await decisionCount()).toBe(0);
      expect(await queues.execute.count()).toBe(0);
    });
  });
});
