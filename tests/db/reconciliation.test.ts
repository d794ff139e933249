import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersToReconcile } from "../../db/reconciliation";
import { orders } from "../../db/schema";
import { createTestDatabase, openRowsReadCounter, type TestDatabase } from "../support/database";
import { createAccount, enterLong, insertEndedOrderHistory } from "./fixtures";

const HOUR_MS = 3_600_000;

describe("the orders reconciliation compares", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("are the working ones and those changed since, read without walking the account's history", async () => {
    const accountId = await createAccount(t.db);
    const working = await enterLong(t.db, accountId, { symbol: "META" });
    const ended = await enterLong(t.db, accountId, { symbol: "AMD" });
    const old = await enterLong(t.db, accountId, { symbol: "INTC" });
    const now = Date.now();
    await t.db
      .update(orders)
      .set({ status: "canceled", updatedAt: new Date(now - HOUR_MS) })
      .where(eq(orders.id, ended.entry.id));
    await t.db
      .update(orders)
      .set({ status: "canceled", updatedAt: new Date(now - 48 * HOUR_MS) })
      .where(eq(orders.id, old.entry.id));
    // 3,000 filled orders last changed two days ago: nothing reconciliation looks at.
    await insertEndedOrderHistory(t.db, accountId, 3000, 48 * 60);
    const other = await createAccount(t.db);
    await enterLong(t.db, other, { symbol: "META" });

    const counter = await openRowsReadCounter(t, "orders");
    try {
      const before = await counter.read();
      const found = await listOrdersToReconcile(
        counter.db,
        accountId,
        new Date(now - 24 * HOUR_MS),
      );
      expect((await counter.read()) - before).toBeLessThan(50);
      expect(found.map((o) => o.id)).toEqual([working.entry.id, ended.entry.id]);
    } finally {
      await counter.close();
    }
  });
});
