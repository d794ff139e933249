/**
 * Reconciliation of an order the books ended rejected or expired that the broker filled all the
 * same: a late fill of the desk's own order, booked on its own trade (as for a cancelled entry),
 * never adopted as a new trade with exits of its own. Run in this process against real
 * PostgreSQL and the simulator.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyOrderUpdate } from "../../db/orderEvents";
import { findOrderByClientOrderId } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox, trades } from "../../db/schema";
import { findTrade } from "../../db/trades";
import type { JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { depsAhead, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Reconciliation's clock: two minutes ahead of the bench, past the 60 s grace period. */
let later: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-terminal-fill");
  later = depsAhead(t, 120_000);
});
afterAll(async () => {
  await t?.close();
});

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(later, { handler: createOrderReportHandler(later) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

async function incidentsOf(symbol: string): Promise<string[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(and(eq(notificationOutbox.kind, "RECONCILIATION_INCIDENT")));
  return rows
    .map((r) => r.payload)
    .filter((p) => p.symbol === symbol)
    .map((p) => String(p.incident));
}

describe("a fill at the broker on an order the books ended rejected or expired", () => {
  const cases = [
    { ending: "denied", status: "rejected", symbol: TEST_SYMBOLS[30] as string },
    { ending: "expired", status: "expired", symbol: TEST_SYMBOLS[31] as string },
  ] as const;
  for (const { ending, status, symbol } of cases) {
    it(`books the broker's shares on the entry's own trade when it was ${status} in the books, and protects them`, async () => {
      await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
      const { recorded, brokerOrder } = await sendEntryUnheard(t, {
        symbol,
        quantity: "10",
        limit: "97.00",
        idPrefix: `ended-${status}`,
      });
      const at = t.deps.now().toISOString();
      const ended = await applyOrderUpdate(
        t.db.db,
        { orderId: recorded.entry.id },
        ending === "denied"
          ? { event: "denied", at, reason: "never sent" }
          : { event: "expired", at },
        { source: "local", recordedAt: t.deps.now() },
      );
      expect(ended.ok && ended.value.record.order.status).toBe(status);
      // The send landed late and fills at the broker.
      await t.sim.control("/sim/quotes", { symbol, bid: "96.00", ask: "96.02" });
      const filled = await t.broker.getOrder(brokerOrder.brokerOrderId);
      expect(filled.ok && filled.value.status).toBe("filled");

      const actions = await reconcileNow();
      // A late fill of the desk's own order, as for a cancelled entry: booked on its trade.
      expect(actions).toContain("MISSED_FILL_INFERRED");
      expect(actions).not.toContain("POSITION_ADOPTED");

      const tradeId = recorded.trade.id;
      const trade = await findTrade(t.db.db, tradeId);
      expect(trade?.trade.status).toBe("POSITION");
      expect(trade?.trade.entryQuantity.toFixed()).toBe("10");
      const position = await findPosition(t.db.db, t.accountId, symbol);
      expect(position?.tradeId).toBe(tradeId);
      expect(position?.position.quantity.toFixed()).toBe("10");
      const symbolTrades = await t.db.db
        .select()
        .from(trades)
        .where(and(eq(trades.accountId, t.accountId), eq(trades.symbol, symbol)));
      expect(symbolTrades.map((r) => r.id)).toEqual([tradeId]);
      // Its own trade is protected, no adopted one.
      const protect = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
      expect(protect.map((j) => j.data.tradeId)).toContain(tradeId);
      expect(await incidentsOf(symbol)).toContain("MISSED_FILL_INFERRED");
      expect(await incidentsOf(symbol)).not.toContain("POSITION_ADOPTED");
      // The books' entry keeps its status, with the broker's fill; a second run finds nothing.
      const entry = await findOrderByClientOrderId(t.db.db, recorded.entry.order.clientOrderId);
      expect(entry?.order.status).toBe("filled");
      expect(entry?.order.filledQuantity.toFixed()).toBe("10");
      const again = await reconcileNow();
      expect(again).not.toContain("POSITION_ADOPTED");
      expect(again).not.toContain("MISSED_FILL_INFERRED");
    });
  }
});
