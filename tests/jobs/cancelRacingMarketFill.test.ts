/**
 * A trader's cancel that ends a market entry in the books while its send is on the way, the
 * broker filling it at once and answering the send with the fill: the trader must hear the
 * cancel came too late and the position is held. Run in this process (the execute processor
 * called directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-racing-market-fill");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload): Job {
  return { data, attemptsMade: 0 } as unknown as Job;
}

describe("a cancel racing a market entry the broker fills at once", () => {
  for (const answerFilled of [false, true]) {
    it(`tells the trader the cancel came too late, never that it was cancelled${answerFilled ? " (the answer showing the fill)" : ""}`, async () => {
      const symbol = TEST_SYMBOLS[answerFilled ? 23 : 22] as string;
      const handler = createOrderReportHandler(t.deps);
      const cancelling = createExecuteProcessor(t.deps, { handler });
      await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
      const decision = await t.decide({ symbol, entry: null, quantity: "10" });
      let answered: string | null = null;
      const racing: Broker = {
        ...t.broker,
        async submitOrder(request, options) {
          const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
          await cancelling(
            jobOf({
              action: "CANCEL",
              accountId: t.accountId,
              tradeId,
              reason: "Cancelled from /orders",
              requestedBy: "user:1",
            }),
          );
          const sent = await t.broker.submitOrder(request, options);
          if (!sent.ok || !answerFilled) return sent;
          // The broker's answer already shows the fill (it filled before answering).
          const now = await t.broker.getOrder(sent.value.brokerOrderId);
          answered = now.ok ? now.value.status : null;
          return now.ok ? now : sent;
        },
      };
      expect(
        await executeDecision({ ...t.deps, brokerFor: async () => racing }, decision.id, handler),
      ).toMatchObject({ outcome: "executed" });
      if (answerFilled) expect(answered).toBe("filled");
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
      const trade = await findTradeByDecision(t.db.db, decision.id);
      expect(trade?.trade.status).toBe("POSITION");
      const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
      const notices = rows
        .filter((row) => row.payload.symbol === symbol)
        .map((row) => ({ kind: row.kind, ...row.payload }) as Record<string, unknown>);
      expect(notices.map((n) => n.kind).sort()).toEqual([
        "ENTRY_SUBMITTED",
        "ORDER_FILLED",
        "ORDER_REJECTED",
      ]);
      expect(notices.find((n) => n.kind === "ORDER_REJECTED")).toMatchObject({
        decisionId: decision.id,
        code: "CANCEL_TOO_LATE",
      });
    });
  }
});
