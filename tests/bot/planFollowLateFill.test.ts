/**
 * A confirmed plan's message while the trader's cancel races the entry's send: the cancel ends the
 * entry in the books (the trade CANCELLED), the broker takes and fills it anyway, and the execute
 * job's retry stores the fill on the same trade (CANCELLED → POSITION). The message must not call
 * the entry cancelled while the decision is still being executed, and must show the fill. Run in
 * this process (the execute processor called directly) against real PostgreSQL and the simulator.
 */
import type { Job } from "bullmq";
import type { Api } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followDecision } from "../../bot/features/planFollow";
import { findDecision } from "../../db/decisions";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "../jobs/harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("plan-follow-late-fill");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

describe("a plan's message while a cancel races the entry's send", () => {
  it("keeps following through the cancelled moment and shows the late fill", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    await t.sim.control("/sim/quotes", { symbol, bid: "100.00", ask: "100.02" });
    const decision = await t.decide({ symbol, entry: null, quantity: "10" });

    // The message's edits, as the bot would send them to Telegram.
    const edits: string[] = [];
    const api = {
      async editMessageText(_chatId: number, _messageId: number, text: string) {
        edits.push(text);
        return true;
      },
    } as unknown as Api;
    const stopFollowing = followDecision(
      api,
      { db: t.db.db, logger: t.deps.logger },
      { chatId: 1, messageId: 1, decisionId: decision.id, render: (line) => line },
      { intervalMs: 20, maxMs: 60_000 },
    );

    try {
      const handler = createOrderReportHandler(t.deps);
      const cancelling = createExecuteProcessor(t.deps, { handler });
      // The cancel ends the entry in the books while it is in flight; the message is read in that
      // moment; then the broker takes the market order, fills it, and its answer is lost.
      const racing: Broker = {
        ...t.broker,
        async submitOrder(request, options) {
          const tradeId = (await findTradeByDecision(t.db.db, decision.id))?.id ?? 0;
          await cancelling(
            jobOf({
              action: "CANCEL",
              accountId: t.accountId,
              tradeId,
              reason: "no longer wanted",
              requestedBy: "user:1",
            }),
          );
          expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("CANCELLED");
          await waitFor(
            async () => edits.some((line) => /cancel/i.test(line)),
            10_000,
            "the message to show the cancel",
          );
          const sent = await t.broker.submitOrder(request, options);
          if (!sent.ok) return sent;
          return { ok: false, code: "NETWORK", message: "socket hang up", retryable: true };
        },
      };
      const execute = createExecuteProcessor(
        { ...t.deps, brokerFor: async () => racing },
        { handler },
      );
      await expect(
        execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id })),
      ).rejects.toThrow(/not sent yet/);
      await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));
      expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("POSITION");
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("executed");

      // The message followed on and shows the position; it never said the entry was cancelled.
      await waitFor(
        async () => /^Filled 10 @ \$\d/.test(edits.at(-1) ?? ""),
        5_000,
        "the message to show the fill",
      ).catch(() => {
        throw new Error(`the message never showed the fill: ${JSON.stringify(edits)}`);
      });
      expect(edits.some((line) => /Entry cancelled/.test(line))).toBe(false);
    } finally {
      stopFollowing();
    }
  });

  it("ends on the decision's failure when the cancel held before the entry reached the broker", async () => {
    const symbol = TEST_SYMBOLS[38] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const edits: string[] = [];
    const api = {
      async editMessageText(_chatId: number, _messageId: number, text: string) {
        edits.push(text);
        return true;
      },
    } as unknown as Api;
    const stopFollowing = followDecision(
      api,
      { db: t.db.db, logger: t.deps.logger },
      { chatId: 1, messageId: 1, decisionId: decision.id, render: (line) => line },
      { intervalMs: 20, maxMs: 60_000 },
    );
    try {
      // Both sends of the first run fail before the broker takes the order; the trader cancels
      // the recorded entry; the retry then finds it ended and fails the decision.
      await t.sim.control("/sim/faults", {
        method: "POST",
        path: "/v2/orders",
        status: 500,
        times: 2,
      });
      await expect(
        execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id })),
      ).rejects.toThrow(/not sent yet/);
      const trade = await findTradeByDecision(t.db.db, decision.id);
      await execute(
        jobOf({
          action: "CANCEL",
          accountId: t.accountId,
          tradeId: trade?.id ?? 0,
          reason: "no longer wanted",
          requestedBy: "user:1",
        }),
      );
      await waitFor(
        async () => edits.some((line) => /^Cancelling/.test(line)),
        10_000,
        "the message to show the cancel being settled",
      );
      await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("failed");
      await waitFor(
        async () => /^<b>Not executed<\/b>/.test(edits.at(-1) ?? ""),
        5_000,
        "the message to show the decision's end",
      );
    } finally {
      stopFollowing();
    }
  });
});
