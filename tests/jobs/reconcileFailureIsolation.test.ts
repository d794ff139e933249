/**
 * One correction the broker keeps refusing must not hold up the others: a working exit of a
 * closed trade whose cancel the broker refuses (403) is tried on every run, and a position of
 * another symbol without a stop must still get its protection asked for. Run in this process
 * against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;
/** Added to the bench's clock, to step past the grace period. */
let offsetMs = 0;

beforeAll(async () => {
  t = await openLifecycle("reconcile-failure-isolation");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: () => new Date(t.deps.now().getTime() + offsetMs),
    logger: t.deps.logger,
    jobs: t.jobs,
    settings: { nativeBrackets: false },
  });
});
afterAll(async () => {
  await t?.close();
});

function reconcileNow() {
  const reconcile = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
  return reconcile({ data: { accountId: t.accountId, reason: "test" } });
}

async function runQueuedProtection(): Promise<void> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
  for (const job of jobs) {
    await protect(job as Job);
    await job.remove();
  }
}

async function brokerOrder(clientOrderId: string): Promise<BrokerOrder> {
  const found = await t.broker.getOrderByClientOrderId(clientOrderId);
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

async function workingAtBroker(symbol: string): Promise<BrokerOrder[]> {
  const open = await t.broker.listOrders({ status: "open", nested: true, limit: 500 });
  if (!open.ok) throw new Error(open.message);
  return open.value.flatMap((o) => [o, ...o.legs]).filter((o) => o.symbol === symbol);
}

describe("a correction the broker keeps refusing", () => {
  it("does not keep another position from being protected", async () => {
    const closedSymbol = TEST_SYMBOLS[16] as string;
    const bareSymbol = TEST_SYMBOLS[17] as string;
    const handler = createOrderReportHandler(deps);

    // A trade with its exits working at the broker.
    await t.sim.control("/sim/quotes", { symbol: closedSymbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: closedSymbol, entry: "100.05", quantity: "10" });
    await executeDecision(deps, decision.id, handler);
    await t.sim.control("/sim/quotes", { symbol: closedSymbol, bid: "99.98", ask: "100.00" });
    const entry = await waitFor(async () => {
      const found = await brokerOrder(entryClientOrderId(decision.id));
      return found.status === "filled" ? found : null;
    });
    await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
    await runQueuedProtection();
    const exits = await workingAtBroker(closedSymbol);
    expect(exits).toHaveLength(2);

    // A position of another symbol whose protection was never placed.
    await t.sim.control("/sim/quotes", { symbol: bareSymbol, bid: "99.99", ask: "100.01" });
    const { recorded } = await sendEntryUnheard(t, {
      symbol: bareSymbol,
      quantity: "10",
      limit: null,
      idPrefix: "bare",
      at: deps.now(),
    });
    await waitFor(async () => {
      const p = await t.broker.getPosition(bareSymbol);
      return p.ok && p.value.qty.eq(dec("10"));
    });
    expect((await reconcileNow()).actions).toContain("MISSED_FILL_INFERRED");
    await t.queues.protect.drain(true);

    // The first trade's shares leave the account without the desk's orders, and the broker
    // refuses every cancel of its exits.
    t.sim.sim.exchange.positions.delete(closedSymbol);
    for (const exit of exits) {
      await t.sim.control("/sim/faults", {
        method: "DELETE",
        path: `/v2/orders/${exit.brokerOrderId}`,
        status: 403,
        times: true,
      });
    }
    offsetMs += 120_000;
    try {
      // The run still fails (so it is tried again), after the rest of its corrections.
      await expect(reconcileNow()).rejects.toThrow(/orphan exit/);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }

    const closed = await findTradeByDecision(t.db.db, decision.id);
    expect(closed?.trade.status).toBe("CLOSED");
    const protect = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    expect(protect.map((j) => j.data.tradeId)).toContain(recorded.trade.id);
    const incidents = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT"));
    expect(
      incidents.filter(
        (r) => r.payload.symbol === bareSymbol && r.payload.incident === "STOP_MISSING",
      ),
    ).not.toHaveLength(0);
  });
});
