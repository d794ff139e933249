/**
 * The execute job against the simulator's failures and timing: 429 and 500 while submitting (one
 * order, never two), an entry recorded before a halt and retried after it (never sent), a broker
 * refusal (decision failed, trader told), the execution window
 * (a decision approved outside it waits for the next opening; an entry recorded in it and not
 * sent when it closes is refused, never sent late), CANCEL and AMEND.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState } from "../../db/brokerAccounts";
import { claimDecisionForExecution, findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import { buildTradingCalendar } from "../../domain/calendar";
import { setTradingStateManually } from "../../domain/tradingState";
import { executeJobId } from "../../jobs/client";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { nextExecutionTime } from "../../jobs/marketCalendar";
import type { WorkerRuntime } from "../../jobs/worker";
import { type Lifecycle, OWNER_CHAT, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;
let runtime: WorkerRuntime;

interface SimOrder {
  symbol: string;
  client_order_id: string;
  status: string;
}

async function brokerOrdersFor(clientOrderId: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  return state.orders.filter((o) => o.client_order_id === clientOrderId);
}

async function decisionIn(id: number, status: string) {
  return waitFor(
    async () => {
      const d = await findDecision(t.db.db, id);
      return d?.status === status ? d : null;
    },
    20_000,
    `decision ${status}`,
  );
}

beforeAll(async () => {
  t = await openLifecycle("execute");
  runtime = await t.startRuntime({ streams: true });
});
afterAll(async () => {
  await t?.close();
});

describe("execute", () => {
  it("sends one order when the broker answers 500 after taking it and the lookup fails too", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T05", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T05", entry: "99.00" });
    // The order lands but the answer is a 500; the lookups that follow fail as well, so the
    // job cannot know and retries later, looking the order up before posting again.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      afterHandling: true,
    });
    await t.sim.control("/sim/faults", {
      method: "GET",
      path: "/v2/orders:by_client_order_id",
      status: 500,
      times: 3,
    });
    await t.jobs.executeDecision(decision.id);
    await decisionIn(decision.id, "executed");
    const job = await t.queues.execute.getJob(executeJobId(decision.id));
    expect(job?.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(1);
    const trade = await findTradeByDecision(t.db.db, decision.id);
    const orders = trade ? await listOrdersForTrade(t.db.db, trade.id) : [];
    expect(orders.find((o) => o.order.role === "ENTRY")?.order.brokerOrderId).not.toBeNull();
  });

  it("sends one order when a 429 answers an order the broker took", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T06", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T06", entry: "99.00" });
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 429,
      afterHandling: true,
      // The broker's pause, which the adapter waits before looking the order up.
      retryAfterSeconds: 1,
    });
    await t.jobs.executeDecision(decision.id);
    await decisionIn(decision.id, "executed");
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(1);
  });

  it("does not send an entry recorded before a halt when its retry comes after it", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T08", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T08", entry: "99.00" });
    // The first sends fail before the broker takes the order; the entry is recorded and retried.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      times: 3,
    });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => {
      const trade = await findTradeByDecision(t.db.db, decision.id);
      const orders = trade ? await listOrdersForTrade(t.db.db, trade.id) : [];
      return orders.some((o) => o.order.role === "ENTRY") ? true : null;
    });
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("HALTED", "/halt by a test", Date.now()),
      "test",
      new Date(),
    );
    const failed = await decisionIn(decision.id, "failed");
    expect(failed.statusReason).toContain("TRADING_HALTED");
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
    await changeTradingState(
      t.db.db,
      t.accountId,
      () => setTradingStateManually("ACTIVE", "test over", Date.now()),
      "test",
      new Date(),
    );
  });

  it("fails the decision with the broker's code when the broker refuses the order", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T07", bid: "100.20", ask: "100.22" });
    const decision = await t.decide({ symbol: "T07", entry: "99.00" });
    await t.sim.control("/sim/faults", { method: "POST", path: "/v2/orders", status: 422 });
    await t.jobs.executeDecision(decision.id);
    const failed = await decisionIn(decision.id, "failed");
    expect(failed.statusReason).toContain("INVALID");
    const trade = await waitFor(async () => {
      const tr = await findTradeByDecision(t.db.db, decision.id);
      return tr?.trade.status === "CANCELLED" ? tr : null;
    });
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    // The bracket's held legs went with it: nothing of the trade is left working in the books.
    expect(orders.map((o) => [o.order.role, o.order.status]).sort()).toEqual([
      ["ENTRY", "rejected"],
      ["STOP_LOSS", "rejected"],
      ["TAKE_PROFIT", "rejected"],
    ]);
    expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
  });

  it("cancels a working entry (CANCEL) and replaces a trade (AMEND: cancel, then the new entry)", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T08", bid: "100.20", ask: "100.22" });
    const first = await t.decide({ symbol: "T08", entry: "99.00" });
    await t.jobs.executeDecision(first.id);
    await decisionIn(first.id, "executed");
    const firstTrade = await waitFor(() => findTradeByDecision(t.db.db, first.id));
    const amended = await t.decide({ symbol: "T08", entry: "99.50", quantity: "12" });
    await t.jobs.executeDecision(amended.id, { amendsTradeId: firstTrade.id });
    await decisionIn(amended.id, "executed");
    expect((await findTradeByDecision(t.db.db, first.id))?.trade.status).toBe("CANCELLED");
    expect((await brokerOrdersFor(entryClientOrderId(first.id)))[0]?.status).toBe("canceled");
    expect((await brokerOrdersFor(entryClientOrderId(amended.id)))[0]?.status).toBe("new");

    const amendedTrade = await waitFor(() => findTradeByDecision(t.db.db, amended.id));
    await t.jobs.cancelTrade(t.accountId, amendedTrade.id, "no longer wanted", "user:1");
    await waitFor(async () => {
      const tr = await findTradeByDecision(t.db.db, amended.id);
      return tr?.trade.status === "CANCELLED";
    });
    expect((await brokerOrdersFor(entryClientOrderId(amended.id)))[0]?.status).toBe("canceled");
  });

  it("refuses a short trade beside a long in the same symbol, without sending it", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T14", bid: "100.20", ask: "100.22" });
    const long = await t.decide({ symbol: "T14", entry: null, quantity: "10" });
    await t.jobs.executeDecision(long.id);
    await decisionIn(long.id, "executed");
    await waitFor(async () => {
      const held = await t.broker.getPosition("T14");
      return held.ok && held.value.qty.eq(10) ? true : null;
    });
    // A sell of 4 would only shrink the long at the broker: the trade would not exist.
    const short = await t.decide({
      symbol: "T14",
      side: "sell",
      entry: null,
      quantity: "4",
      stop: "105.00",
      target: "90.00",
    });
    await t.jobs.executeDecision(short.id);
    const refused = await decisionIn(short.id, "failed");
    expect(refused.statusReason).toContain("OPPOSITE_POSITION");
    expect(await brokerOrdersFor(entryClientOrderId(short.id))).toHaveLength(0);
  });

  it("counts working entries in the fresh snapshot: a second entry past the position limit is refused", async () => {
    await t.sim.control("/sim/quotes", { symbol: "T13", bid: "100.20", ask: "100.22" });
    // Equity 10,000,000, position limit 50%: 30,000 shares at 99 fit once, not twice.
    const first = await t.decide({
      symbol: "T13",
      entry: "99.00",
      stop: "96.00",
      quantity: "30000",
    });
    await t.jobs.executeDecision(first.id);
    await decisionIn(first.id, "executed");
    const second = await t.decide({
      symbol: "T13",
      entry: "99.10",
      stop: "96.10",
      quantity: "30000",
    });
    await t.jobs.executeDecision(second.id);
    const refused = await decisionIn(second.id, "failed");
    expect(refused.statusReason).toContain("MAX_POSITION_SIZE");
    expect(await brokerOrdersFor(entryClientOrderId(second.id))).toHaveLength(0);
  });

  it("checks racing entries one at a time: of eight sent at once by two workers, only those within the position limit go out", async () => {
    const second = await t.startRuntime({ streams: false });
    try {
      await t.sim.control("/sim/quotes", { symbol: "T21", bid: "100.20", ask: "100.22" });
      // Position limit 50% of 10,000,000: two entries of 20,000 at about 99 fit, a third does not.
      const racing = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          t.decide({
            symbol: "T21",
            entry: (99 - i * 0.01).toFixed(2),
            stop: "96.00",
            quantity: "20000",
          }),
        ),
      );
      await Promise.all(racing.map((d) => t.jobs.executeDecision(d.id)));
      const ended = await waitFor(
        async () => {
          const all = await Promise.all(racing.map((d) => findDecision(t.db.db, d.id)));
          return all.every((d) => d?.status === "executed" || d?.status === "failed") ? all : null;
        },
        30_000,
        "racing decisions",
      );
      expect(ended.filter((d) => d?.status === "executed")).toHaveLength(2);
      const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
      const sent = state.orders.filter(
        (o) => o.symbol === "T21" && o.client_order_id.endsWith("-entry"),
      );
      expect(sent).toHaveLength(2);
    } finally {
      await second.stop();
    }
  });

  it("holds a decision approved outside the execution window until the window opens", async () => {
    await runtime.stop();
    const now = t.deps.now();
    // A window that opened earlier today and is already over: the next one is tomorrow.
    const windowed = await t.startRuntime({
      streams: false,
      settings: { executionWindow: { kind: "window", start: "09:30", end: "09:31" } },
    });
    try {
      const decision = await t.decide({ symbol: "T09", entry: "99.00" });
      await t.jobs.executeDecision(decision.id);
      // 2026-03-03 09:30 New York is 14:30 UTC; the job waits at least until then. A delay of a
      // retry's backoff (a slow first attempt on a loaded machine) is not the window's wait.
      const expectedWait = Date.parse("2026-03-03T14:30:00Z") - now.getTime();
      const runsAt = await waitFor(async () => {
        const j = await t.queues.execute.getJob(executeJobId(decision.id));
        if (!j || (await j.getState()) !== "delayed") return null;
        const at = j.timestamp + (j.delay ?? 0);
        return at - Date.now() > expectedWait - 60_000 ? at : null;
      });
      expect(runsAt - Date.now()).toBeGreaterThan(expectedWait - 60_000);
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("approved");
    } finally {
      await windowed.stop();
    }
  });

  it("does not send after the window closed an entry recorded inside it: refused, the trader told", async () => {
    await runtime.stop();
    // The runtime's clock: the bench's, moved on by the test.
    let shiftMs = 0;
    const clock = () => new Date(t.deps.now().getTime() + shiftMs);
    // 09:35 New York now: inside the window.
    const windowed = await t.startRuntime({
      streams: false,
      now: clock,
      settings: { executionWindow: { kind: "window", start: "09:30", end: "16:00" } },
    });
    try {
      await t.sim.control("/sim/quotes", { symbol: "T10", bid: "100.20", ask: "100.22" });
      const decision = await t.decide({ symbol: "T10", entry: "99.00" });
      // Every send fails before the broker takes the order.
      await t.sim.control("/sim/faults", {
        method: "POST",
        path: "/v2/orders",
        status: 500,
        times: 1_000_000,
      });
      await t.jobs.executeDecision(decision.id);
      // The run that claimed it recorded the entry, failed to send it and ended; a retry is due.
      await waitFor(async () => {
        const j = await t.queues.execute.getJob(executeJobId(decision.id));
        return j && j.attemptsMade >= 1 && (await j.getState()) === "delayed";
      });
      expect((await findDecision(t.db.db, decision.id))?.status).toBe("executing");
      // 16:35 New York: the window has closed, and the broker takes orders again.
      shiftMs = 7 * 3600_000;
      await t.sim.control("/sim/faults", { clear: true });
      const ended = await waitFor(
        async () => {
          // Sent late: the test ends here, failing below.
          if ((await brokerOrdersFor(entryClientOrderId(decision.id))).length > 0) return "sent";
          const d = await findDecision(t.db.db, decision.id);
          return d?.status === "failed" ? d : null;
        },
        20_000,
        "the decision refused",
      );
      expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
      if (ended === "sent") throw new Error("the entry was sent");
      expect(ended.statusReason).toContain("EXECUTION_WINDOW_CLOSED");
      const notices = await t.db.db
        .select()
        .from(notificationOutbox)
        .where(eq(notificationOutbox.dedupeKey, `decision-refused-${decision.id}:${OWNER_CHAT}`));
      expect(notices).toHaveLength(1);
      // Nothing of the trade is left working in the books to go out later.
      const trade = await findTradeByDecision(t.db.db, decision.id);
      const orders = trade ? await listOrdersForTrade(t.db.db, trade.id) : [];
      expect(orders.map((o) => o.order.status)).toEqual(orders.map(() => "rejected"));
      expect(orders.length).toBeGreaterThan(0);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
      await windowed.stop();
    }
  });

  it("holds until the next window a decision claimed inside the window whose entry no run recorded", async () => {
    await runtime.stop();
    let shiftMs = 0;
    const clock = () => new Date(t.deps.now().getTime() + shiftMs);
    const windowed = await t.startRuntime({
      streams: false,
      now: clock,
      settings: { executionWindow: { kind: "window", start: "09:30", end: "16:00" } },
    });
    try {
      await t.sim.control("/sim/quotes", { symbol: "T13", bid: "100.20", ask: "100.22" });
      const decision = await t.decide({ symbol: "T13", entry: "99.00" });
      // Claimed at 09:35 by a run that died before recording anything.
      expect(await claimDecisionForExecution(t.db.db, decision.id, "test", clock())).not.toBeNull();
      // Its job's retry comes at 16:35, after the window.
      shiftMs = 7 * 3600_000;
      await t.jobs.executeDecision(decision.id);
      const nextWindow = Date.parse("2026-03-03T14:30:00Z");
      const job = await waitFor(
        async () => {
          const j = await t.queues.execute.getJob(executeJobId(decision.id));
          if (!j || (await j.getState()) !== "delayed") return null;
          const wait = j.timestamp + (j.delay ?? 0) - Date.now();
          return wait > nextWindow - clock().getTime() - 60_000 ? j : null;
        },
        20_000,
        "the job waiting for the next window",
      );
      expect(await findTradeByDecision(t.db.db, decision.id)).toBeNull();
      expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
      // 09:31 New York the next trading day: checked, recorded and sent once.
      shiftMs = nextWindow + 60_000 - t.deps.now().getTime();
      await job.promote();
      await decisionIn(decision.id, "executed");
      expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(1);
    } finally {
      await windowed.stop();
    }
  });

  it("follows after the window closed an entry the broker took inside it, its answer lost", async () => {
    await runtime.stop();
    let shiftMs = 0;
    const clock = () => new Date(t.deps.now().getTime() + shiftMs);
    const windowed = await t.startRuntime({
      streams: false,
      now: clock,
      settings: { executionWindow: { kind: "window", start: "09:30", end: "16:00" } },
    });
    try {
      await t.sim.control("/sim/quotes", { symbol: "T12", bid: "100.20", ask: "100.22" });
      const decision = await t.decide({ symbol: "T12", entry: "99.00" });
      // The order lands, but neither its answer nor any look-up comes back.
      await t.sim.control("/sim/faults", {
        method: "POST",
        path: "/v2/orders",
        status: 500,
        afterHandling: true,
      });
      await t.sim.control("/sim/faults", {
        method: "GET",
        path: "/v2/orders:by_client_order_id",
        status: 500,
        times: 1_000_000,
      });
      await t.jobs.executeDecision(decision.id);
      await waitFor(async () => {
        const j = await t.queues.execute.getJob(executeJobId(decision.id));
        return j && j.attemptsMade >= 1 && (await j.getState()) === "delayed";
      });
      // Past the window, the broker answers again: the entry it has is followed, not held back.
      shiftMs = 7 * 3600_000;
      await t.sim.control("/sim/faults", { clear: true });
      await decisionIn(decision.id, "executed");
      expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(1);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
      await windowed.stop();
    }
  });

  it("refuses, telling the trader, a decision whose execution window cannot be found once its job gives up", async () => {
    await runtime.stop();
    const windowed = await t.startRuntime({
      streams: false,
      settings: { executionWindow: { kind: "window", start: "09:30", end: "16:00" } },
    });
    try {
      // The broker does not answer for its calendar: when the window opens is unknown.
      await t.sim.control("/sim/faults", {
        method: "GET",
        path: "/v2/calendar",
        status: 500,
        times: 1_000_000,
      });
      const decision = await t.decide({ symbol: "T11", entry: "99.00" });
      // Its own job, with a short retry budget (the queue's default takes two minutes).
      await t.queues.execute.add(
        "NEW_TRADE",
        { action: "NEW_TRADE", decisionId: decision.id },
        { jobId: executeJobId(decision.id), attempts: 2, backoff: { type: "fixed", delay: 100 } },
      );
      // Its job has ended, one way or the other: nothing more will run for the decision.
      await waitFor(async () => {
        const job = await t.queues.execute.getJob(executeJobId(decision.id));
        return job && ["completed", "failed"].includes(await job.getState());
      });
      const failed = await decisionIn(decision.id, "failed");
      expect(failed.statusReason).toContain("CALENDAR_UNAVAILABLE");
      const notices = await t.db.db
        .select()
        .from(notificationOutbox)
        .where(eq(notificationOutbox.dedupeKey, `decision-refused-${decision.id}:${OWNER_CHAT}`));
      expect(notices).toHaveLength(1);
      expect(await brokerOrdersFor(entryClientOrderId(decision.id))).toHaveLength(0);
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
      await windowed.stop();
    }
  });
});

describe("execution window", () => {
  const calendar = buildTradingCalendar([
    { date: "2026-03-02", open: "09:30", close: "16:00" },
    { date: "2026-03-03", open: "09:30", close: "13:00" },
    { date: "2026-03-05", open: "09:30", close: "16:00" },
  ]);
  const window = { kind: "window", start: "09:45", end: "14:00" } as const;

  it("runs at once inside the window, else at the next opening in New York time", () => {
    const inside = new Date("2026-03-02T15:00:00Z");
    expect(nextExecutionTime(calendar, window, inside)).toEqual(inside);
    expect(nextExecutionTime(calendar, window, new Date("2026-03-02T13:00:00Z"))).toEqual(
      new Date("2026-03-02T14:45:00Z"),
    );
    // After the window: the next trading day's 09:45.
    expect(nextExecutionTime(calendar, window, new Date("2026-03-02T20:00:00Z"))).toEqual(
      new Date("2026-03-03T14:45:00Z"),
    );
  });

  it("cuts the window at a half day's close and skips days without a session", () => {
    // 13:30 New York on the half day is past its 13:00 close: the next session is on the 5th.
    expect(nextExecutionTime(calendar, window, new Date("2026-03-03T18:30:00Z"))).toEqual(
      new Date("2026-03-05T14:45:00Z"),
    );
    expect(nextExecutionTime(calendar, { kind: "immediate" }, new Date(0))).toEqual(new Date(0));
    expect(nextExecutionTime(calendar, window, new Date("2026-03-06T20:00:00Z"))).toBeNull();
  });
});
