/**
 * Two runs of the same /close request at once (a stalled job run again while the first run still
 * works, or two workers), on the simulator with real PostgreSQL and Redis: whatever the order in
 * which their steps meet, the request closes the asked part of the position once, with one close
 * at the broker.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listOrdersForTrade } from "../../db/orders";
import type { Broker } from "../../domain/broker";
import { createJobDeps } from "../../jobs/context";
import { createKillSwitch, type SymbolClose } from "../../jobs/killSwitch";
import { createOrderReportHandler } from "../../jobs/orderReports";
import {
  type Lifecycle,
  openLifecycle,
  startStreamingRuntime,
  TEST_SYMBOLS,
  waitFor,
} from "./harness";
import { openOrders, openPosition } from "./killSwitchJobs";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("close-race");
  await startStreamingRuntime(t);
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** A promise opened by hand. */
function gate(): { readonly open: () => void; readonly passed: Promise<void> } {
  let open = () => {};
  const passed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, passed };
}

async function brokerQty(symbol: string): Promise<string> {
  const p = await t.broker.getPosition(symbol);
  return p.ok ? p.value.qty.toFixed() : "0";
}

async function simCloses(symbol: string) {
  const all = await t.broker.listOrders({ status: "all", symbols: [symbol], limit: 500 });
  if (!all.ok) throw new Error(all.message);
  return all.value.filter((o) => o.clientOrderId.startsWith("close-"));
}

/** A kill switch whose broker is `broker` around the simulator's. */
function killSwitchOver(broker: (inner: Broker) => Broker) {
  return createKillSwitch(
    createJobDeps({ ...t.deps, brokerFor: () => broker(t.broker) }),
    createOrderReportHandler(t.deps),
  );
}

function closeRequest(symbol: string, percent: string) {
  return {
    accountId: t.accountId,
    symbol,
    percent,
    requestedBy: "user:1",
    requestId: `race-${symbol}`,
    exitReason: "MANUAL_EXIT" as const,
  };
}

/**
 * Run A is held just before it sends its close; run B of the same request then goes until its
 * `bRead`-th read of the position, where it waits until A's close has reached the broker (and
 * filled), A's answer still held back; then B finishes, and A gets its answer. The stream's events
 * are lost meanwhile, so the books hear of A's close only from A or from B's look-ups.
 */
async function sendWhileRetried(symbol: string, percent: string, bRead: number) {
  const aAtSend = gate();
  const aMaySend = gate();
  const aSent = gate();
  const aMayHear = gate();
  const bAtRead = gate();
  const bMayRead = gate();
  const runA = killSwitchOver((inner) => ({
    ...inner,
    async submitOrder(order, options) {
      if (!order.clientOrderId.startsWith("close-")) return inner.submitOrder(order, options);
      aAtSend.open();
      await aMaySend.passed;
      const answer = await inner.submitOrder(order, options);
      aSent.open();
      await aMayHear.passed;
      return answer;
    },
  }));
  let reads = 0;
  const runB = killSwitchOver((inner) => ({
    ...inner,
    async getPosition(s) {
      reads += 1;
      if (reads === bRead) {
        bAtRead.open();
        await bMayRead.passed;
      }
      return inner.getPosition(s);
    },
  }));
  const request = closeRequest(symbol, percent);
  await t.sim.control("/sim/faults", { dropEvents: true });
  let a: Promise<SymbolClose> | undefined;
  let b: Promise<SymbolClose> | undefined;
  try {
    a = runA.closePosition(request);
    await aAtSend.passed;
    b = runB.closePosition(request);
    await bAtRead.passed;
    aMaySend.open();
    await aSent.passed;
    bMayRead.open();
    const second = await b;
    aMayHear.open();
    const first = await a;
    return { first, second };
  } finally {
    aMaySend.open();
    bMayRead.open();
    aMayHear.open();
    await Promise.allSettled([a, b]);
    await t.sim.control("/sim/faults", { clear: true });
  }
}

describe("two runs of one close request", () => {
  it("closes half once when both runs read the position before either records its close", async () => {
    const symbol = TEST_SYMBOLS[30] as string;
    const { trade } = await openPosition(t, symbol, "100");
    const bothRead = gate();
    let reading = 0;
    const meeting = (inner: Broker): Broker => {
      let first = true;
      return {
        ...inner,
        async getPosition(s) {
          if (first) {
            first = false;
            reading += 1;
            if (reading === 2) bothRead.open();
            await bothRead.passed;
          }
          return inner.getPosition(s);
        },
      };
    };
    const request = closeRequest(symbol, "50");
    const results = await Promise.all([
      killSwitchOver(meeting).closePosition(request),
      killSwitchOver(meeting).closePosition(request),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(await brokerQty(symbol)).toBe("50");
    const sent = await simCloses(symbol);
    expect(sent.map((o) => o.qty?.toFixed())).toEqual(["50"]);
    await waitFor(
      async () => (await openOrders(t, symbol)).some((o) => o.type === "stop" && o.qty?.eq(50)),
      15_000,
      "a stop for the 50 left",
    );
    const exits = (await listOrdersForTrade(t.db.db, trade.id)).filter(
      (o) => o.order.role === "EXIT",
    );
    expect(exits.map((o) => o.order.brokerOrderId)).toEqual([sent[0]?.brokerOrderId]);
  }, 60_000);

  it("closes half once when the retry reads the position after the first run's close filled", async () => {
    const symbol = TEST_SYMBOLS[31] as string;
    await openPosition(t, symbol, "100");
    const { first, second } = await sendWhileRetried(symbol, "50", 1);
    expect([first.ok, second.ok]).toEqual([true, true]);
    expect(await brokerQty(symbol)).toBe("50");
    expect((await simCloses(symbol)).map((o) => o.qty?.toFixed())).toEqual(["50"]);
  }, 60_000);

  it("does not end the first run's close as unsent and send another when the retry finds the position smaller", async () => {
    const symbol = TEST_SYMBOLS[32] as string;
    const { trade } = await openPosition(t, symbol, "100");
    // B records nothing of its own (A's close fits the position it reads first), then finds 40
    // left after cancelling the exits: A's close has filled, its answer not heard yet.
    const { first, second } = await sendWhileRetried(symbol, "60", 2);
    expect([first.ok, second.ok]).toEqual([true, true]);
    expect(await brokerQty(symbol)).toBe("40");
    const sent = await simCloses(symbol);
    expect(sent.map((o) => o.qty?.toFixed())).toEqual(["60"]);
    const exits = (await listOrdersForTrade(t.db.db, trade.id)).filter(
      (o) => o.order.role === "EXIT",
    );
    expect(exits.map((o) => [o.order.status, o.order.brokerOrderId])).toEqual([
      ["filled", sent[0]?.brokerOrderId],
    ]);
  }, 60_000);
});
