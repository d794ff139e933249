/**
 * The protect job that follows an entry fill's inline protection as its safety net: withdrawn
 * once the fill's exits are at the broker and stored (it would only find them there), kept when
 * they are not (its run places them).
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import type { JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderEventsProcessor } from "../../jobs/orderEvents";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor, protectiveClientOrderIdPrefix } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("protect-safety-net");
});
afterAll(async () => {
  await t?.close();
});

/** The trade's protect jobs still waiting to run. */
async function waitingProtection(tradeId: number): Promise<number> {
  const jobs = await t.queues.protect.getJobs(["delayed", "waiting", "prioritized"]);
  return jobs.filter((j) => (j.data as { tradeId?: number }).tradeId === tradeId).length;
}

/**
 * Executes a market entry sent without a bracket, waits for its fill at the broker and hands the
 * fill to the order-events processor with inline protection, through `deps`.
 */
async function fillWithInlineProtection(symbol: string, deps: JobDeps): Promise<number> {
  await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
  const decision = await t.decide({ symbol, entry: null, quantity: "5" });
  const handler = createOrderReportHandler(deps);
  const executed = await executeDecision(deps, decision.id, handler);
  expect(executed).toMatchObject({ outcome: "executed" });
  const filled = await waitFor(async () => {
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    return found.ok && found.value.status === "filled" ? found.value : null;
  });
  const { protectInline } = createProtectProcessor(deps, { handler });
  const process = createOrderEventsProcessor(deps, { handler, protectInline });
  await process({
    data: {
      kind: "report",
      accountId: t.accountId,
      source: "stream",
      report: brokerOrderToReport(filled, deps.now()),
    },
    attemptsStarted: 1,
    attemptsMade: 0,
  } as unknown as Job);
  const trade = await findTradeByDecision(t.db.db, decision.id);
  expect(trade?.trade.status).toBe("POSITION");
  return trade?.id ?? -1;
}

function unbracketed(brokerFor: JobDeps["brokerFor"]): JobDeps {
  return { ...t.deps, brokerFor, settings: { ...t.deps.settings, nativeBrackets: false } };
}

describe("the safety net behind an inline protection", () => {
  it("is withdrawn once the fill's exits are at the broker", async () => {
    const tradeId = await fillWithInlineProtection(
      TEST_SYMBOLS[30] as string,
      unbracketed(t.deps.brokerFor),
    );
    const open = await t.broker.listOrders({ status: "open", limit: 500, nested: true });
    expect(
      open.ok &&
        open.value.some((o) => o.clientOrderId.startsWith(protectiveClientOrderIdPrefix(tradeId))),
    ).toBe(true);
    expect(await waitingProtection(tradeId)).toBe(0);
  });

  it("stays when the exits could not be sent", async () => {
    // The broker is unreachable for the exits only: the entry goes out, its stop does not.
    const failingExits = async (accountId: number): Promise<Broker> => {
      const broker = await t.deps.brokerFor(accountId);
      return {
        ...broker,
        submitOrder: (request, options) =>
          request.clientOrderId.startsWith("d")
            ? broker.submitOrder(request, options)
            : Promise.resolve({
                ok: false as const,
                retryable: true,
                code: "NETWORK" as const,
                message: "connection reset",
              }),
      };
    };
    await expect(
      fillWithInlineProtection(TEST_SYMBOLS[31] as string, unbracketed(failingExits)),
    ).rejects.toThrow("exit not placed yet");
    const trade = await waitFor(async () => {
      const found = await t.queues.protect.getJobs(["delayed"]);
      return found.find((j) => (j.data as { reason?: string }).reason === "entry_fill") ?? null;
    });
    expect(await waitingProtection((trade.data as { tradeId: number }).tradeId)).toBe(1);
  });
});
