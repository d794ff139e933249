import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../db/executionLog";
import { applyFill } from "../../db/orderEvents";
import { insertOrderGroup } from "../../db/orderGroups";
import { insertOrder, listOrdersForTrade, type NewOrder } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, enterLong, T0 } from "./fixtures";

/** An OCO exit group for a filled long entry: the take-profit parent and its stop leg. */
function ocoExits(
  accountId: number,
  tradeId: number,
  fillId: number,
  clientOrderId: string,
  quantity: string,
): { parent: NewOrder; stop: NewOrder } {
  const base = {
    symbol: "NFLX",
    side: "sell" as const,
    timeInForce: "gtc" as const,
    orderClass: "oco" as const,
    quantity: dec(quantity),
  };
  const common = { accountId, tradeId, protectsFillId: fillId };
  return {
    parent: {
      ...common,
      expectedPrice: dec("205.00"),
      order: createOrder(
        {
          ...base,
          clientOrderId,
          type: "limit",
          role: "TAKE_PROFIT",
          limitPrice: dec("205.00"),
          stopPrice: null,
        },
        T0.toISOString(),
      ),
    },
    stop: {
      ...common,
      expectedPrice: dec("184.50"),
      order: createOrder(
        {
          ...base,
          clientOrderId: `${clientOrderId}-sl`,
          type: "stop",
          role: "STOP_LOSS",
          limitPrice: null,
          stopPrice: dec("184.50"),
        },
        T0.toISOString(),
        "held",
      ),
    },
  };
}

describe.each(TEST_DRIVERS)("order groups on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  async function filledEntry(quantity: string) {
    const accountId = await createAccount(t.db);
    const { entry } = await enterLong(t.db, accountId, { symbol: "NFLX", quantity });
    const filled = await applyFill(
      t.db,
      { orderId: entry.id },
      { executionId: `nflx-${entry.id}`, quantity: dec(quantity), price: dec("190"), at: at(1) },
      "stream",
      at(1),
    );
    if (!filled.ok || !filled.value.fill || entry.tradeId === null) throw new Error("no fill");
    return { accountId, tradeId: entry.tradeId, fillId: filled.value.fill.id };
  }

  it("records a parent and its leg as insertOrder would, with their log and the position's ids", async () => {
    const { accountId, tradeId, fillId } = await filledEntry("30");
    const { parent, stop } = ocoExits(accountId, tradeId, fillId, "g-oco-1", "30");
    const group = await t.db.transaction((tx) =>
      insertOrderGroup(tx, parent, [stop], "job:protect", at(2)),
    );
    expect(group.parent.created).toBe(true);
    expect(group.legs.map((l) => l.created)).toEqual([true]);
    const leg = group.legs[0]?.record;
    expect(leg?.parentOrderId).toBe(group.parent.record.id);
    expect(leg?.order.status).toBe("held");
    expect(leg?.order.stopPrice?.toFixed(2)).toBe("184.50");
    expect(group.parent.record.order.limitPrice?.toFixed(2)).toBe("205.00");
    expect(group.parent.record.protectsFillId).toBe(fillId);
    // What it answers is what is stored.
    const stored = (await listOrdersForTrade(t.db, tradeId)).filter((o) =>
      o.order.clientOrderId.startsWith("g-oco-1"),
    );
    expect(stored).toEqual([group.parent.record, leg]);
    expect((await findPosition(t.db, accountId, "NFLX"))?.protectiveOrderIds).toEqual([
      group.parent.record.id,
      leg?.id,
    ]);
    for (const record of [group.parent.record, leg]) {
      const created = (await readLog(t.db, { orderId: record?.id ?? 0 })).filter(
        (e) => e.event === "CREATED",
      );
      expect(created).toHaveLength(1);
      expect(created[0]?.source).toBe("job:protect");
      expect(created[0]?.statusAfter).toBe(record?.order.status);
    }

    // The same rows as insertOrder records one at a time (ids and times aside).
    const other = await filledEntry("30");
    const single = ocoExits(other.accountId, other.tradeId, other.fillId, "g-oco-ref", "30");
    const refParent = await insertOrder(t.db, single.parent, "job:protect", at(2));
    const refStop = await insertOrder(
      t.db,
      { ...single.stop, parentOrderId: refParent.record.id },
      "job:protect",
      at(2),
    );
    const comparable = (r: typeof refParent.record) => ({
      ...r,
      id: 0,
      accountId: 0,
      tradeId: 0,
      parentOrderId: r.parentOrderId === null ? null : 0,
      protectsFillId: 0,
      order: { ...r.order, clientOrderId: r.order.clientOrderId.replace(/^g-oco-(1|ref)/, "x") },
    });
    expect(comparable(group.parent.record)).toEqual(comparable(refParent.record));
    expect(comparable(leg ?? refStop.record)).toEqual(comparable(refStop.record));
    // And the same audit entries.
    const createdEntry = async (orderId: number | undefined) => {
      const [entry] = (await readLog(t.db, { orderId: orderId ?? 0 })).filter(
        (e) => e.event === "CREATED",
      );
      const details = entry?.details ?? {};
      return {
        ...entry,
        id: 0,
        entityId: entry?.entityId === String(orderId) ? "own id" : entry?.entityId,
        orderId: entry?.orderId === orderId ? "own id" : entry?.orderId,
        accountId: 0,
        tradeId: 0,
        recordedAt: null,
        details: {
          ...details,
          clientOrderId: String(details.clientOrderId).replace(/^g-oco-(1|ref)/, "x"),
          protectsFillId: 0,
          parentOrderId: details.parentOrderId === null ? null : "parent",
        },
      };
    };
    expect(await createdEntry(group.parent.record.id)).toEqual(
      await createdEntry(refParent.record.id),
    );
    expect(await createdEntry(leg?.id)).toEqual(await createdEntry(refStop.record.id));
    const legEntry = (await readLog(t.db, { orderId: leg?.id ?? 0 })).find(
      (e) => e.event === "CREATED",
    );
    expect(legEntry?.details.parentOrderId).toBe(group.parent.record.id);
  });

  it("answers what exists, writing nothing more, when the group was recorded before", async () => {
    const { accountId, tradeId, fillId } = await filledEntry("12");
    const { parent, stop } = ocoExits(accountId, tradeId, fillId, "g-oco-2", "12");
    const first = await t.db.transaction((tx) =>
      insertOrderGroup(tx, parent, [stop], "job:protect", at(2)),
    );
    const again = await t.db.transaction((tx) =>
      insertOrderGroup(tx, parent, [stop], "job:protect", at(3)),
    );
    expect(again.parent).toEqual({ record: first.parent.record, created: false });
    expect(again.legs).toEqual([{ record: first.legs[0]?.record, created: false }]);
    // Another client order id for the same fill is the same protection (one per fill and role).
    const other = ocoExits(accountId, tradeId, fillId, "g-oco-3", "12");
    const third = await t.db.transaction((tx) =>
      insertOrderGroup(tx, other.parent, [other.stop], "job:protect", at(4)),
    );
    expect(third.parent.record.id).toBe(first.parent.record.id);
    expect(third.parent.created).toBe(false);
    expect(third.legs.map((l) => [l.record.id, l.created])).toEqual([
      [first.legs[0]?.record.id, false],
    ]);
    expect(await listOrdersForTrade(t.db, tradeId)).toHaveLength(3);
    expect((await findPosition(t.db, accountId, "NFLX"))?.protectiveOrderIds).toEqual([
      first.parent.record.id,
      first.legs[0]?.record.id,
    ]);
    const created = (await readLog(t.db, { tradeId })).filter(
      (e) => e.event === "CREATED" && e.entity === "order",
    );
    expect(created).toHaveLength(3);
  });
});
