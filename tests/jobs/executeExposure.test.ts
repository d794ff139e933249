/**
 * The execute job counts a working market entry in another symbol toward total exposure. Its
 * snapshot has a quote for the decision's own symbol only, so a market entry elsewhere is priced
 * at its trade's planned entry from the books; an entry the books cannot price refuses new
 * exposure instead of counting as nothing. The plan preview reads the same snapshot.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSnapshotCaches, loadAccountSnapshot } from "../../app/accountSnapshot";
import { findDecision } from "../../db/decisions";
import { loadRiskLimits, saveRiskLimits } from "../../db/riskLimits";
import { orders } from "../../db/schema";
import { recordTradeEntry } from "../../db/trades";
import { dec } from "../../domain/money";
import { checkOrder } from "../../domain/riskChecks";
import { entryClientOrderId, tradeEntryFor } from "../../jobs/entryOrders";
import { type Lifecycle, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;

async function setTotalExposurePercent(percent: string): Promise<void> {
  const limits = await loadRiskLimits(t.db.db, t.accountId);
  const saved = await saveRiskLimits(
    t.db.db,
    t.accountId,
    { ...limits, maxTotalExposurePercent: dec(percent) },
    "test",
    t.deps.now(),
  );
  if (!saved.ok) throw new Error(saved.message);
}

async function decisionEnded(id: number) {
  return waitFor(
    async () => {
      const d = await findDecision(t.db.db, id);
      return d?.status === "executed" || d?.status === "failed" ? d : null;
    },
    20_000,
    `decision ${id} executed or failed`,
  );
}

async function sentToBroker(clientOrderId: string): Promise<boolean> {
  const state = (await t.sim.control("/sim/state")) as {
    orders: { client_order_id: string }[];
  };
  return state.orders.some((o) => o.client_order_id === clientOrderId);
}

beforeAll(async () => {
  t = await openLifecycle("execute-exposure");
  await t.startRuntime({ streams: true });
});
afterAll(async () => {
  await t?.close();
});

describe("execute with a working market entry in another symbol", () => {
  it("counts it at its planned entry toward total exposure, and refuses when nothing prices it", async () => {
    // A market entry of 30,000 T01 as execute records it before sending (planned at the $100.22
    // ask of its decision), not sent yet: working in the books, with no quote in T02's snapshot.
    const marketDecision = await t.decide({ symbol: "T01", entry: null, quantity: "30000" });
    const now = t.deps.now();
    const recorded = await recordTradeEntry(
      t.db.db,
      tradeEntryFor(marketDecision, false, dec("100.22"), now),
      "test",
      now,
    );
    expect(recorded.entry.order.type).toBe("market");

    // Equity 10,000,000: T01's $3,006,600 and T02's 20,000 x $99.00 = $1,980,000 make $4,986,600,
    // over a 49% limit ($4,900,000), within 50% ($5,000,000).
    await setTotalExposurePercent("49");
    await t.sim.control("/sim/quotes", { symbol: "T02", bid: "100.20", ask: "100.22" });
    const b = { symbol: "T02", entry: "99.00", stop: "96.00", quantity: "20000" };

    // The plan preview reads the same snapshot and refuses the same way.
    const preview = await loadAccountSnapshot(
      { db: t.db.db, broker: t.broker, caches: createSnapshotCaches() },
      t.accountId,
      "T02",
      t.deps.now(),
    );
    if (!preview.ok) throw new Error(preview.message);
    const previewed = checkOrder(
      {
        symbol: "T02",
        side: "buy",
        type: "limit",
        quantity: dec("20000"),
        limitPrice: dec("99.00"),
        stopLossPrice: dec("96.00"),
        takeProfitPrice: dec("110.00"),
      },
      preview.value.snapshot,
      preview.value.limits,
      { mode: "ACTIVE", reason: "" },
      t.deps.now().getTime(),
    );
    expect(previewed.ok ? [] : previewed.violations.map((v) => v.code)).toEqual([
      "MAX_TOTAL_EXPOSURE",
    ]);

    const refused = await t.decide(b);
    await t.jobs.executeDecision(refused.id);
    const failed = await decisionEnded(refused.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(/^MAX_TOTAL_EXPOSURE: /);
    expect(failed.statusReason).toContain("$4,986,600.00");
    expect(await sentToBroker(entryClientOrderId(refused.id))).toBe(false);

    await setTotalExposurePercent("50");
    const allowed = await t.decide(b);
    await t.jobs.executeDecision(allowed.id);
    expect((await decisionEnded(allowed.id)).status).toBe("executed");
    expect(await sentToBroker(entryClientOrderId(allowed.id))).toBe(true);

    // A market entry without a trade has no price in the books, and T01 has no quote here:
    // new exposure is refused, with what to do, rather than counting it as nothing.
    await t.db.db.update(orders).set({ tradeId: null }).where(eq(orders.id, recorded.entry.id));
    await setTotalExposurePercent("100");
    const blind = await t.decide({ symbol: "T03", entry: "99.00", stop: "96.00" });
    await t.jobs.executeDecision(blind.id);
    const unpriced = await decisionEnded(blind.id);
    expect(unpriced.status).toBe("failed");
    expect(unpriced.statusReason).toMatch(/^UNPRICED_WORKING_ENTRY: /);
    expect(unpriced.statusReason).toContain("buy 30000 T01");
    expect(await sentToBroker(entryClientOrderId(blind.id))).toBe(false);
  });
});
