/**
 * A desk bracket entry for 10 shares executed through the execute job and filled at the broker
 * (its legs armed or held there), with nothing of the fill stored yet. Reconciliation tests of a
 * bracket's legs start from it.
 */
import { expect } from "vitest";
import { entryClientOrderId } from "../../jobs/entryOrders";
import type { OrderReportHandler } from "../../jobs/orderReports";
import { executeDecision, type Lifecycle, waitFor } from "./harness";

/** Executes the bracket and waits until the broker has filled it: the decision, ids and order. */
export async function fillBracketAtBroker(
  t: Lifecycle,
  handler: OrderReportHandler,
  symbol: string,
) {
  await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
  const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
  const executed = await executeDecision(t.deps, decision.id, handler);
  expect(executed).toMatchObject({ outcome: "executed" });
  await t.sim.control("/sim/quotes", { symbol, bid: "99.98", ask: "100.00" });
  const clientOrderId = entryClientOrderId(decision.id);
  const filled = await waitFor(async () => {
    const found = await t.broker.getOrderByClientOrderId(clientOrderId);
    return found.ok && found.value.status === "filled" ? found.value : null;
  });
  return { decision, clientOrderId, filled };
}
