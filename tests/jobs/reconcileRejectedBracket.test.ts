/**
 * A bracket entry the books ended rejected with its legs, unsent as far as they knew (the send's
 * answer was a refusal), that the broker had taken all the same and filled: reconciliation books
 * the fill on the entry's trade, and the legs the broker armed are the trade's exits in the
 * books too, so nothing places a second set beside them. Run in this process against real
 * PostgreSQL and the simulator; the protect job runs on what reconciliation queued.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listChildOrders } from "../../db/lifecycleQueries";
import { findOrderByClientOrderId } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-rejected-bracket");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

/** The simulator as a broker that takes an order and answers the send with a refusal. */
function takesButRefuses(broker: Broker): Broker {
  return {
    ...broker,
    async submitOrder(request, options) {
      const sent = await broker.submitOrder(request, options);
      if (!sent.ok) return sent;
      return {
        ok: false,
        code: "INVALID",
        message: "refused (as the desk heard it)",
        retryable: false,
      };
    },
  };
}

async function runQueuedProtection(deps: JobDeps): Promise<void> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  for (let round = 0; round < 5; round++) {
    const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    if (jobs.length === 0) return;
    for (const job of jobs) {
      await protect(job as Job);
      await job.remove();
    }
  }
}

describe("a bracket entry ended rejected in the books that the broker filled", () => {
  it("books the fill on its trade with the broker's legs as its exits, and places no others", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const deps = createJobDeps({
      db: t.db.db,
      brokerFor: () => takesButRefuses(t.broker),
      now: t.deps.now,
      logger: t.deps.logger,
      jobs: t.jobs,
    });
    await expect(
      createExecuteProcessor(deps, { handler: createOrderReportHandler(deps) })(
        {
          data: { action: "NEW_TRADE", decisionId: decision.id },
          attemptsMade: 0,
        } as unknown as Job,
        undefined,
      ),
    ).rejects.toThrow("refused (as the desk heard it)");
    const clientOrderId = entryClientOrderId(decision.id);
    const entry = await findOrderByClientOrderId(t.db.db, clientOrderId);
    expect(entry?.order.status).toBe("rejected");
    expect(entry?.order.orderClass).toBe("bracket");
    const legStatuses = async () =>
      (await listChildOrders(t.db.db, entry?.id ?? 0)).map((l) => l.order.status).sort();
    expect(await legStatuses()).toEqual(["rejected", "rejected"]);

    // The broker had it: it fills, and the broker arms its legs.
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    const filled = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(clientOrderId);
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    const armed = filled.legs.map((l) => l.status).sort();
    expect(armed).toEqual(["held", "new"]);

    const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).toContain("MISSED_FILL_INFERRED");
    expect(result.actions).not.toContain("POSITION_ADOPTED");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect((await findOrderByClientOrderId(t.db.db, clientOrderId))?.order.status).toBe("filled");
    // The legs work at the broker: so they do in the books.
    expect(await legStatuses()).toEqual(armed);

    await runQueuedProtection(later);
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    await runQueuedProtection(later);
    // Only the bracket's own legs protect the 10 shares: no second stop or target beside them.
    const open = await t.broker.listOrders({
      status: "open",
      nested: false,
      symbols: [symbol],
      limit: 500,
    });
    if (!open.ok) throw new Error(open.message);
    const sells = open.value.flatMap((o) => [o, ...o.legs]).filter((o) => o.side === "sell");
    expect(new Set(sells.map((o) => o.brokerOrderId)).size).toBe(2);
  });
});
