/**
 * Entries that are not brackets (sliced entries, brackets switched off): the protect job places
 * an OCO stop and target on every fill, sized to what is filled, and never a second one for the
 * same fill; fills the stream missed are found by polling after the reconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade, type OrderRecord } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { sumDecimals } from "../../domain/money";
import { isTerminal } from "../../domain/orderStateMachine";
import { type Lifecycle, openLifecycle, startStreamingRuntime, waitFor } from "./harness";

let t: Lifecycle;

/** Every exit the runtime asked the broker for: its client order id, class and position intent. */
const exitsSent: {
  readonly clientOrderId: string;
  readonly orderClass: string;
  readonly intent: string | undefined;
}[] = [];

/** The simulator's broker, noting the exits it is sent. */
function notingExits(broker: Broker): Broker {
  return {
    ...broker,
    submitOrder(request, options) {
      if (/^t\d+-x/.test(request.clientOrderId)) {
        exitsSent.push({
          clientOrderId: request.clientOrderId,
          orderClass: request.orderClass,
          intent: request.positionIntent,
        });
      }
      return broker.submitOrder(request, options);
    },
  };
}

beforeAll(async () => {
  t = await openLifecycle("protect");
  await startStreamingRuntime(t, {
    settings: { nativeBrackets: false },
    broker: notingExits,
  });
});
afterAll(async () => {
  await t?.close();
});

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

function workingStops(orders: readonly OrderRecord[]): OrderRecord[] {
  return orders.filter(
    (o) => o.order.role === "STOP_LOSS" && !isTerminal(o.order.status) && o.order.brokerOrderId,
  );
}

interface SimOrder {
  symbol: string;
  order_class: string;
  status: string;
  qty: string;
  client_order_id: string;
  type: string;
  legs?: SimOrder[] | null;
}

async function simOrders(symbol: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  return state.orders.filter((o) => o.symbol === symbol);
}

describe("protection of entries that are not brackets", () => {
  it("covers each partial fill of a sliced entry with OCO exits, then closes at the target", async () => {
    await quote("T10", "100.20", "100.22");
    await t.sim.control("/sim/liquidity", { symbol: "T10", sharesPerFill: "4" });
    const decision = await t.decide({ symbol: "T10", entry: "100.05", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    const trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
    // Price updates fill 4 shares at a time (or more, as the simulator matches); after each one
    // the stops cover exactly what is held, never more and never a second time.
    for (const ask of ["100.00", "99.99", "99.98", "99.97", "99.96", "99.95"]) {
      const held = (await findPosition(t.db.db, t.accountId, "T10"))?.position.quantity;
      if (held?.eq(10)) break;
      await quote("T10", String(Number(ask) - 0.02), ask);
      await waitFor(
        async () => {
          const held = (await findPosition(t.db.db, t.accountId, "T10"))?.position.quantity;
          const orders = await listOrdersForTrade(t.db.db, trade.id);
          const covered = sumDecimals(workingStops(orders).map((o) => o.order.quantity));
          return held !== undefined && covered.eq(held);
        },
        15_000,
        "stops covering the position",
      );
    }
    // The loop stops once the whole entry is held; its last slice may not be covered yet.
    await waitFor(
      async () => {
        const orders = await listOrdersForTrade(t.db.db, trade.id);
        return sumDecimals(workingStops(orders).map((o) => o.order.quantity)).eq(10);
      },
      15_000,
      "stops covering the whole entry",
    );
    const orders = await listOrdersForTrade(t.db.db, trade.id);
    const ocoParents = orders.filter(
      (o) => o.order.orderClass === "oco" && o.parentOrderId === null,
    );
    expect(ocoParents.length).toBeGreaterThanOrEqual(1);
    expect(sumDecimals(ocoParents.map((o) => o.order.quantity)).toFixed()).toBe("10");
    expect(new Set(ocoParents.map((o) => o.protectsFillId)).size).toBe(ocoParents.length);
    const atBroker = (await simOrders("T10")).filter(
      (o) => o.order_class === "oco" && o.client_order_id.startsWith("t"),
    );
    expect(atBroker.map((o) => o.qty).sort()).toEqual(
      ocoParents.map((o) => o.order.quantity.toFixed()).sort(),
    );
    const position = await findPosition(t.db.db, t.accountId, "T10");
    expect(position?.position.quantity.toFixed()).toBe("10");

    await t.sim.control("/sim/liquidity", { symbol: "T10", sharesPerFill: null });
    await quote("T10", "110.05", "110.07");
    const closed = await waitFor(async () => {
      const tr = await findTradeByDecision(t.db.db, decision.id);
      return tr?.trade.status === "CLOSED" ? tr : null;
    });
    expect(closed.trade.exitReason).toBe("PROFIT_TAKEN");
    expect(closed.trade.exitQuantity.toFixed()).toBe("10");
    expect(await findPosition(t.db.db, t.accountId, "T10")).toBeNull();
    await waitFor(async () => {
      const all = await listOrdersForTrade(t.db.db, trade.id);
      return all.every((o) => isTerminal(o.order.status));
    });
  });

  it("finds fills made while the stream was down by polling after it reconnects", async () => {
    await quote("T11", "100.20", "100.22");
    const decision = await t.decide({ symbol: "T11", entry: "100.05", quantity: "6" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    const trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
    // Every event from now on is lost; the entry fills meanwhile.
    await t.sim.control("/sim/faults", { dropEvents: true });
    await quote("T11", "99.98", "100.00");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.status).toBe("ORDERED");
    await t.sim.control("/sim/faults", { clear: true });
    await t.sim.control("/sim/faults", { dropStream: true });
    const opened = await waitFor(
      async () => {
        const tr = await findTradeByDecision(t.db.db, decision.id);
        return tr?.trade.status === "POSITION" ? tr : null;
      },
      15_000,
      "fill found by the poll after the reconnect",
    );
    expect(opened.trade.entryQuantity.toFixed()).toBe("6");
    expect(opened.trade.averageEntryPrice?.toFixed()).toBe("100");
    await waitFor(
      async () => workingStops(await listOrdersForTrade(t.db.db, trade.id)).length === 1,
      15_000,
      "stop placed for the missed fill",
    );
  });

  it("records an entry fill's exits with the fill, and sends them once after the sending failed", async () => {
    await quote("T13", "100.20", "100.22");
    const decision = await t.decide({ symbol: "T13", entry: "100.05", quantity: "3" });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    const trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
    // The OCO's first two posts fail: the job that applied the fill fails with it, and its rerun
    // (or the protect job behind it) sends what was recorded.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 500,
      times: 2,
    });
    await quote("T13", "99.98", "100.00");
    // The moment the fill is visible, its exits are too: they commit together.
    const orders = await waitFor(
      async () => {
        const tr = await findTradeByDecision(t.db.db, decision.id);
        return tr?.trade.status === "POSITION" ? listOrdersForTrade(t.db.db, trade.id) : null;
      },
      15_000,
      "the fill applied",
    );
    expect(
      orders
        .filter((o) => o.order.orderClass === "oco")
        .map((o) => [o.order.role, o.order.quantity.toFixed()])
        .sort(),
    ).toEqual([
      ["STOP_LOSS", "3"],
      ["TAKE_PROFIT", "3"],
    ]);
    await waitFor(
      async () => workingStops(await listOrdersForTrade(t.db.db, trade.id)).length === 1,
      20_000,
      "the recorded stop at the broker",
    );
    const atBroker = (await simOrders("T13")).filter(
      (o) => o.order_class === "oco" && o.type === "limit",
    );
    expect(atBroker.map((o) => [o.client_order_id, o.qty])).toEqual([[`t${trade.id}-x1`, "3"]]);
  });

  it("protects a trade without a target with a lone stop that may only close", async () => {
    await quote("T14", "100.20", "100.22");
    const decision = await t.decide({
      symbol: "T14",
      entry: "100.05",
      target: null,
      quantity: "4",
    });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    const trade = await waitFor(() => findTradeByDecision(t.db.db, decision.id));
    await quote("T14", "99.98", "100.00");
    const stops = await waitFor(
      async () => {
        const working = workingStops(await listOrdersForTrade(t.db.db, trade.id));
        return working.length > 0 ? working : null;
      },
      15_000,
      "the stop at the broker",
    );
    expect(stops.map((s) => [s.order.orderClass, s.order.quantity.toFixed()])).toEqual([
      ["simple", "4"],
    ]);
    // Left working after its position is gone, a stop stating no intent would open a short.
    expect(exitsSent.filter((e) => e.clientOrderId.startsWith(`t${trade.id}-x`))).toEqual([
      { clientOrderId: `t${trade.id}-x1`, orderClass: "simple", intent: "sell_to_close" },
    ]);
  });

  it("closes at market when the market is already through the stop it should place", async () => {
    await quote("T12", "100.20", "100.22");
    const decision = await t.decide({
      symbol: "T12",
      entry: "100.05",
      stop: "99.00",
      quantity: "5",
    });
    await t.jobs.executeDecision(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    // Hold the protective OCO long enough for the market to fall through the stop.
    await t.sim.control("/sim/faults", {
      method: "POST",
      path: "/v2/orders",
      status: 403,
      times: 1,
    });
    await quote("T12", "98.00", "98.02");
    await quote("T12", "97.50", "97.52");
    const closed = await waitFor(async () => {
      const tr = await findTradeByDecision(t.db.db, decision.id);
      return tr?.trade.status === "CLOSED" ? tr : null;
    });
    expect(closed.trade.exitReason).toBe("STOPPED_OUT");
    expect(await findPosition(t.db.db, t.accountId, "T12")).toBeNull();
  });
});
