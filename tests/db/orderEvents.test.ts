import { getTableColumns, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../db/database";
import { readLog } from "../../db/executionLog";
import { listFillsForOrder } from "../../db/fills";
import { lostRace } from "../../db/optimisticWrites";
import { applyFill, applyOrderUpdate } from "../../db/orderEvents";
import { createOrderStateCache, type OrderStateCache } from "../../db/orderStateCache";
import { findOrder, insertOrder } from "../../db/orders";
import { findPosition, markPosition } from "../../db/positions";
import { fills, orders, positions, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, enterLong } from "./fixtures";

describe.each(TEST_DRIVERS)("order events on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("follows a bracket trade from entry fills to the stop, with the audit trail", async () => {
    const accountId = await createAccount(t.db);
    const { trade, entry, legs } = await enterLong(t.db, accountId, { bracket: true });
    const [stop, target] = legs;
    if (!stop || !target) throw new Error("bracket legs missing");

    const accepted = await applyOrderUpdate(
      t.db,
      { clientOrderId: entry.order.clientOrderId },
      { event: "new", brokerOrderId: "b-entry", at: at(1).toISOString() },
      { source: "stream", recordedAt: at(1) },
    );
    expect(accepted.ok && accepted.value.record.order.status).toBe("new");
    expect(accepted.ok && accepted.value.record.submittedAt?.toISOString()).toBe(
      at(1).toISOString(),
    );

    const first = await applyFill(
      t.db,
      { brokerOrderId: "b-entry" },
      { executionId: "x-1", quantity: dec("40"), price: dec("190.05"), at: at(2) },
      "stream",
      at(2),
    );
    if (!first.ok) throw new Error(first.message);
    expect(first.value.record.order.status).toBe("partially_filled");
    expect(first.value.position?.position.quantity.toFixed()).toBe("40");
    expect(first.value.position?.protectiveOrderIds).toEqual([stop.id, target.id]);
    expect(first.value.trade?.trade.status).toBe("POSITION");

    const second = await applyFill(
      t.db,
      { clientOrderId: entry.order.clientOrderId },
      {
        executionId: "x-2",
        quantity: dec("60"),
        price: dec("190.15"),
        at: at(3),
        commission: dec("1.00"),
        final: true,
      },
      "stream",
      at(3),
    );
    if (!second.ok) throw new Error(second.message);
    const filledEntry = second.value.record;
    expect(filledEntry.order.status).toBe("filled");
    expect(filledEntry.order.averageFillPrice?.toFixed()).toBe("190.11");
    expect(filledEntry.actualSlippage?.toFixed()).toBe("0.01");
    expect(filledEntry.filledAt?.toISOString()).toBe(at(3).toISOString());
    expect(second.value.position?.averageCost.toFixed()).toBe("190.11");

    const marked = await markPosition(t.db, accountId, "AAPL", dec("191.11"), at(4));
    expect(marked?.unrealizedPnl?.toFixed()).toBe("100");

    await applyOrderUpdate(
      t.db,
      { orderId: stop.id },
      { event: "new", brokerOrderId: "b-stop", at: at(3).toISOString() },
      { source: "stream", recordedAt: at(3) },
    );
    const stopped = await applyFill(
      t.db,
      { brokerOrderId: "b-stop" },
      { executionId: "x-3", quantity: dec("100"), price: dec("184.40"), at: at(5), final: true },
      "stream",
      at(5),
    );
    if (!stopped.ok) throw new Error(stopped.message);
    expect(stopped.value.positionClosed).toBe(true);
    expect(await findPosition(t.db, accountId, "AAPL")).toBeNull();
    const closed = await findTrade(t.db, trade.id);
    expect(closed?.trade.status).toBe("CLOSED");
    expect(closed?.trade.exitReason).toBe("STOPPED_OUT");
    // (184.40 - 190.11) x 100 - 1.00 commission
    expect(closed?.trade.realizedPnl.toFixed()).toBe("-572");
    expect(closed?.trade.rMultiple?.toFixed(4)).toBe("-1.0214");
    expect(closed?.trade.closedAt).toBe(at(5).toISOString());

    const story = await readLog(t.db, { tradeId: trade.id });
    expect(story.map((e) => `${e.entity}:${e.event}`)).toEqual([
      "trade:CREATED",
      "order:CREATED",
      "order:CREATED",
      "order:CREATED",
      "order:NEW",
      "order:PARTIAL_FILL",
      "position:OPENED",
      "trade:OPENED",
      "order:FILL",
      "position:INCREASED",
      "trade:FILL_APPLIED",
      "order:NEW",
      "order:FILL",
      "position:CLOSED",
      "trade:CLOSED",
    ]);
    const stopLog = story
      .filter((e) => e.entity === "order" && e.orderId === stop.id)
      .map((e) => e.statusAfter);
    expect(stopLog).toEqual(["held", "new", "filled"]);
  });

  it("applies the same fill once however many workers race to apply it", async () => {
    const accountId = await createAccount(t.db);
    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "MSFT", quantity: "50" });
    const attempts = 12;
    const outcomes = await Promise.all(
      Array.from({ length: attempts }, () =>
        applyFill(
          t.db,
          { orderId: entry.id },
          {
            executionId: "race-1",
            quantity: dec("20"),
            price: dec("400.25"),
            at: at(10),
            brokerOrderId: "b-race",
          },
          "stream",
          at(10),
        ),
      ),
    );
    const changed = outcomes.filter((o) => o.ok && o.value.changed);
    expect(changed).toHaveLength(1);
    expect(
      outcomes.filter((o) => o.ok && !o.value.changed && o.value.note === "DUPLICATE_EXECUTION"),
    ).toHaveLength(attempts - 1);
    expect(await listFillsForOrder(t.db, entry.id)).toHaveLength(1);
    const order = await findOrder(t.db, entry.id);
    expect(order?.order.filledQuantity.toFixed()).toBe("20");
    expect((await findPosition(t.db, accountId, "MSFT"))?.position.quantity.toFixed()).toBe("20");
    expect((await findTrade(t.db, trade.id))?.trade.entryQuantity.toFixed()).toBe("20");
    const fillsLogged = await readLog(t.db, { orderId: entry.id });
    expect(fillsLogged.filter((e) => e.event === "PARTIAL_FILL")).toHaveLength(1);
  });

  it("keeps every digit of prices and quantities through the read of order, position and trade", async () => {
    const accountId = await createAccount(t.db);
    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "AMD", quantity: "3" });
    // Beyond what a float holds: a read through JavaScript numbers would round these.
    const fills = [
      {
        executionId: "exact-1",
        quantity: dec("1.000000001"),
        price: dec("123.456789012345678901"),
      },
      {
        executionId: "exact-2",
        quantity: dec("0.999999999"),
        price: dec("123.456789012345678903"),
      },
    ];
    for (const [i, fill] of fills.entries()) {
      const applied = await applyFill(
        t.db,
        { orderId: entry.id },
        { ...fill, at: at(20 + i) },
        "stream",
        at(20 + i),
      );
      if (!applied.ok || !applied.value.changed) throw new Error("fill not applied");
    }
    const notional = fills.reduce((sum, f) => sum.plus(f.quantity.times(f.price)), dec(0));
    const order = await findOrder(t.db, entry.id);
    expect(order?.order.filledQuantity.toFixed()).toBe("2");
    expect(order?.order.filledNotional.toFixed()).toBe(notional.toFixed());
    const position = await findPosition(t.db, accountId, "AMD");
    expect(position?.position.costBasis.toFixed()).toBe(notional.toFixed());
    expect((await findTrade(t.db, trade.id))?.trade.entryNotional.toFixed()).toBe(
      notional.toFixed(),
    );
  });

  it("refuses an execution already stored for another order, writing nothing", async () => {
    const accountId = await createAccount(t.db);
    const first = await enterLong(t.db, accountId, { symbol: "INTC", quantity: "10" });
    const second = await enterLong(t.db, accountId, { symbol: "INTC", quantity: "10" });
    const fill = { executionId: "shared-1", quantity: dec("4"), price: dec("30.5"), at: at(30) };
    const applied = await applyFill(t.db, { orderId: first.entry.id }, fill, "stream", at(30));
    expect(applied.ok && applied.value.changed).toBe(true);
    const logged = (await readLog(t.db, { accountId })).length;

    // The unique execution id refuses it (a lost race, once retried, that stays lost).
    const refused: unknown = await applyFill(
      t.db,
      { orderId: second.entry.id },
      fill,
      "stream",
      at(31),
    ).catch((error: unknown) => error);
    expect(lostRace(refused)).toBe("retry-once");
    expect((await findOrder(t.db, second.entry.id))?.order.filledQuantity.toFixed()).toBe("0");
    expect((await findPosition(t.db, accountId, "INTC"))?.position.quantity.toFixed()).toBe("4");
    expect((await findTrade(t.db, second.trade.id))?.trade.entryQuantity.toFixed()).toBe("0");
    expect(await readLog(t.db, { accountId })).toHaveLength(logged);
  });

  it("has apply_order_writes write every column of the rows it updates and inserts", async () => {
    // Its statements list the columns: a column added to the schema needs a new version of it.
    const [source] = await queryRows<{ body: string }>(
      t.db,
      sql`select prosrc as body from pg_proc where proname = 'apply_order_writes'`,
    );
    const listed = new Map<string, string[]>();
    const statements = /(?:UPDATE (\w+) \w+ SET|INSERT INTO (\w+)(?: AS \w+)?) \(([^)]*)\)/g;
    for (const [, updated, inserted, columns] of source?.body.matchAll(statements) ?? []) {
      const table = `${updated ? "update" : "insert"} ${updated ?? inserted}`;
      listed.set(
        table,
        (columns ?? "")
          .split(",")
          .map((c) => c.trim())
          .sort(),
      );
    }
    const schemaColumns = (table: PgTable) =>
      Object.values(getTableColumns(table))
        .map((c) => c.name)
        .filter((name) => name !== "id")
        .sort();
    expect(listed.get("update orders")).toEqual(schemaColumns(orders));
    expect(listed.get("update positions")).toEqual(schemaColumns(positions));
    expect(listed.get("update trades")).toEqual(schemaColumns(trades));
    expect(listed.get("insert positions")).toEqual(schemaColumns(positions));
    expect(listed.get("insert fills")).toEqual(schemaColumns(fills));
  });

  it("applies different fills of one symbol from concurrent workers without losing any", async () => {
    const accountId = await createAccount(t.db);
    const first = await enterLong(t.db, accountId, { symbol: "NVDA", quantity: "30" });
    const second = await enterLong(t.db, accountId, { symbol: "NVDA", quantity: "30" });
    const jobs = [first.entry, second.entry].flatMap((e) =>
      [1, 2, 3].map((n) =>
        applyFill(
          t.db,
          { orderId: e.id },
          {
            executionId: `nvda-${e.id}-${n}`,
            quantity: dec("10"),
            price: dec("120.5"),
            at: at(20 + n),
          },
          "stream",
          at(20 + n),
        ),
      ),
    );
    const outcomes = await Promise.all(jobs);
    expect(outcomes.every((o) => o.ok && o.value.changed)).toBe(true);
    const position = await findPosition(t.db, accountId, "NVDA");
    expect(position?.position.quantity.toFixed()).toBe("60");
    expect(position?.position.costBasis.toFixed()).toBe("7230");
  });

  it("records a refused event and flags it without changing the order", async () => {
    const accountId = await createAccount(t.db);
    const { entry } = await enterLong(t.db, accountId, { symbol: "AMD", quantity: "10" });
    const overfill = await applyFill(
      t.db,
      { orderId: entry.id },
      { executionId: "amd-1", quantity: dec("11"), price: dec("150"), at: at(30) },
      "poll",
      at(30),
    );
    expect(overfill.ok).toBe(false);
    expect(!overfill.ok && overfill.code).toBe("OVERFILL");
    const order = await findOrder(t.db, entry.id);
    expect(order?.order.filledQuantity.isZero()).toBe(true);
    expect(await listFillsForOrder(t.db, entry.id)).toHaveLength(0);
    const flagged = (await readLog(t.db, { orderId: entry.id })).filter(
      (e) => e.event === "EVENT_REFUSED",
    );
    expect(flagged).toHaveLength(1);
    expect(flagged[0]?.details.code).toBe("OVERFILL");

    const unknown = await applyFill(
      t.db,
      { brokerOrderId: "nobody" },
      { executionId: "amd-2", quantity: dec("1"), price: dec("150"), at: at(31) },
      "poll",
      at(31),
    );
    expect(!unknown.ok && unknown.code).toBe("UNKNOWN_ORDER");
  });

  it("cancels the trade when its entry ends without a fill, and reopens it on a late fill", async () => {
    const accountId = await createAccount(t.db);
    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "TSLA", quantity: "5" });
    const context = { source: "stream" as const, recordedAt: at(40) };
    await applyOrderUpdate(
      t.db,
      { orderId: entry.id },
      { event: "new", brokerOrderId: "b-tsla", at: at(40).toISOString() },
      context,
    );
    const canceled = await applyOrderUpdate(
      t.db,
      { orderId: entry.id },
      { event: "canceled", at: at(41).toISOString() },
      context,
    );
    expect(canceled.ok && canceled.value.trade?.trade.status).toBe("CANCELLED");
    expect(canceled.ok && canceled.value.record.canceledAt?.toISOString()).toBe(
      at(41).toISOString(),
    );
    const repeated = await applyOrderUpdate(
      t.db,
      { orderId: entry.id },
      { event: "canceled", at: at(42).toISOString() },
      context,
    );
    expect(repeated.ok && repeated.value.changed).toBe(false);

    const late = await applyFill(
      t.db,
      { orderId: entry.id },
      { executionId: "tsla-late", quantity: dec("5"), price: dec("250"), at: at(43), final: true },
      "poll",
      at(43),
    );
    expect(late.ok && late.value.note).toBe("LATE_FILL");
    expect((await findTrade(t.db, trade.id))?.trade.status).toBe("POSITION");
    expect((await findPosition(t.db, accountId, "TSLA"))?.position.quantity.toFixed()).toBe("5");
  });

  it("serves repeated events from a worker's cache and still sees other workers' changes", async () => {
    const accountId = await createAccount(t.db);
    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "INTC", quantity: "100" });
    const one = createOrderStateCache();
    const two = createOrderStateCache();
    const fill = (cache: OrderStateCache, n: number) =>
      applyOrderUpdate(
        t.db,
        { orderId: entry.id },
        {
          event: "partial_fill",
          executionId: `intc-${n}`,
          quantity: dec("10"),
          price: dec(`${20 + n}`),
          at: at(n).toISOString(),
        },
        { source: "stream", recordedAt: at(n), cache },
      );
    // Worker one fills twice from its cache; worker two (stale) and a mark change the rows between.
    expect((await fill(one, 1)).ok).toBe(true);
    expect((await fill(one, 2)).ok).toBe(true);
    expect((await fill(two, 3)).ok).toBe(true);
    await markPosition(t.db, accountId, "INTC", dec("25"), at(4));
    // Inside a caller's transaction: the stale first attempt is undone by its savepoint.
    const fourth = await t.db.transaction(async (tx) =>
      applyOrderUpdate(
        tx,
        { orderId: entry.id },
        {
          event: "partial_fill",
          executionId: "intc-4",
          quantity: dec("10"),
          price: dec("24"),
          at: at(4).toISOString(),
        },
        { source: "stream", recordedAt: at(4), cache: one },
      ),
    );
    expect(fourth.ok && fourth.value.position?.position.quantity.toFixed()).toBe("40");
    expect(fourth.ok && fourth.value.position?.markPrice?.toFixed()).toBe("25");
    // A duplicate is recognised from the cache, a stale one from the database.
    const again = await fill(one, 4);
    expect(again.ok && again.value.note).toBe("DUPLICATE_EXECUTION");
    const staleDuplicate = await fill(two, 4);
    expect(staleDuplicate.ok && staleDuplicate.value.note).toBe("DUPLICATE_EXECUTION");

    expect(await listFillsForOrder(t.db, entry.id)).toHaveLength(4);
    const order = await findOrder(t.db, entry.id);
    expect(order?.order.filledQuantity.toFixed()).toBe("40");
    // (21 + 22 + 23 + 24) x 10
    expect(order?.order.filledNotional.toFixed()).toBe("900");
    const position = await findPosition(t.db, accountId, "INTC");
    expect(position?.position.costBasis.toFixed()).toBe("900");
    expect(position?.unrealizedPnl?.toFixed()).toBe("100");
    expect((await findTrade(t.db, trade.id))?.trade.entryQuantity.toFixed()).toBe("40");
  });

  it("keeps denials, replacements and the reason of a flattening exit", async () => {
    const accountId = await createAccount(t.db);
    const denied = await enterLong(t.db, accountId, { symbol: "SNAP", quantity: "10" });
    const context = { source: "local" as const, recordedAt: at(60) };
    const refusal = await applyOrderUpdate(
      t.db,
      { orderId: denied.entry.id },
      { event: "denied", reason: "MAX_POSITION_SIZE", at: at(60).toISOString() },
      context,
    );
    const deniedOrder = await findOrder(t.db, denied.entry.id);
    expect(refusal.ok && refusal.value.trade?.trade.status).toBe("CANCELLED");
    expect(deniedOrder?.order.status).toBe("rejected");
    expect(deniedOrder?.order.rejection).toEqual({ source: "risk", reason: "MAX_POSITION_SIZE" });
    expect(deniedOrder?.rejectedAt?.toISOString()).toBe(at(60).toISOString());

    const { entry, trade } = await enterLong(t.db, accountId, { symbol: "UBER", quantity: "10" });
    const stream = { source: "stream" as const, recordedAt: at(61) };
    await applyFill(
      t.db,
      { orderId: entry.id },
      { executionId: "uber-1", quantity: dec("10"), price: dec("70"), at: at(61), final: true },
      "stream",
      at(61),
    );
    const replaced = await applyOrderUpdate(
      t.db,
      { orderId: entry.id },
      { event: "replaced", replacedByOrderId: "b-uber-2", at: at(62).toISOString() },
      stream,
    );
    // A filled order is final: the replacement is refused and flagged, the order kept.
    expect(!replaced.ok && replaced.code).toBe("ILLEGAL_TRANSITION");

    const flatten = await insertOrder(
      t.db,
      {
        accountId,
        tradeId: trade.id,
        exitReason: "FLATTENED",
        order: createOrder(
          {
            clientOrderId: `flatten-${trade.id}`,
            symbol: "UBER",
            side: "sell",
            type: "market",
            timeInForce: "day",
            orderClass: "simple",
            role: "EXIT",
            quantity: dec("10"),
            limitPrice: null,
            stopPrice: null,
          },
          at(63).toISOString(),
        ),
      },
      "user:7",
      at(63),
    );
    await applyOrderUpdate(
      t.db,
      { orderId: flatten.record.id },
      { event: "new", brokerOrderId: "b-uber-flat", at: at(63).toISOString() },
      stream,
    );
    const pending = await applyOrderUpdate(
      t.db,
      { brokerOrderId: "b-uber-flat" },
      { event: "pending_replace", at: at(64).toISOString() },
      stream,
    );
    expect(pending.ok && pending.value.record.order.statusBeforePending).toBe("new");
    const swapped = await applyOrderUpdate(
      t.db,
      { brokerOrderId: "b-uber-flat" },
      { event: "replaced", replacedByOrderId: "b-uber-flat-2", at: at(65).toISOString() },
      stream,
    );
    expect(swapped.ok && swapped.value.record.order.replacedByOrderId).toBe("b-uber-flat-2");
    expect((await findOrder(t.db, flatten.record.id))?.order.replacedByOrderId).toBe(
      "b-uber-flat-2",
    );

    const replacement = await insertOrder(
      t.db,
      {
        accountId,
        tradeId: trade.id,
        exitReason: "FLATTENED",
        replacesOrderId: flatten.record.id,
        order: {
          ...createOrder(
            {
              clientOrderId: `flatten-${trade.id}-2`,
              symbol: "UBER",
              side: "sell",
              type: "market",
              timeInForce: "day",
              orderClass: "simple",
              role: "EXIT",
              quantity: dec("10"),
              limitPrice: null,
              stopPrice: null,
            },
            at(65).toISOString(),
          ),
          brokerOrderId: "b-uber-flat-2",
          status: "new",
        },
      },
      "stream",
      at(65),
    );
    const closed = await applyFill(
      t.db,
      { brokerOrderId: "b-uber-flat-2" },
      { executionId: "uber-2", quantity: dec("10"), price: dec("69"), at: at(66), final: true },
      "stream",
      at(66),
    );
    expect(closed.ok && closed.value.trade?.trade.exitReason).toBe("FLATTENED");
    expect(closed.ok && closed.value.trade?.trade.realizedPnl.toFixed()).toBe("-10");
    expect(replacement.record.replacesOrderId).toBe(flatten.record.id);
  });
});
