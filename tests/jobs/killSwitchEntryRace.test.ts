/**
 * A halt or a flatten while an execute job has recorded its entry (its risk check passed while
 * the account was active) but not yet sent it: the kill switch's look-up finds nothing at the
 * broker. The entry that arrives after that look-up must not be left working on a halted account,
 * nor a position it opens left standing after a flatten. A flatten cancels everything: also an
 * order the desk did not place, resting for a symbol not held. Real PostgreSQL and Redis, the
 * simulator.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTradingRequests } from "../../app/tradingRequests";
import { changeTradingState } from "../../db/brokerAccounts";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import { setTradingStateManually } from "../../domain/tradingState";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createKillSwitchClient } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";
import { type KillSwitchJobs, openOrders, startKillSwitchJobs } from "./killSwitchJobs";

const HALTED_ENTRY = TEST_SYMBOLS[20] ?? "T20";
const FLATTENED_ENTRY = TEST_SYMBOLS[21] ?? "T21";
const OUTSIDE_ORDER = TEST_SYMBOLS[22] ?? "T22";

let t: Lifecycle;
let killJobs: KillSwitchJobs;
let killQueue: KillSwitchJobs["queue"];

/** Entries held back before they reach the broker, by symbol, until released. */
const gates = new Map<string, { arrived: () => void; release: Promise<void> }>();

function gate(symbol: string) {
  let arrived!: () => void;
  let release!: () => void;
  const arrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  gates.set(symbol, { arrived, release: released });
  return { arrival, release };
}

/** The execute job's broker: an entry of a gated symbol waits at the gate before it is sent. */
function gatedEntries(broker: Broker): Broker {
  return {
    ...broker,
    async submitOrder(request, options) {
      const held = request.clientOrderId.startsWith("close-")
        ? undefined
        : gates.get(request.symbol);
      if (held) {
        gates.delete(request.symbol);
        held.arrived();
        await held.release;
      }
      return broker.submitOrder(request, options);
    },
  };
}

beforeAll(async () => {
  t = await openLifecycle("killswitchrace");
  await startStreamingRuntime(t, { broker: gatedEntries });
  killJobs = startKillSwitchJobs(t);
  killQueue = killJobs.queue;
}, 60_000);
afterAll(async () => {
  await killJobs?.close();
  await t?.close();
});

async function setMode(mode: "ACTIVE" | "HALTED", reason: string) {
  const now = t.deps.now();
  await changeTradingState(
    t.db.db,
    t.accountId,
    () => setTradingStateManually(mode, reason, now.getTime()),
    "user:1",
    now,
  );
}

/** Waits until the first run of the kill-switch job named `name` is over. */
async function ranOnce(name: string): Promise<void> {
  await waitFor(
    async () => {
      const jobs = await killQueue.getJobs(["completed", "failed", "delayed", "wait"]);
      return jobs.some(
        (j) => j.name === name && (j.finishedOn !== undefined || j.attemptsMade > 0),
      );
    },
    15_000,
    `the ${name} job ran`,
  );
}

describe("the kill switch and an entry between its risk check and its send", () => {
  it("a /halt cancels the entry that reaches the broker after the halt's look-up", async () => {
    await t.sim.control("/sim/quotes", { symbol: HALTED_ENTRY, bid: "99.99", ask: "100.01" });
    await setMode("ACTIVE", "test");
    const { arrival, release } = gate(HALTED_ENTRY);
    const decision = await t.decide({ symbol: HALTED_ENTRY, entry: "97.00", quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    // The entry is recorded (the account was active) and on its way to the broker.
    await arrival;

    await setMode("HALTED", "/halt by @ann");
    const trading = createTradingRequests(t.jobs, createKillSwitchClient(killQueue));
    await trading.cancelWorkingEntries({ accountId: t.accountId, reason: "/halt by @ann" });
    await ranOnce("cancel-entries");

    // Now it reaches the broker.
    release();
    await waitFor(
      async () => {
        const trade = await findTradeByDecision(t.db.db, decision.id);
        if (!trade) return false;
        const orders = await listOrdersForTrade(t.db.db, trade.id);
        return orders.some((o) => o.order.role === "ENTRY" && o.order.brokerOrderId !== null);
      },
      15_000,
      "the entry at the broker",
    );
    // A halted account keeps no working entry.
    await waitFor(
      async () => (await openOrders(t, HALTED_ENTRY)).length === 0,
      20_000,
      "the late entry cancelled",
    );
  }, 60_000);

  it("a /flatten leaves no position opened by an entry that reaches the broker after its sweep", async () => {
    await t.sim.control("/sim/quotes", { symbol: FLATTENED_ENTRY, bid: "99.99", ask: "100.01" });
    await setMode("ACTIVE", "test");
    const { arrival, release } = gate(FLATTENED_ENTRY);
    const decision = await t.decide({ symbol: FLATTENED_ENTRY, entry: null, quantity: "10" });
    await t.jobs.executeDecision(decision.id);
    await arrival;

    await setMode("HALTED", "/flatten by @ann");
    const trading = createTradingRequests(t.jobs, createKillSwitchClient(killQueue));
    await trading.flatten({
      accountId: t.accountId,
      requestedBy: "user:1",
      requestId: "flatten-race",
    });
    await ranOnce("flatten");

    // The market entry reaches the broker and fills.
    release();
    // The flatten leaves the account flat: the position that entry opened is closed too.
    await waitFor(
      async () => {
        const trade = await findTradeByDecision(t.db.db, decision.id);
        return trade?.trade.status === "CLOSED";
      },
      25_000,
      "the late entry's position closed",
    );
    const held = await t.broker.getPosition(FLATTENED_ENTRY);
    expect(held.ok).toBe(false);
    expect(await openOrders(t, FLATTENED_ENTRY)).toEqual([]);
  }, 60_000);

  it("a /flatten cancels the working orders the desk did not place, where no position is held", async () => {
    await t.sim.control("/sim/quotes", { symbol: OUTSIDE_ORDER, bid: "99.99", ask: "100.01" });
    // A buy resting at the broker, placed outside the desk (the broker's own app).
    const placed = await t.broker.submitOrder({
      clientOrderId: "outside-buy-1",
      symbol: OUTSIDE_ORDER,
      side: "buy",
      qty: dec("10"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "limit", limitPrice: dec("97.00") },
    });
    expect(placed.ok).toBe(true);
    expect(await openOrders(t, OUTSIDE_ORDER)).toHaveLength(1);

    const outcome = await createKillSwitch(t.deps, createOrderReportHandler(t.deps)).flatten({
      accountId: t.accountId,
      requestedBy: "user:1",
      requestId: "flatten-outside",
      notify: false,
    });
    expect(outcome.failed).toEqual([]);
    // Cancel everything: nothing is left to open a position on the halted account.
    expect(await openOrders(t, OUTSIDE_ORDER)).toEqual([]);
  }, 60_000);
});
