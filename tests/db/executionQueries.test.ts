import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  listAccountFills,
  listAccountLogEvents,
  listOrdersWithFills,
} from "../../db/executionQueries";
import { applyFill } from "../../db/orderEvents";
import { insertOrder } from "../../db/orders";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, enterLong } from "./fixtures";

/** A standalone limit buy created `seconds` after T0. */
async function placeBuy(
  t: TestDatabase,
  accountId: number,
  id: string,
  symbol: string,
  seconds: number,
) {
  const order = createOrder(
    {
      clientOrderId: id,
      symbol,
      side: "buy",
      type: "limit",
      timeInForce: "day",
      orderClass: "simple",
      role: "ENTRY",
      quantity: dec("10"),
      limitPrice: dec("50"),
      stopPrice: null,
    },
    at(seconds).toISOString(),
  );
  return (await insertOrder(t.db, { accountId, order }, "api", at(seconds))).record;
}

async function fill(
  t: TestDatabase,
  orderId: number,
  executionId: string,
  quantity: string,
  seconds: number,
  final = false,
) {
  const applied = await applyFill(
    t.db,
    { orderId },
    { executionId, quantity: dec(quantity), price: dec("190.10"), at: at(seconds), final },
    "stream",
    at(seconds),
  );
  if (!applied.ok) throw new Error(`fill ${executionId} not applied: ${applied.code}`);
}

describe.each(TEST_DRIVERS)("execution queries on %s", (driver) => {
  let t: TestDatabase;
  let accountId: number;
  let otherAccountId: number;
  let entryId: number;
  let ibmId: number;
  let msftId: number;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
    accountId = await createAccount(t.db);
    otherAccountId = await createAccount(t.db);
    const { entry } = await enterLong(t.db, accountId, { symbol: "AAPL", quantity: "100" });
    entryId = entry.id;
    await fill(t, entryId, "aapl-2", "60", 20);
    await fill(t, entryId, "aapl-1", "40", 10, true);
    ibmId = (await placeBuy(t, accountId, "ibm-1", "IBM", 30)).id;
    msftId = (await placeBuy(t, accountId, "msft-1", "MSFT", 60)).id;
    const foreign = await enterLong(t.db, otherAccountId, { symbol: "AAPL", quantity: "5" });
    await fill(t, foreign.entry.id, "other-1", "5", 15, true);
  });
  afterAll(async () => {
    await t.close();
  });

  it("lists an account's orders newest first, each with its fills in the order applied", async () => {
    const rows = await listOrdersWithFills(t.db, accountId, { limit: 10 });
    expect(rows.map((row) => row.order.id)).toEqual([msftId, ibmId, entryId]);
    const aapl = rows[2];
    expect(aapl?.order.status).toBe("filled");
    expect(aapl?.fills.map((f) => f.executionId)).toEqual(["aapl-2", "aapl-1"]);
    expect(aapl?.fills.map((f) => f.quantity.toString())).toEqual(["60", "40"]);
    expect(rows[0]?.fills).toEqual([]);
  });

  it("filters orders by status, symbol and creation time, and pages below an id", async () => {
    const ids = async (filter: Parameters<typeof listOrdersWithFills>[2]) =>
      (await listOrdersWithFills(t.db, accountId, filter)).map((row) => row.order.id);
    expect(await ids({ limit: 10, statuses: ["filled"] })).toEqual([entryId]);
    expect(await ids({ limit: 10, statuses: ["pending_new", "new"] })).toEqual([msftId, ibmId]);
    expect(await ids({ limit: 10, symbol: "IBM" })).toEqual([ibmId]);
    expect(await ids({ limit: 10, from: at(30), to: at(59) })).toEqual([ibmId]);
    expect(await ids({ limit: 2 })).toEqual([msftId, ibmId]);
    expect(await ids({ limit: 2, beforeId: ibmId })).toEqual([entryId]);
    expect(await listOrdersWithFills(t.db, accountId, { limit: 10, symbol: "NONE" })).toEqual([]);
  });

  it("lists an account's fills newest first, filtered by symbol and time, paged", async () => {
    const fills = await listAccountFills(t.db, accountId, { limit: 10 });
    expect(fills.map((f) => f.executionId)).toEqual(["aapl-1", "aapl-2"]);
    expect(fills.every((f) => f.accountId === accountId)).toBe(true);
    const first = fills[0];
    expect(
      (await listAccountFills(t.db, accountId, { limit: 10, beforeId: first?.id })).map(
        (f) => f.executionId,
      ),
    ).toEqual(["aapl-2"]);
    expect(
      (await listAccountFills(t.db, accountId, { limit: 10, from: at(11) })).map(
        (f) => f.executionId,
      ),
    ).toEqual(["aapl-2"]);
    expect(await listAccountFills(t.db, accountId, { limit: 10, symbol: "IBM" })).toEqual([]);
    expect(await listAccountFills(t.db, accountId, { limit: 1 })).toHaveLength(1);
  });

  it("lists an account's audit events newest first, paged", async () => {
    const events = await listAccountLogEvents(t.db, accountId, { limit: 500 });
    expect(events.length).toBeGreaterThan(3);
    expect(events.every((e) => e.accountId === accountId)).toBe(true);
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const [newest, second] = events;
    expect(newest?.orderId).toBe(msftId);
    const page = await listAccountLogEvents(t.db, accountId, { limit: 1, beforeId: newest?.id });
    expect(page.map((e) => e.id)).toEqual([second?.id]);
  });
});
