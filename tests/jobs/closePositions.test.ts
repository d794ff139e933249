/**
 * Closing through the kill-switch queue on the simulator, with real PostgreSQL and Redis: /close's
 * request (app/tradingRequests.ts) closes half a position with the rest still protected, then the
 * rest, and the trade closes as MANUAL_EXIT; a close queued while the market is shut gets no stop
 * placed beside it; the repair asked for when a close cancels the exits, run before the close is
 * sent, places no stop that would hold the close's shares; a flatten's retry keeps the close it
 * sent (neither cancelled nor sent twice); a close sent by a run that died before its answer was
 * stored is found, not sent again; a close recorded long ago that never reached the broker stops
 * standing in for a stop, one recorded just now does and is sent by the next run; an exit fill
 * also asks for a valuation and the breaker pass (the daily-loss hook on the order-events path).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTradingRequests } from "../../app/tradingRequests";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { insertOrder, listOrdersForTrade, type OrderRecord } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createJobClient } from "../../jobs/client";
import { closeClientOrderId } from "../../jobs/closeOrders";
import { createJobDeps } from "../../jobs/context";
import { createKillSwitch } from "../../jobs/killSwitch";
import {
  createHaltResponse,
  createKillSwitchClient,
  createKillSwitchQueue,
  withDailyLossAfterExits,
} from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createQueues } from "../../jobs/queues";
import { createReconcileProcessor } from "../../jobs/reconcile";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  tradeIn,
  waitFor,
} from "./harness";
import {
  type KillSwitchJobs,
  openOrders,
  openPosition,
  startKillSwitchJobs,
} from "./killSwitchJobs";

const SYMBOL = TEST_SYMBOLS[10] ?? "T10";

let t: Lifecycle;
let killJobs: KillSwitchJobs;
let killQueue: KillSwitchJobs["queue"];

beforeAll(async () => {
  t = await openLifecycle("closepositions");
  await startStreamingRuntime(t);
  killJobs = startKillSwitchJobs(t);
  killQueue = killJobs.queue;
}, 60_000);
afterAll(async () => {
  await killJobs?.close();
  await t?.close();
});

async function brokerQty(): Promise<string> {
  const p = await t.broker.getPosition(SYMBOL);
  return p.ok ? p.value.qty.toFixed() : "0";
}

/** The simulator's orders of a symbol with a client order id starting with `prefix`. */
async function simOrders(symbol: string, prefix: string) {
  const all = await t.broker.listOrders({ status: "all", symbols: [symbol], limit: 500 });
  if (!all.ok) throw new Error(all.message);
  return all.value.filter((o) => o.clientOrderId.startsWith(prefix));
}

/**
 * A close of 10 `symbol` for `tradeId` as the kill switch records it before sending, recorded
 * `ageMs` ago by request `requestId` and never sent.
 */
async function recordUnsentClose(
  tradeId: number,
  symbol: string,
  requestId: string,
  ageMs: number,
) {
  const at = new Date(t.deps.now().getTime() - ageMs);
  const inserted = await insertOrder(
    t.db.db,
    {
      accountId: t.accountId,
      tradeId,
      order: createOrder(
        {
          clientOrderId: closeClientOrderId(t.accountId, requestId, symbol, 1),
          symbol,
          side: "sell",
          type: "market",
          timeInForce: "day",
          orderClass: "simple",
          role: "EXIT",
          quantity: dec("10"),
          limitPrice: null,
          stopPrice: null,
        },
        at.toISOString(),
      ),
      exitReason: "MANUAL_EXIT",
    },
    "test",
    at,
  );
  return inserted.record;
}

async function liveStopQty(): Promise<string | null> {
  const open = await t.broker.listOrders({ status: "open", symbols: [SYMBOL], nested: false });
  if (!open.ok) return null;
  const stop = open.value.find((o) => o.type === "stop");
  return stop?.qty?.toFixed() ?? null;
}

describe("closing positions through the jobs", () => {
  it("closes half, keeps the rest protected, then closes the rest as MANUAL_EXIT", async () => {
    await t.sim.control("/sim/quotes", { symbol: SYMBOL, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol: SYMBOL, entry: null, quantity: "100" });
    await t.jobs.executeDecision(decision.id);
    await tradeIn(t.db.db, decision.id, "POSITION");
    await waitFor(async () => (await liveStopQty()) === "100", 15_000, "live stop");

    const trading = createTradingRequests(t.jobs, createKillSwitchClient(killQueue));
    await trading.closePosition({
      accountId: t.accountId,
      symbol: SYMBOL,
      percent: "50",
      requestedBy: "user:1",
      requestId: "half",
    });
    await waitFor(async () => (await brokerQty()) === "50", 15_000, "half closed");
    // The stop was cancelled for the close; the repair puts one back for what is left.
    await waitFor(async () => (await liveStopQty()) === "50", 15_000, "stop for the rest");

    await trading.closePosition({
      accountId: t.accountId,
      symbol: SYMBOL,
      percent: null,
      requestedBy: "user:1",
      requestId: "rest",
    });
    await waitFor(async () => (await brokerQty()) === "0", 15_000, "all closed");
    const trade = await tradeIn(t.db.db, decision.id, "CLOSED");
    expect(trade.trade.exitReason).toBe("MANUAL_EXIT");
    expect(await liveStopQty()).toBeNull();
  }, 60_000);

  it("puts no stop beside a close queued while the market is shut, which fills at the open", async () => {
    const symbol = TEST_SYMBOLS[11] ?? "T11";
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const decision = await t.decide({ symbol, entry: null, quantity: "40" });
    await t.jobs.executeDecision(decision.id);
    const trade = await tradeIn(t.db.db, decision.id, "POSITION");
    const stopsRecorded = async () =>
      (await listOrdersForTrade(t.db.db, trade.id)).filter((o) => o.order.role === "STOP_LOSS")
        .length;
    await waitFor(async () => (await stopsRecorded()) === 1, 15_000, "the first stop");
    await t.sim.control("/sim/market", { open: false });
    try {
      const trading = createTradingRequests(t.jobs, createKillSwitchClient(killQueue));
      await trading.closePosition({
        accountId: t.accountId,
        symbol,
        percent: null,
        requestedBy: "user:1",
        requestId: "shut",
      });
      const closing = async () =>
        (await listOrdersForTrade(t.db.db, trade.id)).find(
          (o) => o.order.role === "EXIT" && o.order.status !== "filled",
        );
      await waitFor(async () => (await closing()) !== undefined, 15_000, "the queued close");
      // Repairs asked for while the close waits (reconciliation's, a cancelled exit's) see the
      // close covering the position and place nothing beside it.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await t.jobs.requestProtection(t.accountId, trade.id, "repair");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await stopsRecorded()).toBe(1);
      expect(await closing()).toBeDefined();
    } finally {
      await t.sim.control("/sim/market", { open: null });
    }
    await t.sim.control("/sim/market", { open: true });
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    await t.sim.control("/sim/market", { open: null });
    expect(closed.trade.exitReason).toBe("MANUAL_EXIT");
  }, 60_000);

  it("places no stop for the repair that runs between the cancelled exits and the close being sent", async () => {
    const symbol = TEST_SYMBOLS[12] ?? "T12";
    const { decision, trade } = await openPosition(t, symbol, "30");
    const repaired = async () =>
      (await t.queues.protect.getJobs(["completed"])).filter(
        (j) => j.data.tradeId === trade.id && j.data.reason === "repair",
      );
    const repairsBefore = (await repaired()).length;
    // The close reaches the broker only once the repair asked for by its cancelled exits is done.
    const waitForRepair = () =>
      waitFor(async () => (await repaired()).length > repairsBefore, 15_000, "the repair");
    const slowClose: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (request.clientOrderId.startsWith("close-")) await waitForRepair();
        return t.broker.submitOrder(request, options);
      },
      async closePosition(...args) {
        await waitForRepair();
        return t.broker.closePosition(...args);
      },
    };
    const killSwitch = createKillSwitch(
      createJobDeps({ ...t.deps, brokerFor: () => slowClose }),
      createOrderReportHandler(t.deps),
    );
    const result = await killSwitch.closePosition({
      accountId: t.accountId,
      symbol,
      percent: null,
      requestedBy: "user:1",
      requestId: "racing-repair",
      exitReason: "MANUAL_EXIT",
    });
    // Closed at the first try: no stop held the shares it needed.
    expect(result).toMatchObject({ ok: true, qty: "30" });
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    expect(closed.trade.exitReason).toBe("MANUAL_EXIT");
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    const close = orders.find((o) => o.order.role === "EXIT") as OrderRecord;
    expect(close.order.status).toBe("filled");
    // Every stop of the trade is older than the close: the repair found the close covering it.
    expect(
      orders.filter((o) => o.order.role === "STOP_LOSS" && o.id > close.id).map((o) => o.id),
    ).toEqual([]);
    expect((await repaired()).at(-1)?.returnvalue).toMatchObject({ outcome: "covered", sent: 0 });
    expect(await openOrders(t, symbol)).toEqual([]);
  }, 60_000);

  it("records a close for its trade when the entry's fill is not stored yet, and places no stop beside it", async () => {
    const symbol = TEST_SYMBOLS[17] ?? "T17";
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    // The entry fills at the broker, but neither the submit's answer (pending_new) nor the stream
    // (events lost) has told the books yet when the close is asked for.
    await t.sim.control("/sim/faults", { dropEvents: true, pendingNew: true });
    const decision = await t.decide({ symbol, entry: null, quantity: "25" });
    let trade: Awaited<ReturnType<typeof findTradeByDecision>>;
    try {
      await t.jobs.executeDecision(decision.id);
      await waitFor(async () => (await t.broker.getPosition(symbol)).ok, 15_000, "broker position");
      trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
      expect(trade.trade.status).not.toBe("POSITION");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    const repaired = async () =>
      (await t.queues.protect.getJobs(["completed"])).filter(
        (j) => j.data.tradeId === trade?.id && j.data.reason === "repair",
      );
    // The close reaches the broker only once the repair asked for by the cancelled legs is done.
    const slowClose: Broker = {
      ...t.broker,
      async submitOrder(request, options) {
        if (request.clientOrderId.startsWith("close-")) {
          await waitFor(async () => (await repaired()).length > 0, 15_000, "the repair");
        }
        return t.broker.submitOrder(request, options);
      },
    };
    const result = await createKillSwitch(
      createJobDeps({ ...t.deps, brokerFor: () => slowClose }),
      createOrderReportHandler(t.deps),
    ).closePosition({
      accountId: t.accountId,
      symbol,
      percent: null,
      requestedBy: "user:1",
      requestId: "fill-in-flight",
      exitReason: "MANUAL_EXIT",
    });
    expect(result).toMatchObject({ ok: true, qty: "25" });
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    const close = orders.find((o) => o.order.role === "EXIT") as OrderRecord;
    expect(close.order.status).toBe("filled");
    expect(orders.filter((o) => o.order.role === "STOP_LOSS" && o.id > close.id)).toEqual([]);
    expect((await repaired()).at(-1)?.returnvalue).toMatchObject({ outcome: "covered", sent: 0 });
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    expect(closed.trade.exitReason).toBe("MANUAL_EXIT");
    expect(closed.trade.exitQuantity.toFixed()).toBe("25");
  }, 60_000);

  it("keeps the close a flatten sent when a retry of the flatten finds the position still held", async () => {
    const symbol = TEST_SYMBOLS[13] ?? "T13";
    const { decision, trade } = await openPosition(t, symbol, "20");
    const killSwitch = createKillSwitch(t.deps, createOrderReportHandler(t.deps));
    const flatten = {
      accountId: t.accountId,
      requestedBy: "user:1",
      requestId: "flatten-retried",
      notify: false,
    };
    await t.sim.control("/sim/market", { open: false });
    try {
      // The close waits for the open; the position is still held when the flatten runs again
      // (as its retry does after another symbol failed).
      const first = await killSwitch.flatten(flatten);
      expect(first.failed).toEqual([]);
      const sent = await openOrders(t, symbol);
      expect(sent.map((o) => [o.type, o.qty?.toFixed()])).toEqual([["market", "20"]]);
      const second = await killSwitch.flatten(flatten);
      expect(second.failed).toEqual([]);
      expect(second.closed).toEqual([
        expect.objectContaining({ symbol, brokerOrderId: sent[0]?.brokerOrderId }),
      ]);
      // Neither cancelled nor sent a second time.
      expect((await openOrders(t, symbol)).map((o) => o.brokerOrderId)).toEqual(
        sent.map((o) => o.brokerOrderId),
      );
      const exits = (await listOrdersForTrade(t.db.db, trade.id)).filter(
        (o) => o.order.role === "EXIT",
      );
      expect(exits.map((o) => o.order.brokerOrderId)).toEqual([sent[0]?.brokerOrderId]);
    } finally {
      await t.sim.control("/sim/market", { open: null });
    }
    await t.sim.control("/sim/market", { open: true });
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    await t.sim.control("/sim/market", { open: null });
    expect(closed.trade.exitReason).toBe("FLATTENED");
    expect(await openOrders(t, symbol)).toEqual([]);
  }, 60_000);

  it("finds a close sent by a run that died before storing the answer, and sends no second one", async () => {
    const symbol = TEST_SYMBOLS[14] ?? "T14";
    const { trade } = await openPosition(t, symbol, "10");
    const request = {
      accountId: t.accountId,
      symbol,
      percent: null,
      requestedBy: "user:1",
      requestId: "answer-lost",
      exitReason: "MANUAL_EXIT" as const,
    };
    // The close reaches the broker (and fills), then the run dies; the stream loses its events.
    const dying: Broker = {
      ...t.broker,
      async submitOrder(order, options) {
        const answer = await t.broker.submitOrder(order, options);
        if (order.clientOrderId.startsWith("close-")) throw new Error("the worker died");
        return answer;
      },
    };
    await t.sim.control("/sim/faults", { dropEvents: true });
    try {
      // An error on the way is the symbol's failure, told as such (the job retries it).
      await expect(
        createKillSwitch(
          createJobDeps({ ...t.deps, brokerFor: () => dying }),
          createOrderReportHandler(t.deps),
        ).closePosition(request),
      ).resolves.toMatchObject({ ok: false, code: "ERROR", message: "the worker died" });
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    const recorded = (await listOrdersForTrade(t.db.db, trade.id)).filter(
      (o) => o.order.role === "EXIT",
    );
    expect(recorded.map((o) => [o.order.status, o.order.brokerOrderId])).toEqual([
      ["pending_new", null],
    ]);
    // The retry looks it up: found filled, it is the request's close.
    const retried = await createKillSwitch(t.deps, createOrderReportHandler(t.deps)).closePosition(
      request,
    );
    expect(retried).toMatchObject({ ok: true, qty: "10" });
    const closes = await simOrders(symbol, "close-");
    expect(closes.map((o) => o.clientOrderId)).toEqual([recorded[0]?.order.clientOrderId]);
    const exits = (await listOrdersForTrade(t.db.db, trade.id)).filter(
      (o) => o.order.role === "EXIT",
    );
    expect(exits.map((o) => [o.order.status, o.order.brokerOrderId])).toEqual([
      ["filled", closes[0]?.brokerOrderId],
    ]);
    expect((await t.broker.getPosition(symbol)).ok).toBe(false);
  }, 60_000);

  it("stops counting a close recorded long ago that never reached the broker as cover, and sends one recorded just now", async () => {
    const symbol = TEST_SYMBOLS[15] ?? "T15";
    const { trade } = await openPosition(t, symbol, "10");
    const recordClose = (requestId: string, ageMs: number) =>
      recordUnsentClose(trade.id, symbol, requestId, ageMs);
    const cancelAll = async () => {
      for (const order of await openOrders(t, symbol))
        await t.broker.cancelOrder(order.brokerOrderId);
      await waitFor(async () => (await openOrders(t, symbol)).length === 0, 15_000, "cancelled");
    };
    const stops = async () =>
      (await listOrdersForTrade(t.db.db, trade.id)).filter((o) => o.order.role === "STOP_LOSS");

    // Its run gone two minutes ago, before sending it: the exits cancelled meanwhile are repaired.
    const lost = await recordClose("lost", 120_000);
    const stopsBefore = (await stops()).length;
    await cancelAll();
    await waitFor(
      async () => (await openOrders(t, symbol)).some((o) => o.type === "stop"),
      15_000,
      "the stop placed again",
    );
    const ended = (await listOrdersForTrade(t.db.db, trade.id)).find((o) => o.id === lost.id);
    expect(ended?.order.status).toBe("canceled");
    expect((await stops()).length).toBeGreaterThan(stopsBefore);

    // Recorded just now (its run is between recording and sending): it covers the position.
    const fresh = await recordClose("fresh", 0);
    const stopsNow = (await stops()).length;
    const repairs = async () =>
      (await t.queues.protect.getJobs(["completed"])).filter(
        (j) => j.data.tradeId === trade.id && j.data.reason === "repair",
      ).length;
    const repairsBefore = await repairs();
    await cancelAll();
    await waitFor(async () => (await repairs()) > repairsBefore, 15_000, "the repair");
    expect((await stops()).length).toBe(stopsNow);
    expect(await openOrders(t, symbol)).toEqual([]);
    // The next run of its request sends that very close.
    const result = await createKillSwitch(t.deps, createOrderReportHandler(t.deps)).closePosition({
      accountId: t.accountId,
      symbol,
      percent: null,
      requestedBy: "user:1",
      requestId: "fresh",
      exitReason: "MANUAL_EXIT",
    });
    expect(result).toMatchObject({ ok: true, qty: "10" });
    const sent = await simOrders(symbol, "close-");
    expect(sent.map((o) => o.clientOrderId)).toEqual([fresh.order.clientOrderId]);
    await waitFor(async () => {
      const close = (await listOrdersForTrade(t.db.db, trade.id)).find((o) => o.id === fresh.id);
      return close?.order.status === "filled";
    });
  }, 60_000);

  it("ends at the next reconciliation a close whose run died before cancelling the exits", async () => {
    const symbol = TEST_SYMBOLS[16] ?? "T16";
    const { trade } = await openPosition(t, symbol, "10");
    // Recorded two minutes ago by a run gone for good: never sent, the exits never cancelled.
    const lost = await recordUnsentClose(trade.id, symbol, "died", 120_000);
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    const result = await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    expect(result.actions).toContain("ORDER_UNKNOWN_AT_BROKER");
    const ended = await waitFor(
      async () => {
        const close = (await listOrdersForTrade(t.db.db, trade.id)).find((o) => o.id === lost.id);
        return close?.order.status === "canceled" ? close : null;
      },
      15_000,
      "the unsent close ended",
    );
    expect(ended.order.brokerOrderId).toBeNull();
    // Nothing was sent for it, and the position keeps its stop.
    expect(await simOrders(symbol, "close-")).toEqual([]);
    expect((await openOrders(t, symbol)).some((o) => o.type === "stop")).toBe(true);
  }, 60_000);

  it("on a halt sweeps the entries again later, and flattens (once a day) only when the account asks for it", async () => {
    const queue = createKillSwitchQueue({
      connection: t.redis.connect(),
      prefix: `${t.prefix}-halt`,
    });
    try {
      const respond = createHaltResponse(
        t.deps,
        createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
        createKillSwitchClient(queue),
      );
      await respond(t.accountId);
      const first = await queue.getJobs(["waiting", "delayed"]);
      expect(first.map((j) => j.name).sort()).toEqual(["cancel-entries"]);
      await saveKillSwitchSettings(
        t.db.db,
        t.accountId,
        { ...DEFAULT_KILL_SWITCH_SETTINGS, flattenOnHalt: true },
        new Date(),
      );
      await respond(t.accountId);
      const flatten = (await queue.getJobs(["waiting", "delayed"])).find(
        (j) => j.name === "flatten",
      );
      expect(flatten?.data).toMatchObject({
        action: "flatten",
        accountId: t.accountId,
        requestedBy: "system:daily-loss",
      });
      // A second automatic halt the same day (the drawdown breaker) finds that flatten.
      await respond(t.accountId, "drawdown");
      const flattens = async () =>
        (await queue.getJobs(["waiting", "delayed"])).filter((j) => j.name === "flatten");
      expect(await flattens()).toHaveLength(1);
      // Once that one is gone, the drawdown's own flatten says who asked.
      await flatten?.remove();
      await respond(t.accountId, "drawdown");
      expect((await flattens()).map((j) => j.data)).toEqual([
        expect.objectContaining({ action: "flatten", requestedBy: "system:drawdown" }),
      ]);
    } finally {
      await saveKillSwitchSettings(t.db.db, t.accountId, DEFAULT_KILL_SWITCH_SETTINGS, new Date());
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("counts the automatic flatten's day in New York: an evening halt does not use up the next day's flatten", async () => {
    const queue = createKillSwitchQueue({
      connection: t.redis.connect(),
      prefix: `${t.prefix}-haltday`,
    });
    const respondAt = (iso: string) =>
      createHaltResponse(
        createJobDeps({ ...t.deps, now: () => new Date(iso) }),
        createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
        createKillSwitchClient(queue),
      );
    try {
      await saveKillSwitchSettings(
        t.db.db,
        t.accountId,
        { ...DEFAULT_KILL_SWITCH_SETTINGS, flattenOnHalt: true },
        new Date(),
      );
      // Monday 2 March 2026, 19:30 in New York (after hours): already Tuesday in UTC.
      await respondAt("2026-03-03T00:30:00Z")(t.accountId);
      // Tuesday 3 March, 11:00 in New York: the halt reset at the open, the loss halts again.
      await respondAt("2026-03-03T16:00:00Z")(t.accountId, "drawdown");
      const flattens = (await queue.getJobs(["waiting", "delayed"])).filter(
        (j) => j.name === "flatten",
      );
      expect(
        flattens.map((j) => ("requestedBy" in j.data ? j.data.requestedBy : "")).sort(),
      ).toEqual(["system:daily-loss", "system:drawdown"]);
    } finally {
      await saveKillSwitchSettings(t.db.db, t.accountId, DEFAULT_KILL_SWITCH_SETTINGS, new Date());
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("asks for the automatic flatten even when cancelling the entries at the halt fails", async () => {
    const queue = createKillSwitchQueue({
      connection: t.redis.connect(),
      prefix: `${t.prefix}-haltfail`,
    });
    const killSwitch = createKillSwitch(t.deps, createOrderReportHandler(t.deps));
    try {
      await saveKillSwitchSettings(
        t.db.db,
        t.accountId,
        { ...DEFAULT_KILL_SWITCH_SETTINGS, flattenOnHalt: true },
        new Date(),
      );
      const respond = createHaltResponse(
        t.deps,
        {
          ...killSwitch,
          cancelWorkingEntries: async () => {
            throw new Error("connection terminated");
          },
        },
        createKillSwitchClient(queue),
      );
      // The halt is stored before this runs: a retry of the valuation finds it halted already
      // and does not come back here, so the flatten is asked for now or never.
      await respond(t.accountId).catch(() => undefined);
      const jobs = await queue.getJobs(["waiting", "delayed"]);
      expect(jobs.map((j) => j.name).sort()).toEqual(["cancel-entries", "flatten"]);
    } finally {
      await saveKillSwitchSettings(t.db.db, t.accountId, DEFAULT_KILL_SWITCH_SETTINGS, new Date());
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("asks for a valuation and the breaker pass on every exit fill, not on other protection requests", async () => {
    const connection = t.redis.connect();
    const queues = createQueues({ connection, prefix: `${t.prefix}-hook` });
    const breakers: number[] = [];
    const jobs = withDailyLossAfterExits(createJobClient(queues), async (accountId) => {
      breakers.push(accountId);
    });
    await jobs.requestProtection(t.accountId, 1, "entry_fill", 5);
    expect(await queues.value.count()).toBe(0);
    await jobs.requestProtection(t.accountId, 1, "exit_fill", 6);
    expect(await queues.value.count()).toBe(1);
    expect(breakers).toEqual([t.accountId]);
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await Promise.all(Object.values(queues).map((q) => q.close()));
  });
});
