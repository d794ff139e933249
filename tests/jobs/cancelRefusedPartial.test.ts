/**
 * An entry the trader's cancel ended in the books while its send was on the way, which the broker
 * took, filled in part and then refused to cancel (403): the rest still works there and can fill.
 * The books must show it working with what it filled counted once, its trade holding the filled
 * part (protected), and a halt's sweep must cancel the rest. Run in this process (the execute
 * processor called directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listFillsForOrder } from "../../db/fills";
import { listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createExecuteProcessor } from "../../jobs/execute";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import type { ExecutePayload } from "../../jobs/queues";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("cancel-refused-partial");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload): Job {
  return { data, attemptsMade: 0 } as unknown as Job;
}

async function brokerEntry(decisionId: number) {
  const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decisionId));
  return found.ok ? found.value : null;
}

/**
 * Runs a decision whose entry the trader cancels while its send is on the way; the broker takes
 * it, `arrived` runs on it (a partial fill, the market closing...), and every cancel of it is
 * answered 403 from then on. Answers the decision's id and what the protect job was asked for.
 */
async function cancelledOnTheWay(
  symbol: string,
  arrived: (brokerOrderId: string) => Promise<void>,
  options: { readonly stream?: boolean; readonly beforeSend?: () => Promise<void> } = {},
) {
  const protections: { tradeId: number; reason: string }[] = [];
  const deps = {
    ...t.deps,
    jobs: {
      ...t.deps.jobs,
      async requestProtection(_accountId: number, tradeId: number, reason: string) {
        protections.push({ tradeId, reason });
      },
    },
  } as typeof t.deps;
  const handler = createOrderReportHandler(deps);
  const cancelling = createExecuteProcessor(deps, { handler });
  await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
  const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
  const racing: Broker = {
    ...t.broker,
    async submitOrder(request, submitOptions) {
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
      await options.beforeSend?.();
      const submitted = await t.broker.submitOrder(request, submitOptions);
      if (submitted.ok) {
        await arrived(submitted.value.brokerOrderId);
        if (options.stream) {
          // The stream's report of what happened there reaches the books first.
          const now = await t.broker.getOrder(submitted.value.brokerOrderId);
          if (now.ok)
            await handler.handle(
              t.accountId,
              "stream",
              brokerOrderToReport(now.value, t.deps.now()),
            );
        }
        await t.sim.control("/sim/faults", {
          method: "DELETE",
          path: `/v2/orders/${submitted.value.brokerOrderId}`,
          status: 403,
          times: true,
        });
      }
      return submitted;
    },
  };
  try {
    expect(
      await executeDecision({ ...deps, brokerFor: async () => racing }, decision.id, handler),
    ).toMatchObject({
      outcome: "executed",
      decisionId: decision.id,
    });
  } finally {
    await t.sim.control("/sim/faults", { clear: true });
  }
  return { decision, handler, protections };
}

/** One execution of at most 4 shares of the resting buy at 100.05, the price then moving away. */
async function fillFour(symbol: string): Promise<void> {
  await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
  await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
  await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: null });
}

describe("an entry filled in part before the broker refused the cancel", () => {
  for (const stream of [false, true]) {
    it(`shows the rest working, counts the fill once and sweeps it on a halt${stream ? " (the fill reported first)" : ""}`, async () => {
      const symbol = TEST_SYMBOLS[stream ? 31 : 32] as string;
      const { decision, handler, protections } = await cancelledOnTheWay(
        symbol,
        () => fillFour(symbol),
        { stream },
      );
      const atBroker = await brokerEntry(decision.id);
      expect(atBroker).toMatchObject({ status: "partially_filled" });
      expect(atBroker?.filledQty.toFixed()).toBe("4");

      const trade = await findTradeByDecision(t.db.db, decision.id);
      const tradeId = trade?.id ?? 0;
      const [entry] = await listOrdersForTrade(t.db.db, tradeId);
      expect(entry?.order).toMatchObject({
        status: "partially_filled",
        brokerOrderId: atBroker?.brokerOrderId,
      });
      expect(entry?.order.filledQuantity.toFixed()).toBe("4");
      const fills = await listFillsForOrder(t.db.db, entry?.id ?? 0);
      expect(fills.map((f) => f.quantity.toFixed())).toEqual(["4"]);
      expect(trade?.trade.status).toBe("POSITION");
      expect(trade?.trade.entryQuantity.toFixed()).toBe("4");
      expect(trade?.trade.quantity.toFixed()).toBe("4");
      expect((await findPosition(t.db.db, t.accountId, symbol))?.position.quantity.toFixed()).toBe(
        "4",
      );
      // The filled part is protected: the bracket's stop, ended with the entry in the books,
      // works again with the broker's id, and the protect job asked for finds it covered.
      expect(protections).toContainEqual({ tradeId, reason: "entry_fill" });
      const brokerStop = atBroker?.legs.find((leg) => leg.type === "stop");
      const stop = (await listOrdersForTrade(t.db.db, tradeId)).find(
        (o) => o.order.role === "STOP_LOSS",
      );
      expect(stop?.order).toMatchObject({
        status: brokerStop?.status,
        brokerOrderId: brokerStop?.brokerOrderId,
      });
      const protect = createProtectProcessor(t.deps, { handler });
      expect(
        await protect.protectTrade(
          { accountId: t.accountId, tradeId, reason: "entry_fill", fillId: null },
          false,
        ),
      ).toMatchObject({ outcome: "covered", sent: 0, openQuantity: "4" });

      // A halt's sweep of working entries cancels the rest at the broker.
      const swept = await createKillSwitch(t.deps, handler).cancelWorkingEntries(t.accountId);
      expect(swept.cancelled).toContain(entryClientOrderId(decision.id));
      expect((await brokerEntry(decision.id))?.status).toBe("canceled");
      const [ended] = await listOrdersForTrade(t.db.db, tradeId);
      expect(ended?.order.status).toBe("canceled");
      expect(ended?.order.filledQuantity.toFixed()).toBe("4");
      expect(await listFillsForOrder(t.db.db, ended?.id ?? 0)).toHaveLength(1);
      const after = await findTradeByDecision(t.db.db, decision.id);
      expect(after?.trade.status).toBe("POSITION");
      expect(after?.trade.entryQuantity.toFixed()).toBe("4");
      // Its legs went with it: the 4 shares get a stop of their own.
      await protect.protectTrade(
        { accountId: t.accountId, tradeId, reason: "entry_ended", fillId: null },
        false,
      );
      const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: true });
      if (!open.ok) throw new Error(open.message);
      const stops = open.value
        .flatMap((o) => [o, ...o.legs])
        .filter((o) => o.type === "stop" && o.side === "sell" && o.status !== "canceled");
      expect(stops.map((o) => o.qty?.toFixed())).toEqual(["4"]);
    });
  }

  it("takes the broker's status when the refused entry is accepted there, not yet new", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    try {
      // The market closes as the entry is sent: the broker accepts it for the next open.
      const { decision, handler } = await cancelledOnTheWay(symbol, async () => {}, {
        beforeSend: async () => {
          await t.sim.control("/sim/market", { open: false });
        },
      });
      const atBroker = await brokerEntry(decision.id);
      expect(atBroker?.status).toBe("accepted");
      const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
      const [entry] = await listOrdersForTrade(t.db.db, tradeId);
      expect(entry?.order).toMatchObject({
        status: "accepted",
        brokerOrderId: atBroker?.brokerOrderId,
      });
      expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");
      // Polled again, the broker's view is no news: nothing differs, nothing is refused.
      const again = await handler.handle(
        t.accountId,
        "poll",
        brokerOrderToReport(atBroker as NonNullable<typeof atBroker>, t.deps.now()),
      );
      expect(again.updates).toHaveLength(0);
      const swept = await createKillSwitch(t.deps, handler).cancelWorkingEntries(t.accountId);
      expect(swept.cancelled).toContain(entryClientOrderId(decision.id));
      const [ended] = await listOrdersForTrade(t.db.db, tradeId);
      expect(ended?.order.status).toBe("canceled");
      expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("CANCELLED");
    } finally {
      await t.sim.control("/sim/market", { open: null });
    }
  });
});
