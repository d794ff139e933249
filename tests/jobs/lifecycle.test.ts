/**
 * Lifecycle scenarios against the simulator, with real PostgreSQL and Redis and a worker runtime
 * in this process (stream, polling, execute, order events, protect).
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDecision } from "../../db/decisions";
import { listOrdersForTrade } from "../../db/orders";
import { findPosition } from "../../db/positions";
import { notificationOutbox } from "../../db/schema";
import { findTradeByDecision } from "../../db/trades";
import { type Lifecycle, openLifecycle, startStreamingRuntime, tradeIn, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("lifecycle");
  await startStreamingRuntime(t);
});
afterAll(async () => {
  await t?.close();
});

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

async function tradeOf(decisionId: number) {
  return waitFor(() => findTradeByDecision(t.db.db, decisionId), 10_000, "trade");
}

async function noticeKinds(): Promise<string[]> {
  const rows = await t.db.db.select().from(notificationOutbox);
  return rows.map((r) => r.kind);
}

async function noticesFor(tradeId: number): Promise<string[]> {
  const rows = await t.db.db.select().from(notificationOutbox);
  return rows
    .filter((r) => (r.payload as { tradeId?: number }).tradeId === tradeId)
    .map((r) => r.kind)
    .sort();
}

describe("order lifecycle on the simulator", () => {
  it("takes a bracket entry to its target: P&L, R, exit reason, stop cancelled, position gone", async () => {
    await quote("T00", "99.99", "100.01");
    const decision = await t.decide({
      symbol: "T00",
      entry: "100.05",
      stop: "95.00",
      target: "110.00",
    });
    await t.jobs.executeDecision(decision.id);
    const opened = await tradeIn(t.db.db, decision.id, "POSITION");
    expect(opened.trade.entryQuantity.toFixed()).toBe("10");
    // The stream's fill may be stored before the submit's answer, which marks the decision.
    await waitFor(
      async () => (await findDecision(t.db.db, decision.id))?.status === "executed",
      15_000,
      "decision executed",
    );
    const orders = await listOrdersForTrade(t.db.db, opened.id);
    expect(orders.map((o) => o.order.role).sort()).toEqual(["ENTRY", "STOP_LOSS", "TAKE_PROFIT"]);
    expect(orders.every((o) => o.order.brokerOrderId !== null)).toBe(true);

    await quote("T00", "110.10", "110.12");
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    expect(closed.trade.exitReason).toBe("PROFIT_TAKEN");
    // Bought 10 at the ask 100.01, sold at the bid 110.10 (a limit sell fills at the bid).
    expect(closed.trade.realizedPnl.toFixed()).toBe(
      closed.trade.exitNotional.minus(closed.trade.entryNotional).toFixed(),
    );
    expect(closed.trade.realizedPnl.gt(0)).toBe(true);
    expect(closed.trade.rMultiple?.gt(0)).toBe(true);
    expect(await findPosition(t.db.db, t.accountId, "T00")).toBeNull();
    const after = await waitFor(async () => {
      const list = await listOrdersForTrade(t.db.db, closed.id);
      return list.find((o) => o.order.role === "STOP_LOSS")?.order.status === "canceled" && list;
    });
    expect(after.find((o) => o.order.role === "TAKE_PROFIT")?.order.status).toBe("filled");
    await waitFor(async () => (await noticesFor(closed.id)).includes("TRADE_CLOSED"));
    expect(await noticesFor(closed.id)).toEqual(
      ["ENTRY_SUBMITTED", "ORDER_FILLED", "ORDER_FILLED", "TRADE_CLOSED"].sort(),
    );
  });

  it("takes a bracket entry to its stop, a gap through the stop filling at the gap", async () => {
    await quote("T01", "99.99", "100.01");
    const decision = await t.decide({
      symbol: "T01",
      entry: "100.05",
      stop: "95.00",
      target: "110.00",
    });
    await t.jobs.executeDecision(decision.id);
    await tradeIn(t.db.db, decision.id, "POSITION");
    // The market opens far below the stop: the stop fills at the gap price, not at 95.
    await quote("T01", "90.00", "90.02");
    const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
    expect(closed.trade.exitReason).toBe("STOPPED_OUT");
    expect(closed.trade.averageExitPrice?.lt("95")).toBe(true);
    expect(closed.trade.rMultiple?.lt(-1)).toBe(true);
    expect(await findPosition(t.db.db, t.accountId, "T01")).toBeNull();
    const orders = await waitFor(async () => {
      const list = await listOrdersForTrade(t.db.db, closed.id);
      return list.find((o) => o.order.role === "TAKE_PROFIT")?.order.status === "canceled" && list;
    });
    expect(orders.find((o) => o.order.role === "STOP_LOSS")?.order.status).toBe("filled");
  });

  it("protects the filled part of a bracket entry cancelled after a partial fill", async () => {
    await quote("T02", "100.20", "100.22");
    await t.sim.control("/sim/liquidity", { symbol: "T02", sharesPerFill: "4" });
    const decision = await t.decide({
      symbol: "T02",
      entry: "100.05",
      stop: "95.00",
      target: "110.00",
      quantity: "10",
    });
    await t.jobs.executeDecision(decision.id);
    const trade = await tradeOf(decision.id);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    await quote("T02", "100.00", "100.02");
    const opened = await tradeIn(t.db.db, decision.id, "POSITION");
    expect(opened.trade.quantity.toFixed()).toBe("4");
    await t.jobs.cancelTrade(t.accountId, trade.id, "trader changed their mind", "user:1");
    const protectedOrders = await waitFor(
      async () => {
        const list = await listOrdersForTrade(t.db.db, trade.id);
        const stop = list.find(
          (o) =>
            o.order.role === "STOP_LOSS" && o.order.orderClass === "oco" && o.order.brokerOrderId,
        );
        return stop ? list : null;
      },
      15_000,
      "OCO protecting the filled part",
    );
    const oco = protectedOrders.filter((o) => o.order.orderClass === "oco");
    expect(oco.map((o) => [o.order.role, o.order.quantity.toFixed()]).sort()).toEqual([
      ["STOP_LOSS", "4"],
      ["TAKE_PROFIT", "4"],
    ]);
    const entry = protectedOrders.find((o) => o.order.role === "ENTRY");
    expect(entry?.order.status).toBe("canceled");
    const state = (await t.sim.control("/sim/state")) as {
      orders: { symbol: string; order_class: string; status: string; qty: string }[];
    };
    const working = state.orders.filter(
      (o) => o.symbol === "T02" && o.order_class === "oco" && o.status === "new",
    );
    expect(working.map((o) => o.qty)).toEqual(["4"]);
    await waitFor(async () => (await noticesFor(trade.id)).includes("PROTECTION_PLACED"));
  });

  it("refuses a decision that breaks a risk rule: decision failed with the codes, trader told", async () => {
    await quote("T03", "99.99", "100.01");
    // Stop above the entry for a long.
    const decision = await t.decide({
      symbol: "T03",
      entry: "100.00",
      stop: "101.00",
      target: "110.00",
    });
    await t.jobs.executeDecision(decision.id);
    const failed = await waitFor(async () => {
      const d = await findDecision(t.db.db, decision.id);
      return d?.status === "failed" ? d : null;
    });
    expect(failed.statusReason).toContain("STOP_WRONG_SIDE");
    expect(await findTradeByDecision(t.db.db, decision.id)).toBeNull();
    const rows = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.dedupeKey, `decision-refused-${decision.id}:7000001`));
    expect(rows[0]?.kind).toBe("ORDER_REJECTED");
    expect((rows[0]?.payload as { code?: string } | undefined)?.code).toContain("STOP_WRONG_SIDE");
  });

  it("refuses a symbol the broker does not know as not tradable, as a plan shows it", async () => {
    const decision = await t.decide({
      symbol: "NOSUCH",
      entry: "100.00",
      stop: "95.00",
      target: "110.00",
    });
    await t.jobs.executeDecision(decision.id);
    const failed = await waitFor(async () => {
      const d = await findDecision(t.db.db, decision.id);
      return d?.status === "failed" ? d : null;
    });
    expect(failed.statusReason).toContain("NOT_TRADABLE");
    const rows = await t.db.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.dedupeKey, `decision-refused-${decision.id}:7000001`));
    expect((rows[0]?.payload as { code?: string } | undefined)?.code).toContain("NOT_TRADABLE");
  });

  it("executes a decision enqueued twice exactly once", async () => {
    await quote("T04", "99.99", "100.01");
    const decision = await t.decide({ symbol: "T04", entry: "99.00" });
    await Promise.all([
      t.jobs.executeDecision(decision.id),
      t.jobs.executeDecision(decision.id),
      t.jobs.executeDecision(decision.id),
    ]);
    await waitFor(async () => (await findDecision(t.db.db, decision.id))?.status === "executed");
    // A later request after completion finds the decision executed and does nothing.
    await t.jobs.executeDecision(decision.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const state = (await t.sim.control("/sim/state")) as {
      orders: { symbol: string; client_order_id: string }[];
    };
    const entries = state.orders.filter(
      (o) => o.symbol === "T04" && o.client_order_id === `d${decision.id}-entry`,
    );
    expect(entries).toHaveLength(1);
    expect((await noticeKinds()).filter((k) => k === "ENTRY_SUBMITTED").length).toBeGreaterThan(0);
  });
});
