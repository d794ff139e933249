/**
 * The `order-events` processor: a report whose earlier handling failed partway asks for the
 * entry's protection even when it finds the fill already applied (that handling may have died
 * between the fill's commit and its exits).
 */
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTradeByDecision } from "../../db/trades";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import type { JobClient } from "../../jobs/client";
import type { JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createOrderEventsProcessor } from "../../jobs/orderEvents";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { OrderEventsPayload } from "../../jobs/queues";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

const DAY_MS = 24 * 3600 * 1000;

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("order-events");
});
afterAll(async () => {
  await t?.close();
});

/** The deps with the job client's protection requests noted (and, when `failing`, refused). */
function noting(failing: boolean) {
  const asked: Parameters<JobClient["requestProtection"]>[] = [];
  const jobs: JobClient = {
    ...t.jobs,
    async requestProtection(...args) {
      asked.push(args);
      if (failing) throw new Error("Redis went away");
    },
  };
  const deps: JobDeps = {
    ...t.deps,
    jobs,
    settings: { ...t.deps.settings, nativeBrackets: false },
  };
  return { deps, asked };
}

function reportJob(payload: OrderEventsPayload): Job {
  return { data: payload, attemptsStarted: 1, attemptsMade: 0 } as unknown as Job;
}

describe("order-events", () => {
  it("asks for an entry's protection when a report comes back after a handling that failed partway", async () => {
    const symbol = TEST_SYMBOLS[38] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: null, quantity: "4" });
    const sending = noting(false);
    const executed = await executeDecision(sending.deps, decision.id);
    expect(executed).toMatchObject({ outcome: "executed" });
    const filled = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    const payload: OrderEventsPayload = {
      kind: "report",
      accountId: t.accountId,
      source: "poll",
      report: brokerOrderToReport(filled, t.deps.now()),
    };

    // The first handling applies the fill, then dies asking for the exits.
    const dying = noting(true);
    await expect(
      createOrderEventsProcessor(dying.deps, { handler: createOrderReportHandler(dying.deps) })(
        reportJob(payload),
      ),
    ).rejects.toThrow("Redis went away");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect(trade?.trade.status).toBe("POSITION");
    expect(dying.asked.map(([, tradeId, reason]) => [tradeId, reason])).toEqual([
      [trade?.id, "entry_fill"],
    ]);

    // Handed over as a plain report, the fill is found applied and nothing is asked for.
    const plain = noting(false);
    const processPlain = createOrderEventsProcessor(plain.deps, {
      handler: createOrderReportHandler(plain.deps),
    });
    expect(await processPlain(reportJob(payload))).toMatchObject({ known: true, changes: 0 });
    expect(plain.asked).toEqual([]);

    // Handed over as redelivered, the protection is asked for all the same.
    const redelivered = noting(false);
    const processRedelivered = createOrderEventsProcessor(redelivered.deps, {
      handler: createOrderReportHandler(redelivered.deps),
    });
    expect(await processRedelivered(reportJob({ ...payload, redelivered: true }))).toMatchObject({
      known: true,
      changes: 0,
    });
    expect(redelivered.asked.map(([, tradeId, reason]) => [tradeId, reason])).toEqual([
      [trade?.id, "entry_fill"],
    ]);
  });

  it("polls the fill of a working order submitted before the poll's lookback", async () => {
    const symbol = TEST_SYMBOLS[36] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: "99.50", quantity: "3" });
    const { deps } = noting(false);
    const executed = await executeDecision(deps, decision.id);
    expect(executed).toMatchObject({ outcome: "executed" });
    // The entry rests; the quote falls through its limit and it fills, the stream's word of it
    // lost (nobody holds the stream here).
    await t.sim.control("/sim/quotes", { symbol, bid: "99.40", ask: "99.45" });
    await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
      return found.ok && found.value.status === "filled";
    });
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");

    // The poll runs two days after the order was submitted (a GTC order placed days before).
    const later: JobDeps = { ...deps, now: () => new Date(deps.now().getTime() + 2 * DAY_MS) };
    const poll = createOrderEventsProcessor(later, { handler: createOrderReportHandler(later) });
    const polled = await poll({
      data: { kind: "poll", accountId: t.accountId, reason: "scheduled" },
      attemptsStarted: 1,
      attemptsMade: 0,
    } as unknown as Job);
    expect(polled).toMatchObject({ kind: "poll", handled: 1 });
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("POSITION");
  });

  it("reads no order by id for a position's exits that are still open, however old", async () => {
    const symbol = TEST_SYMBOLS[35] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: null, quantity: "2" });
    const handler = createOrderReportHandler(t.deps);
    const executed = await executeDecision(t.deps, decision.id, handler);
    expect(executed).toMatchObject({ outcome: "executed" });
    const entry = await waitFor(async () => {
      const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
      return found.ok && found.value.status === "filled" ? found.value : null;
    });
    expect(entry.orderClass).toBe("bracket");
    await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, t.deps.now()));

    // Two days on, the bracket's exits still work at the broker: nothing to read one by one.
    let reads = 0;
    const counting = {
      ...t.broker,
      getOrder: (id: string) => {
        reads += 1;
        return t.broker.getOrder(id);
      },
    };
    const later: JobDeps = {
      ...t.deps,
      brokerFor: () => counting,
      now: () => new Date(t.deps.now().getTime() + 2 * DAY_MS),
    };
    const poll = createOrderEventsProcessor(later, { handler: createOrderReportHandler(later) });
    expect(
      await poll({
        data: { kind: "poll", accountId: t.accountId, reason: "scheduled" },
        attemptsStarted: 1,
        attemptsMade: 0,
      } as unknown as Job),
    ).toMatchObject({ kind: "poll", handled: 0 });
    expect(reads).toBe(0);
  });
});
