/**
 * A stop the broker refuses is told to the trader once per episode: the retries of one failure
 * (nothing placed in between) are one notice, and a failure after a stop was placed again is a
 * notice of its own, at whatever quantity. Run in this process (the protect job called as its
 * queue would) against real PostgreSQL and the simulator.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
/** Entries sent as simple orders: the protect job places the stop. */
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("protect-failure-notices");
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

async function brokerOrder(clientOrderId: string): Promise<BrokerOrder> {
  const found = await t.broker.getOrderByClientOrderId(clientOrderId);
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

/** The PROTECTION_FAILED notices written for the trade. */
async function protectionFailures(tradeId: number): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT")));
  return rows
    .filter(
      (r) =>
        r.payload.incident === "PROTECTION_FAILED" &&
        String(r.payload.detail).startsWith(`trade ${tradeId}:`),
    )
    .map((r) => String(r.payload.detail));
}

/** The broker refuses the next order for good (403), as it refuses a stop it will not take. */
async function refuseNextOrder(): Promise<void> {
  await t.sim.control("/sim/faults", { method: "POST", path: "/v2/orders", status: 403, times: 1 });
}

describe("stop placement failures", () => {
  it("tells each failure episode once, also a second one at the same quantity", async () => {
    const symbol = TEST_SYMBOLS[20] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await executeDecision(deps, decision.id, handler);
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    const entry = await waitFor(async () => {
      const found = await brokerOrder(entryClientOrderId(decision.id));
      return found.status === "filled" ? found : null;
    });
    await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
    const trade = await findTradeByDecision(t.db.db, decision.id);
    if (!trade) throw new Error("no trade");
    const protect = createProtectProcessor(deps, { handler });
    const payload = {
      accountId: t.accountId,
      tradeId: trade.id,
      reason: "entry_fill",
      fillId: null,
    } as const;

    // First episode: the stop is refused, and refused again when the job is asked once more.
    await refuseNextOrder();
    await expect(protect.protectTrade(payload, false)).rejects.toThrow(/stop not placed/);
    await refuseNextOrder();
    await expect(protect.protectTrade({ ...payload, reason: "repair" }, false)).rejects.toThrow(
      /stop not placed/,
    );
    expect(await protectionFailures(trade.id)).toHaveLength(1);

    // The stop is placed, then cancelled at the broker: the position is bare again.
    expect(await protect.protectTrade({ ...payload, reason: "repair" }, false)).toMatchObject({
      outcome: "covered",
      sent: 1,
    });
    const placed = (await listOrdersForTrade(t.db.db, trade.id)).find(
      (o) => o.parentOrderId === null && o.order.role === "TAKE_PROFIT" && o.order.brokerOrderId,
    );
    const placedId = placed?.order.brokerOrderId ?? "";
    expect((await t.broker.cancelOrder(placedId)).ok).toBe(true);
    const cancelled = await t.broker.getOrder(placedId);
    if (!cancelled.ok) throw new Error(cancelled.message);
    await handler.handle(t.accountId, "poll", brokerOrderToReport(cancelled.value, deps.now()));

    // Second episode, same 10 shares: the trader hears of it too.
    await refuseNextOrder();
    await expect(protect.protectTrade({ ...payload, reason: "repair" }, false)).rejects.toThrow(
      /stop not placed/,
    );
    expect(await protectionFailures(trade.id)).toHaveLength(2);
  });
});
