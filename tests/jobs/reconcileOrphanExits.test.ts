/**
 * A reconciliation that records a manual close and dies before the closed trade's exits are
 * dealt with: a later run still finds the exits working at the broker and cancels them, so a
 * stop of a position that is gone cannot open a new one. Run in this process against real
 * PostgreSQL and the simulator, the protect job run on what was queued, as a worker would.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { findTradeByDecision } from "../../db/trades";
import type { BrokerOrder } from "../../domain/broker";
import { isTerminal } from "../../domain/orderStateMachine";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
/** Added to the bench's clock, to step past the grace period. */
let offsetMs = 0;

function depsWith(jobs: JobDeps["jobs"]): JobDeps {
  return createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: () => new Date(t.deps.now().getTime() + offsetMs),
    logger: t.deps.logger,
    jobs,
    settings: { nativeBrackets: false },
  });
}

beforeAll(async () => {
  t = await openLifecycle("reconcile-orphan-exits");
});
afterAll(async () => {
  await t?.close();
});

async function brokerOrder(clientOrderId: string): Promise<BrokerOrder> {
  const found = await t.broker.getOrderByClientOrderId(clientOrderId);
  if (!found.ok) throw new Error(found.message);
  return found.value;
}

/** The simulator's orders of a symbol still working (held legs included). */
async function workingAtBroker(symbol: string): Promise<string[]> {
  const open = await t.broker.listOrders({ status: "open", nested: true, limit: 500 });
  if (!open.ok) throw new Error(open.message);
  return open.value
    .flatMap((o) => [o, ...o.legs])
    .filter((o) => o.symbol === symbol)
    .map((o) => `${o.type} ${o.status}`);
}

async function runQueuedProtection(deps: JobDeps): Promise<void> {
  const protect = createProtectProcessor(deps, { handler: createOrderReportHandler(deps) });
  const jobs = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
  for (const job of jobs) {
    await protect(job as Job);
    await job.remove();
  }
}

describe("exits of a trade closed by reconciliation", () => {
  it("are cancelled by a later run when the run that recorded the close died before", async () => {
    const symbol = TEST_SYMBOLS[28] as string;
    const deps = depsWith(t.jobs);
    const handler = createOrderReportHandler(deps);
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
    await runQueuedProtection(deps);
    expect(await workingAtBroker(symbol)).toEqual(["limit new", "stop held"]);

    // The shares leave the account at the broker without the desk's orders (a liquidation by
    // the broker, a transfer): the OCO stays working there.
    t.sim.sim.exchange.positions.delete(symbol);
    offsetMs += 120_000;

    // The run that finds the manual close dies right after recording it, before it asks for
    // the trade's exits to be cancelled: nothing it asks of the broker or the queues after the
    // close goes through (a run only failing goes on with its other corrections).
    const dying: JobDeps = {
      ...depsWith({
        ...t.jobs,
        requestProtection: () => Promise.reject(new Error("worker died")),
      }),
      brokerFor: async () => ({
        ...t.broker,
        cancelOrder: async () => ({
          ok: false,
          code: "NETWORK",
          message: "worker died",
          retryable: true,
        }),
      }),
    };
    const died = createReconcileProcessor(dying, { handler: createOrderReportHandler(dying) });
    await expect(died({ data: { accountId: t.accountId, reason: "test" } })).rejects.toThrow(
      "worker died",
    );
    const closed = await findTradeByDecision(t.db.db, decision.id);
    expect([closed?.trade.status, closed?.trade.exitReason]).toEqual(["CLOSED", "MANUAL_EXIT"]);
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
    expect(await workingAtBroker(symbol)).toEqual(["limit new", "stop held"]);

    // A later run (another worker, after the restart) finds the exits and cancels them.
    offsetMs += 120_000;
    const later = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
    await later({ data: { accountId: t.accountId, reason: "test" } });
    await runQueuedProtection(deps);
    expect(await workingAtBroker(symbol)).toEqual([]);
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    expect(orders.filter((o) => !isTerminal(o.order.status)).map((o) => o.order.role)).toEqual([]);

    // Once dealt with, nothing more: a further run finds nothing of the symbol.
    offsetMs += 120_000;
    const again = await later({ data: { accountId: t.accountId, reason: "test" } });
    expect(again.actions).toEqual([]);
  });
});
