/**
 * A confirmed plan's message before the broker has acknowledged its entry: the entry is recorded
 * (the trade ORDERED) but every send so far failed before the broker took it, so it has no broker
 * id. The message must not say the entry is working at the broker until the broker answered.
 */
import type { Job } from "bullmq";
import { type Api, GrammyError } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followDecision, readOrderProgress } from "../../bot/features/planFollow";
import { findTradeByDecision } from "../../db/trades";
import { createExecuteProcessor } from "../../jobs/execute";
import { createOrderReportHandler } from "../../jobs/orderReports";
import type { ExecutePayload } from "../../jobs/queues";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "../jobs/harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("plan-follow-sending");
});
afterAll(async () => {
  await t?.close();
});

function jobOf(data: ExecutePayload, attemptsMade = 0): Job {
  return { data, attemptsMade } as unknown as Job;
}

describe("a plan's message before the broker acknowledged the entry", () => {
  it("says the entry is being sent, then working once the broker took it", async () => {
    const symbol = TEST_SYMBOLS[39] as string;
    const execute = createExecuteProcessor(t.deps, { handler: createOrderReportHandler(t.deps) });
    await t.sim.control("/sim/quotes", { symbol, bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      times: 2,
    });
    await expect(execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }))).rejects.toThrow(
      /not sent yet/,
    );
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");
    const unsent = await readOrderProgress({ db: t.db.db }, decision.id);
    expect(unsent).toEqual({ line: "Sending to the broker…", done: false });

    await execute(jobOf({ action: "NEW_TRADE", decisionId: decision.id }, 1));
    const working = await readOrderProgress({ db: t.db.db }, decision.id);
    expect(working).toEqual({
      line: "Submitted: the entry is working at the broker.",
      done: false,
    });
  });

  it("says the message is no longer updated when the follow ends before the order settles", async () => {
    const symbol = TEST_SYMBOLS[38] as string;
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    const edits: string[] = [];
    const api = {
      async editMessageText(_chatId: number, _messageId: number, text: string) {
        edits.push(text);
        return true;
      },
    } as unknown as Api;
    followDecision(
      api,
      { db: t.db.db, logger: t.deps.logger },
      { chatId: 1, messageId: 1, decisionId: decision.id, render: (line) => `card\n${line}` },
      { intervalMs: 20, maxMs: 200 },
    );
    await waitFor(async () => edits.length > 0, 5_000, "the first edit");
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Left as it was, the message would say "Sending to the broker…" for good.
    expect(edits.at(-1)).toBe(
      "card\nSending to the broker…\n<i>No longer updated here: /orders and /positions show where it stands.</i>",
    );
  });

  it("stops following a message Telegram refuses to edit for good", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    let calls = 0;
    const api = {
      async editMessageText() {
        calls += 1;
        // The trader deleted the card: each edit would be refused, one a second, for 10 minutes,
        // each taking the chat's turn from the bot's replies.
        throw new GrammyError(
          "Call to 'editMessageText' failed!",
          { ok: false, error_code: 400, description: "Bad Request: message to edit not found" },
          "editMessageText",
          {},
        );
      },
    } as unknown as Api;
    const stop = followDecision(
      api,
      { db: t.db.db, logger: t.deps.logger },
      { chatId: 1, messageId: 1, decisionId: decision.id, render: (line) => line },
      { intervalMs: 20, maxMs: 60_000 },
    );
    try {
      await waitFor(async () => calls > 0, 5_000, "the first edit");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(calls).toBe(1);
    } finally {
      stop();
    }
  });
});
