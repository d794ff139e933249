/**
 * An OCO exit whose take-profit filled in part: the broker shrinks its stop leg to what the group
 * still holds, so the stop covers that much and no more, whatever quantity the books recorded for
 * it. A later entry fill of the same trade is then covered in full. Run in this process (the
 * protect job called as its queue would) against real PostgreSQL and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTradeByDecision } from "../../db/trades";
import { ZERO } from "../../domain/money";
import { brokerOrderToReport } from "../../jobs/brokerOrderPayload";
import { createJobDeps, type JobDeps } from "../../jobs/context";
import { createOrderReportHandler, type OrderReportHandler } from "../../jobs/orderReports";
import { createProtectProcessor } from "../../jobs/protect";
import { executeDecision, type Lifecycle, openLifecycle, TEST_SYMBOLS } from "./harness";

let t: Lifecycle;
/** Entries sent as simple orders, their fills applied without inline protection. */
let deps: JobDeps;
let handler: OrderReportHandler;

beforeAll(async () => {
  t = await openLifecycle("protect-oco-partial");
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

async function quote(symbol: string, bid: string, ask: string): Promise<void> {
  await t.sim.control("/sim/quotes", { symbol, bid, ask });
}

/** The books catch up with every order of the symbol at the broker. */
async function catchUp(symbol: string): Promise<void> {
  const all = await t.broker.listOrders({ status: "all", symbols: [symbol], nested: false });
  if (!all.ok) throw new Error(all.message);
  for (const order of all.value) {
    await handler.handle(t.accountId, "poll", brokerOrderToReport(order, deps.now()));
  }
}

/** What the working sell stops at the broker still cover, and the position held there. */
async function brokerCoverage(symbol: string): Promise<{ stops: string; held: string }> {
  const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: false });
  if (!open.ok) throw new Error(open.message);
  const stops = open.value
    .filter((o) => o.type === "stop" && o.side === "sell")
    .reduce((sum, o) => sum.plus((o.qty ?? ZERO).minus(o.filledQty)), ZERO);
  const held = await t.broker.getPosition(symbol);
  return { stops: stops.toFixed(), held: held.ok ? held.value.qty.toFixed() : "0" };
}

describe("an OCO whose take-profit filled in part", () => {
  it("covers a later entry fill in full: the stop leg counts for what the group still holds", async () => {
    const symbol = TEST_SYMBOLS[32] as string;
    await quote(symbol, "100.20", "100.22");
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "4" });
    const decision = await t.decide({ symbol, entry: "100.05", quantity: "10" });
    await executeDecision(deps, decision.id, handler);
    const trade = await findTradeByDecision(t.db.db, decision.id);
    if (!trade) throw new Error("no trade");
    const payload = {
      accountId: t.accountId,
      tradeId: trade.id,
      reason: "repair",
      fillId: null,
    } as const;
    const protect = createProtectProcessor(deps, { handler });

    // 4 of the 10 fill (the price then moves off the limit); an OCO of 4 covers them.
    await quote(symbol, "99.98", "100.00");
    await quote(symbol, "100.20", "100.22");
    await catchUp(symbol);
    expect(await protect.protectTrade(payload, false)).toMatchObject({ outcome: "covered" });
    expect(await brokerCoverage(symbol)).toEqual({ stops: "4", held: "4" });

    // The price jumps through the target: 2 of its 4 fill, the broker's stop leg shrinks to 2.
    await t.sim.control("/sim/liquidity", { symbol, sharesPerFill: "2" });
    await quote(symbol, "110.05", "110.07");
    await catchUp(symbol);
    expect(await brokerCoverage(symbol)).toEqual({ stops: "2", held: "2" });

    // Back down: 2 more of the entry fill. The position is 4; the stops must cover all 4.
    await quote(symbol, "99.98", "100.00");
    await quote(symbol, "100.20", "100.22");
    await catchUp(symbol);
    expect((await findTradeByDecision(t.db.db, decision.id))?.trade.quantity.toFixed()).toBe("4");
    await protect.protectTrade(payload, false);
    expect(await brokerCoverage(symbol)).toEqual({ stops: "4", held: "4" });
  });
});
