/**
 * A trader's cancel of an entry the broker has but the books do not know it has (the send's
 * answer was lost), shown by the broker in a status the books cannot take from `pending_new`:
 * the cancel must still go out, once. Run in this process (the execute processor called
 * directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTradeByDecision } from "../../db/trades";
import type { Broker, BrokerOrder, BrokerResult } from "../../domain/broker";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-unacked-entry");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload): Job {
  return { data, attemptsMade: 0 } as unknown as Job;
}

describe("a cancel of an entry whose send's answer was lost", () => {
  it("cancels it at the broker even when the books cannot take the status it shows there", async () => {
    const symbol = TEST_SYMBOLS[24] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const lost: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const sent = await t.broker.submitOrder(request, options);
        if (!sent.ok) return sent;
        return { ok: false, code: "NETWORK", message: "socket hang up", retryable: true };
      },
    };
    await expect(
      executeDecision({ ...t.deps, brokerFor: async () => lost }, decision.id, handler),
    ).rejects.toThrow(/not sent yet/);
    // The broker shows it done for the day (it works again at the next session).
    let lookups = 0;
    const doneForDay: Broker = {
      ...t.broker,
      async getOrderByClientOrderId(clientOrderId): Promise<BrokerResult<BrokerOrder>> {
        lookups += 1;
        if (lookups > 5) {
          return { ok: false, code: "NETWORK", message: "looked up in a loop", retryable: true };
        }
        const found = await t.broker.getOrderByClientOrderId(clientOrderId);
        return found.ok ? { ok: true, value: { ...found.value, status: "done_for_day" } } : found;
      },
    };
    const cancelling = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => doneForDay },
      { handler },
    );
    const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
    const result = await cancelling(
      jobOf({
        action: "CANCEL",
        accountId: t.accountId,
        tradeId,
        reason: "Cancelled from /orders",
        requestedBy: "user:1",
      }),
    ).catch((error: Error) => error);
    expect(result).toMatchObject({ outcome: "cancelled", tradeId });
    expect(lookups).toBe(1);
    const atBroker = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    expect(atBroker.ok && atBroker.value.status).toBe("canceled");
  });
});
