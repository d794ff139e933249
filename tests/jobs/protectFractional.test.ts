/**
 * A position with a fraction of a share: the broker takes fractional orders as day market orders
 * only, so no stop can hold the fraction. The whole shares get their stop and target; the trader
 * is told the fraction has none (once). Run in this process against PostgreSQL and the simulator.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import { ZERO } from "../../domain/money";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("protect-fractional");
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

async function incidents(tradeId: number): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT")));
  return rows
    .filter((r) => String(r.payload.detail).startsWith(`trade ${tradeId}:`))
    .map((r) => String(r.payload.detail));
}

describe("a fractional position", () => {
  it("protects its whole shares and tells the trader the fraction has no stop", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: null, quantity: "10.5" });
    await executeDecision(deps, decision.id, handler);
    const entry = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
    const trade = await findTradeByDecision(t.db.db, decision.id);
    if (trade?.trade.status !== "POSITION") throw new Error("no position");
    expect(trade.trade.quantity.toFixed()).toBe("10.5");

    const protect = createProtectProcessor(deps, { handler });
    const payload = {
      accountId: t.accountId,
      tradeId: trade.id,
      reason: "repair",
      fillId: null,
    } as const;
    expect(await protect.protectTrade(payload, false)).toMatchObject({ outcome: "covered" });
    const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: false });
    if (!open.ok) throw new Error(open.message);
    const stops = open.value
      .filter((o) => o.type === "stop" && o.side === "sell")
      .reduce((sum, o) => sum.plus(o.qty ?? ZERO), ZERO);
    expect(stops.toFixed()).toBe("10");

    // Asked again (reconciliation's repair): nothing more placed, the trader told once.
    expect(await protect.protectTrade(payload, false)).toMatchObject({ outcome: "covered" });
    const told = await incidents(trade.id);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/0\.5 .*no stop/);
  });
});
