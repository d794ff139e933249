/**
 * An AMEND that runs while the entry of the trade it replaces is on its way to the broker: the
 * amendment's cancel finds that entry unsent and ends it in the books, but the send already made
 * cannot be called back, and the broker may fill it. The amended entry must not go out on top of
 * it. Run in this process (the execute processor called directly) against real PostgreSQL and
 * the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor, type ExecuteResult } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("amend-racing-send");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade, opts: { attempts: 8 } } as unknown as Job;
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  return found.ok ? found.value : null;
}

async function brokerPosition(symbol: string): Promise<string> {
  const p = await t.broker.getPosition(symbol);
  return p.ok ? p.value.qty.toFixed() : "0";
}

describe("AMEND while the replaced entry's send is in flight", () => {
  it("sends no amended entry on top of an old market entry the broker filled", async () => {
    const symbol = TEST_SYMBOLS[20] as string;
    const handler = createOrderReportHandler(t.deps);
    const execute = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const old = await t.decide({ symbol, entry: null, quantity: "10" });
    const amended = await t.decide({ symbol, entry: null, quantity: "10" });
    let amendWhileInFlight: ExecuteResult | Error | null = null;
    // The trader amends the trade as its market entry is on the way: the amendment runs between
    // the entry's record and its arrival at the broker, which then fills it at once.
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (request.clientOrderId === entryClientOrderId(old.id)) {
          const oldTradeId = (await findTradeByDecision(t.db.db, old.id))?.id ?? 0;
          amendWhileInFlight = await execute(
            jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTradeId }),
          ).catch((error: Error) => error);
        }
        return t.broker.submitOrder(request, options);
      },
    };
    const sending = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    await sending(jobOf({ action: "NEW_TRADE", decisionId: old.id }));
    expect((await brokerEntry(old.id))?.status).toBe("filled");

    // The amendment did not send its entry while the old one's fate was unknown ...
    expect(amendWhileInFlight).not.toMatchObject({ outcome: "executed" });
    // ... and its retry, the old entry filled, refuses it: 10 shares held, as planned.
    const oldTradeId = (await findTradeByDecision(t.db.db, old.id))?.id ?? 0;
    const retried = await execute(
      jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTradeId }, 1),
    );
    expect(retried).toMatchObject({ outcome: "refused", codes: ["REPLACED_TRADE_FILLED"] });
    expect(await brokerEntry(amended.id)).toBeNull();
    expect(await brokerPosition(symbol)).toBe("10");
    expect((await findDecision(t.db.db, amended.id))?.status).toBe("failed");
    expect((await findTradeByDecision(t.db.db, old.id))?.trade.status).toBe("POSITION");
  });

  it("refuses and tells, on its last attempt, an amendment still waiting for the old entry's send", async () => {
    const symbol = TEST_SYMBOLS[21] as string;
    const handler = createOrderReportHandler(t.deps);
    const execute = createExecuteProcessor(t.deps, { handler });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const old = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const amended = await t.decide({ symbol, entry: "99.50", quantity: "10" });
    let amendWhileInFlight: ExecuteResult | Error | null = null;
    const racing: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (request.clientOrderId === entryClientOrderId(old.id)) {
          const oldTradeId = (await findTradeByDecision(t.db.db, old.id))?.id ?? 0;
          amendWhileInFlight = await execute(
            jobOf({ action: "AMEND", decisionId: amended.id, replacesTradeId: oldTradeId }, 7),
          ).catch((error: Error) => error);
        }
        return t.broker.submitOrder(request, options);
      },
    };
    const sending = createExecuteProcessor(
      { ...t.deps, brokerFor: async () => racing },
      { handler },
    );
    await sending(jobOf({ action: "NEW_TRADE", decisionId: old.id }));

    expect(amendWhileInFlight).toMatchObject({
      outcome: "refused",
      decisionId: amended.id,
      codes: ["REPLACED_ENTRY_UNSETTLED"],
    });
    expect(await brokerEntry(amended.id)).toBeNull();
    const decision = await findDecision(t.db.db, amended.id);
    expect(decision?.status).toBe("failed");
    expect(decision?.statusReason).toContain("REPLACED_ENTRY_UNSETTLED");
    const rows = await t.db.db.select().from(notificationOutbox);
    const told = rows.filter(
      (row) => row.payload.symbol === symbol && row.payload.code === "REPLACED_ENTRY_UNSETTLED",
    );
    expect(told).toHaveLength(1);
    // The old entry arrived and was cancelled there by its own job.
    expect((await brokerEntry(old.id))?.status).toBe("canceled");
  });
});
