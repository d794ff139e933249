/**
 * AMEND and CANCEL against entries that are not simply working: an old entry that filled (in part
 * or whole) before the cancel the amendment asked for. Run in this process (the execute processor
 * called directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { findTradeByDecision } from "../../db/trades";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("execute-amend");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  return found.ok ? found.value : null;
}

describe("AMEND of a trade whose entry filled before its cancel", () => {
  it("sends no second entry on top of the filled part, and keeps the filled trade", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    expect(await execute(jobOf({ action: "NEW_TRADE", decisionId: old.id }))).toMatchObject({
      outcome: "executed",
    });
    // 4 of the 10 fill; the trader then amends the plan (a lower limit, the same 10 shares).
    await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
    await waitFor(async () => ((await brokerEntry(old.id))?.filledQty.eq(4) ? true : null));
    const oldTrade = await findTradeByDecision(t.db.db, old.id);
    const amended = await t.decide({ symbol, entry: "99.50", stop: "95.00", quantity: "10" });
    const result = await execute(
      jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTrade?.id ?? 0 }),
    );

    // The old entry is cancelled with its 4 shares kept (and journalled); the new one is not
    // sent, else the position would reach 14 where the trader planned 10.
    expect(result).toMatchObject({ outcome: "refused" });
    expect(await brokerEntry(amended.id)).toBeNull();
    expect((await brokerEntry(old.id))?.status).toBe("canceled");
    const after = await findTradeByDecision(t.db.db, old.id);
    expect(after?.trade.status).toBe("POSITION");
    expect(after?.trade.quantity.toString()).toBe("4");
    const decision = await findDecision(t.db.db, amended.id);
    expect(decision?.status).toBe("failed");
    expect(decision?.statusReason).toContain("REPLACED_TRADE_FILLED");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
  });

  it("sends no second entry when the old entry filled whole before the cancel", async () => {
    const symbol = TEST_SYMBOLS[31] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await execute(jobOf({ action: "NEW_TRADE", decisionId: old.id }));
    await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
    await waitFor(async () => ((await brokerEntry(old.id))?.status === "filled" ? true : null));
    const oldTrade = await findTradeByDecision(t.db.db, old.id);
    const amended = await t.decide({ symbol, entry: "99.50", quantity: "10" });
    const result = await execute(
      jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTrade?.id ?? 0 }),
    );
    expect(result).toMatchObject({ outcome: "refused" });
    expect(await brokerEntry(amended.id)).toBeNull();
    expect((await findDecision(t.db.db, amended.id))?.statusReason).toContain(
      "REPLACED_TRADE_FILLED",
    );
  });
});
