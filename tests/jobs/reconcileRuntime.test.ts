/**
 * Reconciliation inside a worker runtime, as a deployment runs it: the runtime reconciles each
 * account when it starts, so a position opened at the broker while the desk was down is adopted
 * and protected by the runtime's own protect workers, and the trader hears about it through the
 * notify worker.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { dec } from "../../domain/money";
import { createDailyProcessor } from "../../jobs/daily";
import { createNotifyProcessor, type NoticeMessage, type NoticeSender } from "../../jobs/notify";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createQueues } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createValueProcessor } from "../../jobs/value";
import { createWorkerRuntime, type WorkerRuntime } from "../../jobs/worker";
import { TEST_REDIS_URL } from "../support/redis";
import { type Lifecycle, OWNER_CHAT, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

/** Records what it is given and accepts everything (the Telegram side is the bot's). */
class RecordingSender implements NoticeSender {
  readonly sent: NoticeMessage[] = [];
  async send(message: NoticeMessage) {
    this.sent.push(message);
    return { ok: true as const, telegramMessageId: this.sent.length };
  }
}

let t: Lifecycle;
let runtime: WorkerRuntime | null = null;
let connection: Redis | null = null;

beforeAll(async () => {
  t = await openLifecycle("reconcile-runtime");
});
afterAll(async () => {
  await runtime?.stop();
  await connection?.quit();
  await t?.close();
});

describe("reconciliation in the worker runtime", () => {
  it("adopts and protects at start a position opened while the desk was down, and tells the trader", async () => {
    const symbol = TEST_SYMBOLS[33] ?? "T33";
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "bought-while-down",
      symbol,
      side: "buy",
      qty: dec("15"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 5_000, "broker position");

    const sender = new RecordingSender();
    const handler = createOrderReportHandler(t.deps);
    connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    runtime = await createWorkerRuntime({
      deps: t.deps,
      connection,
      prefix: t.prefix,
      queues: createQueues({ connection: t.redis.connect(), prefix: t.prefix }),
      accountIds: [t.accountId],
      streams: false,
      schedules: false,
      processors: {
        reconcile: createReconcileProcessor(t.deps, { handler }),
        value: createValueProcessor(t.deps),
        daily: createDailyProcessor(t.deps),
        notify: createNotifyProcessor({
          db: t.db.db,
          sender,
          now: t.deps.now,
          logger: t.deps.logger,
        }),
      },
    });

    const position = await waitFor(
      () => findPosition(t.db.db, t.accountId, symbol),
      15_000,
      "adopted position",
    );
    expect(position.position.quantity.toFixed()).toBe("15");
    const tradeId = position.tradeId;
    if (tradeId === null) throw new Error("adopted position without a trade");
    const stop = await waitFor(
      async () =>
        (await listOrdersForTrade(t.db.db, tradeId)).find(
          (o) => o.order.role === "STOP_LOSS" && o.order.brokerOrderId !== null,
        ),
      15_000,
      "protective stop at the broker",
    );
    expect(stop.order.quantity.toFixed()).toBe("15");
    expect(stop.order.stopPrice?.toFixed()).toBe("95");
    const atBroker = await t.broker.getOrder(stop.order.brokerOrderId ?? "");
    expect(atBroker.ok && atBroker.value.status).not.toBe("canceled");

    const told = await waitFor(
      async () =>
        sender.sent.find(
          (m) => m.kind === "RECONCILIATION_INCIDENT" && m.payload.incident === "POSITION_ADOPTED",
        ),
      15_000,
      "adoption notice delivered",
    );
    expect(told.chatId).toBe(OWNER_CHAT);
    expect(told.payload).toMatchObject({ accountId: t.accountId, symbol });
  });
});
