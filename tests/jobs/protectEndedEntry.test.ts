/**
 * The protect job for a bracket entry that ended partly filled, run in this process against real
 * PostgreSQL and the simulator: the entry's legs only ever work once the entry is completely
 * filled, so once it has ended they protect nothing, whatever status the books still give them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("protect-ended-entry");
});
afterAll(async () => {
  await t?.close();
});

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

describe("protection of a bracket entry that ended partly filled", () => {
  it("places a stop for the filled part while the books still hold the legs as held", async () => {
    const symbol = TEST_SYMBOLS[25] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const executed = await executeDecision(t.deps, decision.id, handler);
    expect(executed).toMatchObject({ outcome: "executed" });
    await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
    const partly = await waitFor(async () => {
      const entry = await brokerEntry(decision.id);
      return entry.filledQty.eq(4) ? entry : null;
    });
    await handler.handle(t.accountId, "poll", brokerOrderToReport(partly, t.deps.now()));

    // The entry expires (or is cancelled) with 4 filled. Its own event shows the legs as they
    // were a moment before (held); theirs come apart, and are lost here (a stream gap), as they
    // are for good when the broker leaves the legs held.
    expect((await t.broker.cancelOrder(partly.brokerOrderId)).ok).toBe(true);
    const ended = brokerOrderToReport(await brokerEntry(decision.id), t.deps.now());
    expect(ended.order.status).toBe("canceled");
    const handled = await handler.handle(t.accountId, "stream", {
      ...ended,
      event: "canceled",
      order: { ...ended.order, legs: ended.order.legs.map((l) => ({ ...l, status: "held" })) },
    });
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(handled.protections).toContainEqual(
      expect.objectContaining({ tradeId: trade?.id, reason: "entry_ended" }),
    );
    const legs = (await listOrdersForTrade(t.db.db, trade?.id ?? 0)).filter(
      (o) => o.order.orderClass === "bracket" && o.parentOrderId !== null,
    );
    expect(legs.map((l) => l.order.status)).toEqual(["held", "held"]);

    const protect = createProtectProcessor(t.deps, { handler });
    const result = await protect.protectTrade(
      { accountId: t.accountId, tradeId: trade?.id ?? 0, reason: "entry_ended", fillId: null },
      false,
    );
    expect(result).toMatchObject({ outcome: "covered", sent: 1 });
    const state = (await t.sim.control("/sim/state")) as {
      orders: { symbol: string; type: string; side: string; status: string; qty: string }[];
    };
    const liveStops = state.orders.filter(
      (o) =>
        o.symbol === symbol &&
        o.type === "stop" &&
        o.side === "sell" &&
        ["new", "held"].includes(o.status),
    );
    expect(liveStops.map((o) => o.qty)).toEqual(["4"]);
  });
});
