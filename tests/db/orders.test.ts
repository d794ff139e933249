import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../db/executionLog";
import { applyFill, applyOrderUpdate } from "../../db/orderEvents";
import { insertOrder, listOpenOrders } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, enterLong, T0 } from "./fixtures";

function stopOrder(clientOrderId: string, symbol: string, quantity: string) {
  return createOrder(
    {
      clientOrderId,
      symbol,
      side: "sell",
      type: "stop",
      timeInForce: "gtc",
      orderClass: "oco",
      role: "STOP_LOSS",
      quantity: dec(quantity),
      limitPrice: null,
      stopPrice: dec("184.50"),
    },
    T0.toISOString(),
  );
}

describe.each(TEST_DRIVERS)("orders on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("records an order once per client order id", async () => {
    const accountId = await createAccount(t.db);
    const order = stopOrder("manual-stop-1", "IBM", "10");
    const first = await insertOrder(t.db, { accountId, order }, "user:1", T0);
    const again = await insertOrder(t.db, { accountId, order }, "user:1", at(1));
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.record.id).toBe(first.record.id);
    expect(again.record.order.stopPrice?.toFixed(2)).toBe("184.50");
    const created = (await readLog(t.db, { orderId: first.record.id })).filter(
      (e) => e.event === "CREATED",
    );
    expect(created).toHaveLength(1);
  });

  it("places protective exits once per entry fill, however many workers race", async () => {
    const accountId = await createAccount(t.db);
    const { entry } = await enterLong(t.db, accountId, { symbol: "ORCL", quantity: "30" });
    const filled = await applyFill(
      t.db,
      { orderId: entry.id },
      { executionId: "orcl-1", quantity: dec("30"), price: dec("150"), at: at(1), final: true },
      "stream",
      at(1),
    );
    if (!filled.ok || !filled.value.fill) throw new Error("entry fill not applied");
    const fillId = filled.value.fill.id;
    const attempts = await Promise.all(
      [1, 2, 3, 4].map((worker) =>
        insertOrder(
          t.db,
          {
            accountId,
            tradeId: entry.tradeId,
            parentOrderId: entry.id,
            protectsFillId: fillId,
            order: stopOrder(`protect-${fillId}-sl-w${worker}`, "ORCL", "30"),
          },
          `worker:${worker}`,
          at(2),
        ),
      ),
    );
    expect(attempts.filter((a) => a.created)).toHaveLength(1);
    expect(new Set(attempts.map((a) => a.record.id)).size).toBe(1);
    const stopId = attempts[0]?.record.id ?? 0;
    expect((await findPosition(t.db, accountId, "ORCL"))?.protectiveOrderIds).toEqual([stopId]);
    expect((await listOpenOrders(t.db, accountId)).map((o) => o.id)).toEqual([stopId]);

    // A cancelled stop no longer protects the position.
    const context = { source: "stream" as const, recordedAt: at(3) };
    await applyOrderUpdate(
      t.db,
      { orderId: stopId },
      { event: "new", brokerOrderId: "b-orcl-sl", at: at(3).toISOString() },
      context,
    );
    const canceled = await applyOrderUpdate(
      t.db,
      { brokerOrderId: "b-orcl-sl" },
      { event: "canceled", at: at(4).toISOString() },
      context,
    );
    expect(canceled.ok && canceled.value.record.order.status).toBe("canceled");
    expect((await findPosition(t.db, accountId, "ORCL"))?.protectiveOrderIds).toEqual([]);
    expect(await listOpenOrders(t.db, accountId)).toEqual([]);
  });
});
