/**
 * A bracket's stop leg held at the broker after its entry filled, which the broker's order lists
 * leave out (Alpaca lists neither a held leg as open nor, once the entry filled, the legs under
 * it): reconciliation asks for the leg by its id instead of closing it in the books as unknown
 * while it still protects the position. Against the simulator with real PostgreSQL and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { Broker, BrokerOrder } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;
/** Added to the bench's clock, to step past the grace period. */
let offsetMs = 0;

/** The simulator's broker, its order lists without held orders, as Alpaca's are reported to be. */
function hidingHeld(broker: Broker): Broker {
  const visible = (orders: readonly BrokerOrder[]): BrokerOrder[] =>
    orders.filter((o) => o.status !== "held").map((o) => ({ ...o, legs: visible(o.legs) }));
  return {
    ...broker,
    async listOrders(query) {
      const listed = await broker.listOrders(query);
      return listed.ok ? { ok: true, value: visible(listed.value) } : listed;
    },
  };
}

beforeAll(async () => {
  t = await openLifecycle("reconcile-held-legs");
  const broker = hidingHeld(t.broker);
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => broker,
    now: () => new Date(t.deps.now().getTime() + offsetMs),
    logger: t.deps.logger,
    jobs: t.jobs,
  });
});
afterAll(async () => {
  await t?.close();
});

describe("a held stop leg the broker's lists leave out", () => {
  it("stays the position's working stop in the books", async () => {
    const symbol = TEST_SYMBOLS[19] as string;
    const handler = createOrderReportHandler(deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await executeDecision(deps, decision.id, handler);
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    const entry = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    expect(entry.legs.map((l) => l.status).sort()).toEqual(["held", "new"]);
    await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
    const trade = await findTradeByDecision(t.db.db, decision.id);
    if (!trade) throw new Error("no trade");
    await t.queues.protect.drain(true);

    offsetMs += 120_000;
    const reconcile = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });

    expect(result.actions).not.toContain("ORDER_UNKNOWN_AT_BROKER");
    expect(result.actions).not.toContain("STOP_MISSING");
    const stop = (await listOrdersForTrade(t.db.db, trade.id)).find(
      (o) => o.order.role === "STOP_LOSS",
    );
    expect(stop?.order.status).not.toBe("canceled");
    expect(stop?.order.brokerOrderId).toBe(
      entry.legs.find((l) => l.type === "stop")?.brokerOrderId,
    );
  });
});
