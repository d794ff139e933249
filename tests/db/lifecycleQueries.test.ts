import { eq, sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  listEntriesSince,
  listEntryTimesSince,
  listOpenEntryOrders,
  lockName,
  lockReportedOrders,
  sumWorkingEntries,
} from "../../db/lifecycleQueries";
import { cachedSnapshot } from "../../db/orderStateCache";
import { listOpenOrders } from "../../db/orders";
import { orders } from "../../db/schema";
import { dec } from "../../domain/money";
import {
  createTestDatabase,
  openRowsReadCounter,
  TEST_DRIVERS,
  type TestDatabase,
} from "../support/database";
import { createAccount, enterLong, insertEndedOrderHistory } from "./fixtures";

describe.each(TEST_DRIVERS)("the orders of an order report on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("are the order, its legs, its trade's other orders and the rows its reported legs name", async () => {
    const accountId = await createAccount(t.db);
    const { entry, legs, trade } = await enterLong(t.db, accountId, {
      symbol: "AMD",
      bracket: true,
    });
    const other = await enterLong(t.db, accountId, { symbol: "AMD" });
    const [stop] = legs;
    if (!stop) throw new Error("no leg");
    await t.db.update(orders).set({ brokerOrderId: "b-entry" }).where(eq(orders.id, entry.id));
    await t.db.update(orders).set({ brokerOrderId: "b-stop" }).where(eq(orders.id, stop.id));

    const byBrokerId = await t.db.transaction((tx) =>
      lockReportedOrders(tx, "test:amd", { brokerOrderId: "b-entry", clientOrderId: "" }, [
        { brokerOrderId: "b-stop", clientOrderId: "not-ours" },
        { brokerOrderId: "b-unknown", clientOrderId: other.entry.order.clientOrderId },
      ]),
    );
    expect(byBrokerId.order?.id).toBe(entry.id);
    expect(byBrokerId.children.map((c) => c.id)).toEqual(legs.map((l) => l.id));
    expect(byBrokerId.tradeOrders.map((o) => o.id)).toEqual([entry.id, ...legs.map((l) => l.id)]);
    expect(byBrokerId.tradeOrders.every((o) => o.tradeId === trade.id)).toBe(true);
    expect(byBrokerId.leg({ brokerOrderId: "b-stop", clientOrderId: "x" })?.id).toBe(stop.id);
    // With their versions, for the report's events to start from: the order, its trade, no position.
    const snapshot = cachedSnapshot(byBrokerId.cache, { orderId: entry.id });
    expect(snapshot?.order.row.brokerOrderId).toBe("b-entry");
    expect(snapshot?.order.version).toMatch(/^\d+$/);
    expect(snapshot?.trade?.row.id).toBe(trade.id);
    expect(snapshot?.position).toBeNull();
    expect(cachedSnapshot(byBrokerId.cache, { orderId: stop.id })?.trade?.row.id).toBe(trade.id);
    // A leg the broker names by a client order id of ours, elsewhere in the books.
    expect(
      byBrokerId.leg({ brokerOrderId: "b-unknown", clientOrderId: other.entry.order.clientOrderId })
        ?.id,
    ).toBe(other.entry.id);

    // By client order id when the broker id is not stored yet; nothing for an unknown order.
    const byClientId = await t.db.transaction((tx) =>
      lockReportedOrders(
        tx,
        "test:amd",
        { brokerOrderId: "b-new", clientOrderId: other.entry.order.clientOrderId },
        [],
      ),
    );
    expect(byClientId.order?.id).toBe(other.entry.id);
    expect(byClientId.children).toEqual([]);
    const unknown = await t.db.transaction((tx) =>
      lockReportedOrders(tx, "test:amd", { brokerOrderId: "b-none", clientOrderId: "" }, []),
    );
    expect(unknown.order).toBeNull();
    expect(unknown.tradeOrders).toEqual([]);
  });
});

describe.each(TEST_DRIVERS)("an account's working entries on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("sum per symbol and side at the limit, else the trade's planned entry; unpriced apart", async () => {
    const accountId = await createAccount(t.db);
    await enterLong(t.db, accountId, { symbol: "AAPL", entry: "190.10", bracket: true });
    // Market entries: one partly filled, with its trade's planned entry of $400; one without a
    // trade, which the books cannot price.
    const market = { type: "market" as const, limitPrice: null };
    const msft = await enterLong(t.db, accountId, {
      symbol: "MSFT",
      entry: "400.00",
      stop: "390.00",
      target: "420.00",
    });
    await t.db
      .update(orders)
      .set({ ...market, filledQuantity: dec("40") })
      .where(eq(orders.id, msft.entry.id));
    const nvda = await enterLong(t.db, accountId, { symbol: "NVDA" });
    await t.db
      .update(orders)
      .set({ ...market, tradeId: null })
      .where(eq(orders.id, nvda.entry.id));
    const amd = await enterLong(t.db, accountId, {
      symbol: "AMD",
      entry: "150.00",
      stop: "145.00",
      target: "160.00",
    });
    await t.db.update(orders).set({ status: "filled" }).where(eq(orders.id, amd.entry.id));

    const totals = await sumWorkingEntries(t.db, accountId);
    expect(
      totals
        .map((w) => [w.symbol, w.side, w.remainingQuantity.toString(), w.notional?.toString()])
        .sort(),
    ).toEqual([
      ["AAPL", "buy", "100", "19010"],
      ["MSFT", "buy", "60", "24000"],
      ["NVDA", "buy", "100", undefined],
    ]);
  });
});

describe("the orders of an order report, under the lock", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("are read once the lock is granted: what its previous holder committed is seen", async () => {
    const accountId = await createAccount(t.db);
    const { entry } = await enterLong(t.db, accountId, { symbol: "NVDA" });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = () => {};
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = t.db.transaction(async (tx) => {
      await lockName(tx, "test:nvda");
      locked();
      await held;
      await tx.update(orders).set({ brokerOrderId: "b-held" }).where(eq(orders.id, entry.id));
    });
    await lockTaken;
    // Each waiter on a connection of its own: a fresh connection describes every statement first.
    const waiters = Array.from({ length: 4 }, () =>
      t.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        return lockReportedOrders(
          tx,
          "test:nvda",
          { brokerOrderId: "b-held", clientOrderId: entry.order.clientOrderId },
          [],
        );
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await holder;
    for (const seen of await Promise.all(waiters)) {
      expect(seen.order?.order.brokerOrderId).toBe("b-held");
    }
  });

  it("are found through indexes, not by reading every order ever recorded", async () => {
    const accountId = await createAccount(t.db);
    const { entry, legs } = await enterLong(t.db, accountId, { symbol: "AMZN", bracket: true });
    const [stop] = legs;
    const url = t.url;
    if (!stop || !url) throw new Error("no leg, or no URL");
    // The plans of the statements inside the function, sent to this session (auto_explain). With
    // sequential scans discouraged, a scan of the table is left only where no index can serve.
    const plans: string[] = [];
    const session = postgres(url, {
      max: 1,
      onnotice: (notice) => plans.push(String(notice.message)),
    });
    try {
      await session`load 'auto_explain'`;
      await session`set auto_explain.log_min_duration = 0`;
      await session`set auto_explain.log_nested_statements = on`;
      await session`set client_min_messages = log`;
      await session`set enable_seqscan = off`;
      await session.begin(
        (tx) =>
          tx`select report_after_lock('test:amzn', 'b-none', ${entry.order.clientOrderId},
              ${tx.json(["b-leg"])}, ${tx.json([stop.order.clientOrderId])})`,
      );
    } finally {
      await session.end();
    }
    const read = plans.find((plan) => plan.includes("FROM orders x"));
    expect(read).toMatch(/Index Scan/);
    expect(read).not.toMatch(/Seq Scan on orders/);
  });
});

describe("an account's order history", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("does not weigh on a decision's checks or the working orders: a handful of rows of 3,000 read", async () => {
    const accountId = await createAccount(t.db);
    await enterLong(t.db, accountId, { symbol: "META" });
    await insertEndedOrderHistory(t.db, accountId, 3000);
    const counter = await openRowsReadCounter(t, "orders");
    try {
      const before = await counter.read();
      const since = new Date(Date.now() - 60_000);
      expect(await sumWorkingEntries(counter.db, accountId)).toHaveLength(1);
      await listEntryTimesSince(counter.db, accountId, since, "META");
      await listEntriesSince(counter.db, accountId, "META", since);
      // The working orders as /orders and the plan card list them.
      expect(await listOpenEntryOrders(counter.db, accountId)).toHaveLength(1);
      expect((await listOpenOrders(counter.db, accountId)).length).toBeGreaterThan(0);
      expect((await counter.read()) - before).toBeLessThan(50);
    } finally {
      await counter.close();
    }
  });
});
