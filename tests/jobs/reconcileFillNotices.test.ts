/**
 * Reconciliation's notices of fills it cannot book (FILL_PRICE_UNKNOWN: the broker filled more
 * without a price; FILL_EXCEEDS_BROKER: the books count more than the broker): each new
 * occurrence on one order (more shares filled later) is told once, and a run over the same
 * state tells nothing again. Run in this process against real PostgreSQL and the simulator, the
 * broker's average price hidden to stand for a broker that reports none.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOrderUpdate } from "../../db/orderEvents";
import { notificationOutbox } from "../../db/schema";
import type { Broker, BrokerOrder } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-fill-notices");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

/**
 * The simulator as a broker that reports no average fill price for `symbol`, and (so that the
 * shares it cannot price are not also adopted) no position of it.
 */
function withoutPrices(broker: Broker, symbol: string): Broker {
  const strip = (o: BrokerOrder): BrokerOrder =>
    o.symbol === symbol ? { ...o, filledAvgPrice: null, legs: o.legs.map(strip) } : o;
  return {
    ...broker,
    async getOrder(id) {
      const r = await broker.getOrder(id);
      return r.ok ? { ...r, value: strip(r.value) } : r;
    },
    async getOrderByClientOrderId(id) {
      const r = await broker.getOrderByClientOrderId(id);
      return r.ok ? { ...r, value: strip(r.value) } : r;
    },
    async listOrders(query) {
      const r = await broker.listOrders(query);
      return r.ok ? { ...r, value: r.value.map(strip) } : r;
    },
    async listPositions() {
      const r = await broker.listPositions();
      return r.ok ? { ...r, value: r.value.filter((p) => p.symbol !== symbol) } : r;
    },
  };
}

async function reconcileWith(deps: JobDeps): Promise<string[]> {
  const reconcile = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

async function told(symbol: string, incident: string): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT")));
  return rows
    .map((r) => r.payload)
    .filter((p) => p.symbol === symbol && p.incident === incident)
    .map((p) => String(p.detail));
}

/** Lets `shares` more of the symbol's working buy limit at 100.05 fill at the simulator. */
async function fillAtBroker(symbol: string, shares: string): Promise<void> {
  await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: shares });
  await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
  await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
}

describe("notices of fills reconciliation cannot book", () => {
  it("tells a fill without a price again when more is filled later, and not on a re-run", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    const deps = createJobDeps({
      db: t.db.db,
      brokerFor: () => withoutPrices(t.broker, symbol),
      now: later.now,
      logger: later.logger,
      jobs: later.jobs,
    });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const { brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "100.05",
      idPrefix: "unpriced",
    });
    await fillAtBroker(symbol, "4");
    const partly = await t.broker.getOrder(brokerOrder.brokerOrderId);
    expect(partly.ok && partly.value.filledQty.toFixed()).toBe("4");

    expect(await reconcileWith(deps)).toContain("FILL_PRICE_UNKNOWN");
    expect(await told(symbol, "FILL_PRICE_UNKNOWN")).toHaveLength(1);
    await reconcileWith(deps);
    expect(await told(symbol, "FILL_PRICE_UNKNOWN")).toHaveLength(1);

    // Four more fill: a new occurrence on the same order.
    await fillAtBroker(symbol, "4");
    expect(await reconcileWith(deps)).toContain("FILL_PRICE_UNKNOWN");
    const notices = await told(symbol, "FILL_PRICE_UNKNOWN");
    expect(notices).toHaveLength(2);
    expect(notices[1]).toContain("filled 8 more");
    await reconcileWith(deps);
    expect(await told(symbol, "FILL_PRICE_UNKNOWN")).toHaveLength(2);
  });

  it("tells the books counting more than the broker again when the figures change, and not on a re-run", async () => {
    const symbol = TEST_SYMBOLS[35] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const { recorded, brokerOrder } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: "100.05",
      idPrefix: "exceeds",
    });
    // The books count 6 filled (an execution the broker does not show), the broker none.
    const at = t.deps.now();
    for (const event of [
      { event: "new" as const, at: at.toISOString(), brokerOrderId: brokerOrder.brokerOrderId },
      {
        event: "partial_fill" as const,
        at: at.toISOString(),
        executionId: `phantom-${brokerOrder.brokerOrderId}`,
        quantity: dec("6"),
        price: dec("100.05"),
      },
    ]) {
      const applied = await applyOrderUpdate(t.db.db, { orderId: recorded.entry.id }, event, {
        source: "stream",
        recordedAt: at,
      });
      expect(applied.ok).toBe(true);
    }
    expect(await reconcileWith(later)).toContain("FILL_EXCEEDS_BROKER");
    expect(await told(symbol, "FILL_EXCEEDS_BROKER")).toHaveLength(1);
    await reconcileWith(later);
    expect(await told(symbol, "FILL_EXCEEDS_BROKER")).toHaveLength(1);

    // The broker fills 2: still short of the books' 6, another state of the same order.
    await fillAtBroker(symbol, "2");
    expect(await reconcileWith(later)).toContain("FILL_EXCEEDS_BROKER");
    const notices = await told(symbol, "FILL_EXCEEDS_BROKER");
    expect(notices).toHaveLength(2);
    expect(notices[1]).toContain("the broker 2");
    await reconcileWith(later);
    expect(await told(symbol, "FILL_EXCEEDS_BROKER")).toHaveLength(2);
  });
});
