/**
 * An entry whose stream report is stored before the execute job stores the broker's answer to
 * its send (the fill or a rejection comes over the stream first, as it can for a market order):
 * the trader never cancelled, so the decision settles as a plain send, never as a cancel that
 * came too late or a trade "cancelled as its entry was sent". Run in this process (the execute
 * processor called directly) against real PostgreSQL and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("execute-stream-first");
});
afterAll(async () => {
  await t?.close();
});

async function noticesAbout(symbol: string) {
  const rows = await t.db.db.select().from(notificationOutbox).orderBy(notificationOutbox.id);
  return rows
    .filter((row) => row.payload.symbol === symbol)
    .map((row) => ({ kind: row.kind, ...row.payload }) as Record<string, unknown>);
}

describe("a send whose stream report is stored before its answer", () => {
  it("settles a market entry filled over the stream first as executed, with no cancel told", async () => {
    const symbol = TEST_SYMBOLS[24] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const decision = await t.decide({ symbol, entry: null, quantity: "10" });
    const streamFirst: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const sent = await t.broker.submitOrder(request, options);
        if (!sent.ok) return sent;
        // The stream holder stores the fill while the send's answer is still on its way.
        const filled = await t.broker.getOrder(sent.value.brokerOrderId);
        if (!filled.ok || filled.value.status !== "filled") throw new Error("not filled");
        await handler.handle(
          t.accountId,
          "stream",
          brokerOrderToReport(filled.value, t.deps.now()),
        );
        return {
          ok: true,
          value: {
            ...filled.value,
            status: "accepted",
            filledQty: sent.value.filledQty.times(0),
            filledAvgPrice: null,
          },
        };
      },
    };
    expect(
      await executeDecision(
        { ...t.deps, brokerFor: async () => streamFirst },
        decision.id,
        handler,
      ),
    ).toMatchObject({ outcome: "executed" });
    expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("POSITION");
    const kinds = (await noticesAbout(symbol)).map((n) => `${n.kind}${n.code ? `:${n.code}` : ""}`);
    expect(kinds.sort()).toEqual(["ENTRY_SUBMITTED", "ORDER_FILLED"]);
  });

  it("does not give a rejection over the stream first as the trade cancelled as it was sent", async () => {
    const symbol = TEST_SYMBOLS[25] as string;
    const handler = createOrderReportHandler(t.deps);
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const streamFirst: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        const sent = await t.broker.submitOrder(request, options);
        if (!sent.ok) return sent;
        // The venue rejects it after the broker took it; the stream's word is stored first.
        await t.broker.cancelOrder(sent.value.brokerOrderId);
        const rejected = { ...sent.value, status: "rejected" as const };
        await handler.handle(t.accountId, "stream", brokerOrderToReport(rejected, t.deps.now()));
        return sent;
      },
    };
    await executeDecision({ ...t.deps, brokerFor: async () => streamFirst }, decision.id, handler);
    const settled = await findDecision(t.db.db, decision.id);
    expect(settled?.statusReason ?? "").not.toContain("cancelled as its entry was sent");
    const kinds = (await noticesAbout(symbol)).map((n) => `${n.kind}${n.code ? `:${n.code}` : ""}`);
    expect(kinds).not.toContain("ORDER_CANCELED");
  });
});
