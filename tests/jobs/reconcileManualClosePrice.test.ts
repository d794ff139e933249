/**
 * A position closed by hand at the broker in more than one order: reconciliation records the
 * manual exit at the average of those sales, not at the last one's price. Against the simulator
 * with real PostgreSQL and Redis.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPosition } from "../../db/positions";
import { findTrade } from "../../db/trades";
import { dec } from "../../domain/money";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { sendEntryUnheard } from "./entrySent";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
let deps: JobDeps;

beforeAll(async () => {
  t = await openLifecycle("reconcile-manual-close-price");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: () => t.deps.now(),
    logger: t.deps.logger,
    jobs: t.jobs,
  });
});
afterAll(async () => {
  await t?.close();
});

async function reconcileNow(): Promise<string[]> {
  const reconcile = createReconcileProcessor(deps, { handler: createOrderReportHandler(deps) });
  const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  return [...result.actions];
}

/** Sells `quantity` by hand at the broker at the bid `bid`, a minute after the last sale. */
async function sellByHand(symbol: string, quantity: string, bid: string, n: number) {
  await t.sim.control("/sim/clock", { advanceSeconds: 60 });
  await t.sim.control("/sim/quotes", { symbol, bid, ask: dec(bid).plus("0.02").toFixed(2) });
  const sold = await t.broker.submitOrder({
    clientOrderId: `by-hand-${symbol}-${n}`,
    symbol,
    side: "sell",
    qty: dec(quantity),
    timeInForce: "day",
    orderClass: "simple",
    entry: { type: "market" },
  });
  if (!sold.ok) throw new Error(sold.message);
  await waitFor(
    async () => {
      const o = await t.broker.getOrder(sold.value.brokerOrderId);
      return o.ok && o.value.status === "filled";
    },
    5_000,
    "sold by hand",
  );
}

describe("a position closed by hand in two sales", () => {
  it("is recorded as a manual exit at the sales' average price", async () => {
    const symbol = TEST_SYMBOLS[15] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const { recorded } = await sendEntryUnheard(t, {
      symbol,
      quantity: "10",
      limit: null,
      idPrefix: "twosales",
      at: deps.now(),
    });
    await waitFor(
      async () => {
        const p = await t.broker.getPosition(symbol);
        return p.ok && p.value.qty.eq(dec("10"));
      },
      5_000,
      "entry filled at the broker",
    );
    expect(await reconcileNow()).toContain("MISSED_FILL_INFERRED");
    // No exits working, so the shares can be sold by hand.
    await t.queues.protect.drain(true);
    await sellByHand(symbol, "6", "80.00", 1);
    await sellByHand(symbol, "4", "90.00", 2);
    expect((await t.broker.getPosition(symbol)).ok).toBe(false);

    expect(await reconcileNow()).toContain("MANUAL_CLOSE_FOUND");

    const trade = await findTrade(t.db.db, recorded.trade.id);
    expect(trade?.trade.status).toBe("CLOSED");
    expect(trade?.trade.exitReason).toBe("MANUAL_EXIT");
    // (6 x 80.00 + 4 x 90.00) / 10, not the last sale's 90.00.
    expect(trade?.trade.averageExitPrice?.toFixed(2)).toBe("84.00");
    expect(trade?.trade.realizedPnl.toFixed(2)).toBe("-160.10");
    expect(await findPosition(t.db.db, t.accountId, symbol)).toBeNull();
  });
});
