/**
 * After an exit fill closes a trade, no other exit of it may stay working, at the broker or in
 * the books, whatever kind of exit group it was in: run in this process (the handler fed the
 * reports the stream would hand over, the protect job called as its queue would) against real
 * PostgreSQL and the simulator, with the stream's events lost where the test says so.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { isTerminal } from "../../domain/orderStateMachine";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
/** Entries sent as simple orders: the protect job places an OCO on each fill. */
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("protect-exit-groups");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: t.deps.now,
    logger: t.deps.logger,
    jobs: t.jobs,
    settings: { nativeBrackets: false },
  });
  handler = createOrderReportHandler(deps);
});
afterAll(async () => {
  await t?.close();
});

interface SimOrder {
  readonly symbol: string;
  readonly status: string;
  readonly type: string;
  readonly client_order_id: string;
  readonly legs?: SimOrder[] | null;
}

/** The simulator's orders of a symbol still working (held legs included), flattened. */
async function workingAtBroker(symbol: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  const all = state.orders.flatMap((o) => [o, ...(o.legs ?? [])]);
  const seen = new Set<SimOrder>();
  return all.filter((o) => {
    if (seen.has(o)) return false;
    seen.add(o);
    return o.symbol === symbol && !["filled", "canceled", "expired", "replaced"].includes(o.status);
  });
}

async function brokerOrder(clientOrderId: string): Promise<BrokerOrder> {
  const found = await t.broker.getOrderByClientOrderId(clientOrderId);
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

/** Opens a position of `quantity` through a simple entry and its OCO, as the desk does it. */
async function openWithOco(symbol: string, quantity: string) {
  await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
  const decision = await t.decide({ symbol, entry: "100.05", quantity });
  const executed = await executeDecision(deps, decision.id, handler);
  expect(executed).toMatchObject({ outcome: "executed" });
  await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
  const entry = await waitFor(async () => {
    const found = await brokerOrder(entryClientOrderId(decision.id));
    return found.status === "filled" ? found : null;
  });
  expect(entry.orderClass).not.toBe("bracket");
  await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
  const trade = await findTradeByDecision(t.db.db, decision.id);
  if (!trade) throw new Error("no trade");
  const protect = createProtectProcessor(deps, { handler });
  const covered = await protect.protectTrade(
    { accountId: t.accountId, tradeId: trade.id, reason: "entry_fill", fillId: null },
    false,
  );
  expect(covered).toMatchObject({ outcome: "covered", sent: 1 });
  return { decision, trade, protect };
}

describe("exit groups after an exit fill", () => {
  it("an OCO's target fill leaves its stop ended in the books when the stop's own cancel is lost", async () => {
    const symbol = TEST_SYMBOLS[27] as string;
    const { decision, trade, protect } = await openWithOco(symbol, "10");
    // The market reaches the target: the broker fills it and cancels its stop.
    await t.sim.control("/sim/quotes", { symbol, bid: "110.05", ask: "110.07" });
    const target = await waitFor(async () => {
      const found = await brokerOrder(`t${trade.id}-x1`);
      return found.status === "filled" ? found : null;
    });
    expect(target.legs.map((l) => l.status)).toEqual(["canceled"]);
    // The target's fill event shows the stop as it was a moment before (held); the stop's own
    // canceled event is lost in a stream gap.
    const report = brokerOrderToReport(target, deps.now());
    const handled = await handler.handle(t.accountId, "stream", {
      ...report,
      event: "fill",
      executionId: `tp-${decision.id}`,
      price: target.filledAvgPrice?.toFixed() ?? "110.05",
      qty: "10",
      order: { ...report.order, legs: report.order.legs.map((l) => ({ ...l, status: "held" })) },
    });
    expect(handled.protections).toContainEqual(
      expect.objectContaining({ tradeId: trade.id, reason: "exit_fill" }),
    );
    const closed = await findTradeByDecision(t.db.db, decision.id);
    expect([closed?.trade.status, closed?.trade.exitReason]).toEqual(["CLOSED", "PROFIT_TAKEN"]);

    // The exit fill's check: the sibling stop is gone at the broker, and the books agree.
    await protect.protectTrade(
      { accountId: t.accountId, tradeId: trade.id, reason: "exit_fill", fillId: null },
      false,
    );
    expect(await workingAtBroker(symbol)).toEqual([]);
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    expect(
      orders.filter((o) => !isTerminal(o.order.status)).map((o) => [o.order.role, o.order.status]),
    ).toEqual([]);
  });
});
