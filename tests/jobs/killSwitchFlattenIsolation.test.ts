/**
 * A flatten in which one symbol's close fails with an error (not a refusal the close reports)
 * still closes and reports the others, reports that symbol as failed, and asks for its stop
 * back: its exits may have been cancelled for the close. Run in this process against PostgreSQL
 * and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTradeByDecision, type TradeRecord } from "../../db/trades";
import type { Broker } from "../../domain/broker";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { entryClientOrderId } from "../../jobs/entryOrders";
import { createKillSwitch } from "../../jobs/killSwitch";
import { createKillSwitchProcessor } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";
import { closeResults } from "./killSwitchJobs";

let t: Lifecycle;
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("kill-switch-flatten-isolation");
  deps = createJobDeps({
    db: t.db.db,
    brokerFor: () => t.broker,
    now: t.deps.now,
    logger: t.deps.logger,
    jobs: t.jobs,
    settings: { nativeBrackets: false },
  });
  handler = createOrderReportHandler(deps);
});
afterAll(async () => {
  await t?.close();
});

/** A long of 10 at about $100 with its OCO stop and target at the broker. */
async function protectedLong(symbol: string): Promise<TradeRecord> {
  await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
  const decision = await t.decide({ symbol, entry: null, quantity: "10" });
  await executeDecision(deps, decision.id, handler);
  const entry = await waitFor(async () => {
    const found = await t.broker.getOrderByClientOrderId(entryClientOrderId(decision.id));
    return found.ok && found.value.status === "filled" ? found.value : null;
  });
  await handler.handle(t.accountId, "poll", brokerOrderToReport(entry, deps.now()));
  const trade = await findTradeByDecision(t.db.db, decision.id);
  if (trade?.trade.status !== "POSITION") throw new Error("no position");
  const protect = createProtectProcessor(deps, { handler });
  await protect.protectTrade(
    { accountId: t.accountId, tradeId: trade.id, reason: "repair", fillId: null },
    false,
  );
  return trade;
}

describe("a flatten with one symbol failing", () => {
  it("closes and reports the others, reports that one, and asks for its stop back", async () => {
    const failing = TEST_SYMBOLS[35] as string;
    const other = TEST_SYMBOLS[36] as string;
    const failingTrade = await protectedLong(failing);
    await protectedLong(other);
    // The failing symbol's position cannot be read once its exits are cancelled.
    let reads = 0;
    const broker: Broker = {
      ...t.broker,
      getPosition(symbol) {
        if (symbol === failing && ++reads >= 2) throw new Error("socket hang up");
        return t.broker.getPosition(symbol);
      },
    };
    const killSwitch = createKillSwitch({ ...deps, brokerFor: async () => broker }, handler);
    const outcome = await killSwitch.flatten({
      accountId: t.accountId,
      requestedBy: "user:1",
      requestId: "isolation",
    });
    expect(outcome.closed.map((c) => c.symbol)).toEqual([other]);
    expect(outcome.failed.map((c) => c.symbol)).toEqual([failing]);
    const told = await closeResults(t);
    expect(told.map((n) => [n.symbol, n.outcome]).sort()).toEqual([
      [failing, "failed"],
      [other, "closed"],
    ]);
    const asked = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    expect(
      asked.some(
        (j) =>
          (j.data as { tradeId?: number; reason?: string }).tradeId === failingTrade.id &&
          (j.data as { reason?: string }).reason === "after_close",
      ),
    ).toBe(true);
  });
});

describe("a /close whose close throws", () => {
  it("is told to the trader and asks for the stop back, and the job retries it", async () => {
    const symbol = TEST_SYMBOLS[37] as string;
    const trade = await protectedLong(symbol);
    let reads = 0;
    const broker: Broker = {
      ...t.broker,
      getPosition(s) {
        if (s === symbol && ++reads >= 2) throw new Error("socket hang up");
        return t.broker.getPosition(s);
      },
    };
    const killSwitch = createKillSwitch({ ...deps, brokerFor: async () => broker }, handler);
    const process = createKillSwitchProcessor(killSwitch);
    const data = {
      action: "close",
      accountId: t.accountId,
      symbol,
      percent: null,
      requestedBy: "user:1",
      requestId: "close-throws",
    };
    await expect(process({ data, attemptsMade: 0, opts: { attempts: 10 } })).rejects.toThrow(
      /socket hang up/,
    );
    const told = await closeResults(t, symbol);
    expect(told.map((n) => [n.outcome, n.code])).toEqual([["failed", "ERROR"]]);
    const asked = await t.queues.protect.getJobs(["waiting", "delayed", "prioritized"]);
    expect(
      asked.some(
        (j) =>
          (j.data as { tradeId?: number }).tradeId === trade.id &&
          (j.data as { reason?: string }).reason === "after_close",
      ),
    ).toBe(true);
  });
});
