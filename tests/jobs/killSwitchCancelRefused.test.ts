/**
 * A kill switch whose cancel the broker refuses for a reason other than the order having ended
 * (403: the account is restricted, the key lacks the right): the order still works at the broker,
 * so the halt's sweep and the flatten must count it as not cancelled (and be retried), never as
 * done. Real PostgreSQL and Redis, the simulator.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createOrderReportHandler } from "../../jobs/orderReports";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";
import { openOrders } from "./killSwitchJobs";

const ENTRY_SYMBOL = TEST_SYMBOLS[23] ?? "T23";
const OUTSIDE_SYMBOL = TEST_SYMBOLS[24] ?? "T24";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("killswitch-cancel-refused");
  await startStreamingRuntime(t);
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** Every cancel of `brokerOrderId` answered 403 until the faults are cleared. */
async function refuseCancels(brokerOrderId: string): Promise<void> {
  await t.sim.control("/sim/faults", {
    method: "DELETE",
    path: `/v2/orders/${brokerOrderId}`,
    status: 403,
    times: true,
  });
}

describe("a kill switch whose cancel the broker refuses", () => {
  it("counts a working entry whose cancel was refused as not cancelled", async () => {
    await t.sim.control("/sim/quotes", { symbol: ENTRY_SYMBOL, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol: ENTRY_SYMBOL, entry: "97.00", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(
      async () => (await openOrders(t, ENTRY_SYMBOL)).length > 0,
      15_000,
      "the entry resting at the broker",
    );
    const [entry] = (await openOrders(t, ENTRY_SYMBOL)).filter(
      (o) => o.clientOrderId === entryClientOrderId(decision.id),
    );
    if (!entry) throw new Error("no entry at the broker");
    await refuseCancels(entry.brokerOrderId);
    try {
      const killSwitch = createKillSwitch(t.deps, createOrderReportHandler(t.deps));
      const outcome = await killSwitch.cancelWorkingEntries(t.accountId);
      expect(outcome.cancelled).not.toContain(entry.clientOrderId);
      expect(outcome.failed.map((f) => f.clientOrderId)).toContain(entry.clientOrderId);
      expect((await openOrders(t, ENTRY_SYMBOL)).map((o) => o.brokerOrderId)).toContain(
        entry.brokerOrderId,
      );
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    // Once the broker takes the cancel, the sweep's retry ends it.
    const retried = await createKillSwitch(
      t.deps,
      createOrderReportHandler(t.deps),
    ).cancelWorkingEntries(t.accountId);
    expect(retried.failed).toEqual([]);
    expect(await openOrders(t, ENTRY_SYMBOL)).toEqual([]);
  }, 60_000);

  it("leaves a flatten's order whose cancel was refused among those left open", async () => {
    await t.sim.control("/sim/quotes", { symbol: OUTSIDE_SYMBOL, bid: "99.99", ask: "100.01" });
    const placed = await t.broker.submitOrder({
      clientOrderId: "outside-refused-1",
      symbol: OUTSIDE_SYMBOL,
      side: "buy",
      qty: dec("10"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "limit", limitPrice: dec("97.00") },
    });
    if (!placed.ok) throw new Error(placed.message);
    await refuseCancels(placed.value.brokerOrderId);
    try {
      const outcome = await createKillSwitch(t.deps, createOrderReportHandler(t.deps)).flatten({
        accountId: t.accountId,
        requestedBy: "user:1",
        requestId: "flatten-refused",
        notify: false,
      });
      expect(outcome.ordersLeftOpen).toContain("outside-refused-1");
      expect(await openOrders(t, OUTSIDE_SYMBOL)).toHaveLength(1);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
  }, 60_000);
});
