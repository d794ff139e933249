/**
 * Cancel requests the broker takes time to confirm (the simulator holding them `pending_cancel`,
 * as Alpaca does before `canceled`): a fill while an entry's cancel is pending is applied and
 * protected, for a simple entry and for a bracket; an exit whose cancel is in flight keeps the
 * position covered, and the position is protected again once the cancel is confirmed; an exit
 * that fills while its cancel is pending closes the trade at the fill.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade, type OrderRecord } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import { dec, sumDecimals } from "../../domain/money";
import { isTerminal } from "../../domain/orderStateMachine";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  tradeIn,
  waitFor,
} from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("pending-requests");
  await startStreamingRuntime(t);
});
afterAll(async () => {
  await t?.close();
});

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

interface SimOrder {
  id: string;
  symbol: string;
  side: string;
  type: string;
  order_class: string;
  status: string;
  qty: string;
  filled_qty: string;
  client_order_id: string;
}

/**
 * One execution of a resting buy limit at 100.05 (of at most the liquidity), the price then moving
 * away from it, so that no order sent meanwhile (an exit) lets the entry trade again.
 */
async function fillOnce(symbol: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, path: ["100.00", "100.30"] });
}

async function simOrders(symbol: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  return state.orders.filter((o) => o.symbol === symbol);
}

async function simPosition(symbol: string): Promise<string> {
  const p = await t.broker.getPosition(symbol);
  return p.ok ? p.value.qty.toFixed() : "0";
}

/** What the broker's live sell stops of a symbol would sell (held OCO stops included). */
async function liveStopQuantity(symbol: string): Promise<string> {
  const live = (await simOrders(symbol)).filter(
    (o) =>
      o.side === "sell" &&
      o.type === "stop" &&
      ["new", "held", "partially_filled", "pending_cancel"].includes(o.status),
  );
  return sumDecimals(live.map((o) => dec(o.qty))).toFixed();
}

/** What the desk's working stops cover, acknowledged by the broker. */
function deskStopQuantity(orders: readonly OrderRecord[]): string {
  return sumDecimals(
    orders
      .filter(
        (o) => o.order.role === "STOP_LOSS" && !isTerminal(o.order.status) && o.order.brokerOrderId,
      )
      .map((o) => o.order.quantity.minus(o.order.filledQuantity)),
  ).toFixed();
}

async function entryOf(tradeId: number): Promise<OrderRecord | undefined> {
  return (await listOrdersForTrade(t.db.db, tradeId)).find((o) => o.order.role === "ENTRY");
}

/** A bracket entry of 10 filled at once, its trade and its stop leg acknowledged by the broker. */
async function openBracketPosition(symbol: string) {
  await quote(symbol, "99.99", "100.01");
  const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
  await t.jobs.executeDecision(decision.id);
  const opened = await tradeIn(t.db.db, decision.id, "POSITION");
  await waitFor(
    async () => deskStopQuantity(await listOrdersForTrade(t.db.db, opened.id)) === "10",
    15_000,
    "the bracket's stop",
  );
  const stopLeg = (await simOrders(symbol)).find((o) => o.type === "stop");
  return { decision, opened, stopLeg };
}

describe("cancel requests pending at the broker", () => {
  it("applies and protects a simple entry's fill that arrives while its cancel is pending", async () => {
    const symbol = TEST_SYMBOLS[20] as string;
    await quote(symbol, "100.20", "100.22");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    // No target: the entry goes out alone, and the protect job places a lone stop per fill.
    const decision = await t.decide({ symbol, entry: "100.05", target: null, quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    await fillOnce(symbol);
    const opened = await tradeIn(t.db.db, decision.id, "POSITION");
    await waitFor(
      async () => deskStopQuantity(await listOrdersForTrade(t.db.db, opened.id)) === "4",
      15_000,
      "the first fill protected",
    );

    await t.sim.control("/sim/faults", { holdCancels: true });
    try {
      await t.jobs.cancelTrade(t.accountId, opened.id, "changed my mind", "user:1");
      await waitFor(
        async () => (await entryOf(opened.id))?.order.status === "pending_cancel",
        15_000,
        "the entry pending cancel",
      );
      // The cancel is not confirmed yet: the entry fills 4 more.
      await fillOnce(symbol);
      await waitFor(
        async () => {
          const trade = await findTradeByDecision(t.db.db, decision.id);
          const orders = await listOrdersForTrade(t.db.db, opened.id);
          return trade?.trade.quantity.eq(8) && deskStopQuantity(orders) === "8";
        },
        15_000,
        "the fill during the pending cancel applied and protected",
      );
      expect((await entryOf(opened.id))?.order.status).toBe("pending_cancel");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    await waitFor(
      async () => (await entryOf(opened.id))?.order.status === "canceled",
      15_000,
      "the entry canceled",
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await simPosition(symbol)).toBe("8");
    expect(await liveStopQuantity(symbol)).toBe("8");
    const trade = await findTradeByDecision(t.db.db, decision.id);
    expect([trade?.trade.status, trade?.trade.quantity.toFixed()]).toEqual(["POSITION", "8"]);
  });

  it("protects a bracket entry's fills, one arriving while its cancel is pending", async () => {
    const symbol = TEST_SYMBOLS[21] as string;
    await quote(symbol, "100.20", "100.22");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    await fillOnce(symbol);
    const opened = await tradeIn(t.db.db, decision.id, "POSITION");

    await t.sim.control("/sim/faults", { holdCancels: true });
    try {
      await t.jobs.cancelTrade(t.accountId, opened.id, "changed my mind", "user:1");
      await waitFor(
        async () => (await entryOf(opened.id))?.order.status === "pending_cancel",
        15_000,
        "the entry pending cancel",
      );
      await fillOnce(symbol);
      await waitFor(
        async () => (await findTradeByDecision(t.db.db, decision.id))?.trade.quantity.eq(8),
        15_000,
        "the fill during the pending cancel applied",
      );
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    // The entry will not complete: its legs never work, and the desk protects the 8 itself.
    const orders = await waitFor(
      async () => {
        const list = await listOrdersForTrade(t.db.db, opened.id);
        return deskStopQuantity(list) === "8" && (await liveStopQuantity(symbol)) === "8" && list;
      },
      15_000,
      "a live stop for the 8 shares at the broker",
    );
    expect(await simPosition(symbol)).toBe("8");
    expect(orders.find((o) => o.order.role === "ENTRY")?.order.status).toBe("canceled");
  });

  it("keeps a position covered while its exits' cancel is in flight, and protects it again after", async () => {
    const symbol = TEST_SYMBOLS[22] as string;
    const { opened, stopLeg } = await openBracketPosition(symbol);
    await t.sim.control("/sim/faults", { holdCancels: true });
    try {
      // Cancelled at the broker (a person, another tool): the whole group goes.
      const cancelled = await t.broker.cancelOrder(stopLeg?.id ?? "");
      expect(cancelled.ok).toBe(true);
      await waitFor(
        async () =>
          (await listOrdersForTrade(t.db.db, opened.id)).some(
            (o) => o.order.status === "pending_cancel",
          ),
        15_000,
        "the stop pending cancel",
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Still working at the broker: no second stop beside it.
      expect(await liveStopQuantity(symbol)).toBe("10");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    await waitFor(
      async () => {
        const live = (await simOrders(symbol)).filter(
          (o) => o.type === "stop" && ["new", "held"].includes(o.status),
        );
        return live.length > 0 && (await liveStopQuantity(symbol)) === "10";
      },
      15_000,
      "a new stop once the cancel is confirmed",
    );
    expect(await simPosition(symbol)).toBe("10");
  });

  it("closes the trade at the fill when an exit fills while its cancel is pending", async () => {
    const symbol = TEST_SYMBOLS[23] as string;
    const { decision, opened, stopLeg } = await openBracketPosition(symbol);
    await t.sim.control("/sim/faults", { holdCancels: true });
    try {
      expect((await t.broker.cancelOrder(stopLeg?.id ?? "")).ok).toBe(true);
      await waitFor(
        async () =>
          (await listOrdersForTrade(t.db.db, opened.id)).some(
            (o) => o.order.status === "pending_cancel",
          ),
        15_000,
        "the stop pending cancel",
      );
      // The market gaps through the stop before the cancel is confirmed.
      await quote(symbol, "90.00", "90.02");
      const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
      expect(closed.trade.exitReason).toBe("STOPPED_OUT");
      expect(closed.trade.averageExitPrice?.toFixed()).toBe("90");
      expect(closed.trade.realizedPnl.toFixed()).toBe(
        closed.trade.exitNotional.minus(closed.trade.entryNotional).toFixed(),
      );
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await simPosition(symbol)).toBe("0");
    // Nothing left working for the closed trade, at the broker or in the books.
    expect(
      (await simOrders(symbol)).filter((o) =>
        ["new", "held", "accepted", "pending_cancel"].includes(o.status),
      ),
    ).toEqual([]);
    await waitFor(
      async () =>
        (await listOrdersForTrade(t.db.db, opened.id)).every((o) => isTerminal(o.order.status)),
      15_000,
      "every order of the closed trade ended",
    );
  });
});
