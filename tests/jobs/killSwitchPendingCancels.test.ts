/**
 * /close and /flatten meeting exits whose cancel the broker holds `pending_cancel` for longer than
 * the close waits (as Alpaca does before `canceled`; the stop keeps holding its shares meanwhile),
 * through the kill-switch queue on the simulator with real PostgreSQL and Redis: /close and /flatten
 * tell the trader the cancel is pending (not a refusal for buying power), the pending stop keeps
 * protecting with no second one beside it, and the close goes out once the cancel is confirmed; a
 * /close whose position the pending stop closes meanwhile ends without retries or a false "close
 * it yourself".
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createKillSwitchClient, createKillSwitchProcessor } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { jobIdOf } from "../../jobs/queues";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  tradeIn,
  waitFor,
} from "./harness";
import {
  closeResults,
  type KillSwitchJobs,
  openPosition,
  startKillSwitchJobs,
} from "./killSwitchJobs";

let t: Lifecycle;
let killJobs: KillSwitchJobs;

beforeAll(async () => {
  t = await openLifecycle("close-pending-cancels");
  await startStreamingRuntime(t);
  killJobs = startKillSwitchJobs(t);
}, 60_000);
afterAll(async () => {
  await killJobs?.close();
  await t?.close();
});

interface SimOrder {
  id: string;
  symbol: string;
  side: string;
  type: string;
  status: string;
  qty: string;
  client_order_id: string;
}

async function simOrders(symbol: string): Promise<SimOrder[]> {
  const state = (await t.sim.control("/sim/state")) as { orders: SimOrder[] };
  return state.orders.filter((o) => o.symbol === symbol);
}

const LIVE = ["new", "held", "accepted", "pending_new", "partially_filled", "pending_cancel"];

async function brokerQty(symbol: string): Promise<string> {
  const p = await t.broker.getPosition(symbol);
  return p.ok ? p.value.qty.toFixed() : "0";
}

/** Runs a /close job as the worker's last attempt would. */
function lastAttempt(data: { readonly symbol: string; readonly requestId: string }) {
  const process = createKillSwitchProcessor(
    createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
  );
  return process({
    data: {
      action: "close",
      accountId: t.accountId,
      percent: null,
      requestedBy: "user:1",
      ...data,
    },
    attemptsMade: 9,
    opts: { attempts: 10 },
  });
}

/** What the broker's live sell stops of `symbol` would sell (those pending cancel included). */
async function liveStopQuantity(symbol: string): Promise<number> {
  return (await simOrders(symbol))
    .filter((o) => o.side === "sell" && o.type === "stop" && LIVE.includes(o.status))
    .reduce((sum, o) => sum + Number(o.qty), 0);
}

describe("closes meeting cancels the broker holds pending", () => {
  for (const action of ["close", "flatten"] as const) {
    it(`/${action}: says the exits' cancel is pending, keeps the stop, closes once it is confirmed, with one stop at a time`, async () => {
      const symbol = TEST_SYMBOLS[action === "close" ? 35 : 36] as string;
      const { decision } = await openPosition(t, symbol, "100");
      let watching = true;
      let mostStopped = 0;
      const watch = (async () => {
        while (watching) {
          mostStopped = Math.max(mostStopped, await liveStopQuantity(symbol));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      await t.sim.control("/sim/faults", { holdCancels: true });
      try {
        const client = createKillSwitchClient(killJobs.queue);
        const requestId = `pending-${action}`;
        if (action === "close") {
          await client.closePosition({
            accountId: t.accountId,
            symbol,
            percent: null,
            requestedBy: "user:1",
            requestId,
          });
        } else {
          await client.flatten({ accountId: t.accountId, requestedBy: "user:1", requestId });
        }
        const told = await waitFor(
          async () => (await closeResults(t, symbol)).find((n) => n.outcome === "failed"),
          15_000,
          "the first failure told",
        );
        // Told why: the broker has not let go of the shares yet, not a lack of buying power.
        expect(told).toMatchObject({ code: "CANCEL_PENDING", symbol });
        expect(told.reason).toContain("pending");
        // The stop, its cancel pending, still works for the whole position.
        expect(await liveStopQuantity(symbol)).toBe(100);
        expect(await brokerQty(symbol)).toBe("100");
      } catch (error) {
        watching = false;
        await watch;
        throw error;
      } finally {
        await t.sim.control("/sim/faults", { clear: true });
      }
      try {
        const closed = await tradeIn(t.db.db, decision.id, "CLOSED");
        expect(closed.trade.exitReason).toBe(action === "close" ? "MANUAL_EXIT" : "FLATTENED");
        expect(await brokerQty(symbol)).toBe("0");
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        watching = false;
        await watch;
      }
      // Never a second stop beside the one whose cancel was pending.
      expect(mostStopped).toBe(100);
      expect(await liveStopQuantity(symbol)).toBe(0);
      expect((await closeResults(t, symbol)).filter((n) => n.outcome === "failed")).toHaveLength(1);
    }, 60_000);
  }

  it("ends a /close whose position its stop closed while the exits' cancel was pending, without telling the trader to close it", async () => {
    const symbol = TEST_SYMBOLS[34] as string;
    const { decision } = await openPosition(t, symbol, "100");
    const request = { symbol, requestId: "stop-filled-meanwhile" };
    await t.sim.control("/sim/faults", { holdCancels: true });
    try {
      await createKillSwitchClient(killJobs.queue).closePosition({
        accountId: t.accountId,
        percent: null,
        requestedBy: "user:1",
        ...request,
      });
      await waitFor(
        async () => (await closeResults(t, symbol)).some((n) => n.outcome === "failed"),
        15_000,
        "the first failure told",
      );
      // The stop, its cancel still pending, still works: the price falls through it.
      await t.sim.control("/sim/quotes", { symbol, bid: "94.00", ask: "94.02" });
      await tradeIn(t.db.db, decision.id, "CLOSED");
    } finally {
      await t.sim.control("/sim/faults", { clear: true });
    }
    expect(await brokerQty(symbol)).toBe("0");
    // Nothing is left to close: the job ends (no retries), and on its last attempt the trader
    // is not told to close with /close a position already closed.
    await expect(lastAttempt(request)).resolves.toMatchObject({ ok: false, code: "NO_POSITION" });
    const job = await killJobs.queue.getJob(jobIdOf("close", t.accountId, request.requestId));
    await waitFor(async () => (await job?.getState()) === "completed", 15_000, "the job done");
    const told = await closeResults(t, symbol);
    expect(told.filter((n) => n.outcome === "failed")).toHaveLength(1);
    expect(told.some((n) => n.nextStep?.includes("stopped retrying"))).toBe(false);
    expect((await simOrders(symbol)).filter((o) => LIVE.includes(o.status))).toEqual([]);
  }, 60_000);
});
