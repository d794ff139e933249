/**
 * The daily-loss rule between two look-ups of the day's cash transfers, against the simulator
 * with real PostgreSQL and Redis: a deposit moves the equity at once while the net deposits found
 * a moment before still stand, so the rule must not read the deposit as the day's gain and miss
 * the positions' loss beside it. A rise the positions' marks explain costs no look-up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import { findBrokerAccount } from "../../db/brokerAccounts";
import type { Broker } from "../../domain/broker";
import { dec } from "../../domain/money";
import type { DailyLossEvaluation } from "../../domain/tradingState";
import { createJobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const symbol = TEST_SYMBOLS[36] ?? "T36";

beforeAll(async () => {
  t = await openLifecycle("value-deposit-lag");
});
afterAll(async () => {
  await t?.close();
});

/** A value processor on a clock the test moves, counting the broker's transfer look-ups. */
function valueCounting() {
  let now = t.deps.now();
  const evaluations: DailyLossEvaluation[] = [];
  const halts: HaltCause[] = [];
  const counted = { lookups: 0 };
  const broker: Broker = {
    ...t.broker,
    listCashTransfers(after) {
      counted.lookups += 1;
      return t.broker.listCashTransfers(after);
    },
  };
  const value = createValueProcessor(
    createJobDeps({ ...t.deps, brokerFor: () => broker, now: () => now }),
    {
      onHalted: async (_accountId, cause) => {
        halts.push(cause);
      },
    },
  );
  const seen = createValueProcessor(
    createJobDeps({ ...t.deps, brokerFor: () => broker, now: () => now }),
    {
      dailyLoss: async (context) => {
        evaluations.push(context.evaluation);
      },
    },
  );
  return {
    value,
    seen,
    evaluations,
    halts,
    counted,
    later(ms: number) {
      now = new Date(now.getTime() + ms);
    },
  };
}

describe("the daily-loss rule between look-ups of the day's transfers", () => {
  it("holds a 50,000-share position in the books", async () => {
    await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
    const bought = await t.broker.submitOrder({
      clientOrderId: "value-deposit-lag-buy",
      symbol,
      side: "buy",
      qty: dec("50000"),
      timeInForce: "day",
      orderClass: "simple",
      entry: { type: "market" },
    });
    if (!bought.ok) throw new Error(bought.message);
    await waitFor(async () => (await t.broker.getPosition(symbol)).ok);
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
  });

  it("does not look the transfers up again for a rise the marks explain", async () => {
    const { seen, evaluations, counted, later } = valueCounting();
    await seen({ data: { accountId: t.accountId } });
    expect(counted.lookups).toBe(1);
    // 50,000 x 7 up, 10 s later: 350,000, more than the limit, which the position's mark
    // explains.
    await t.sim.control("/sim/quotes", { symbol, price: "107" });
    later(10_000);
    await seen({ data: { accountId: t.accountId } });
    expect(counted.lookups).toBe(1);
    expect(evaluations.map((e) => e.level)).toEqual(["OK", "OK"]);
    await t.sim.control("/sim/quotes", { symbol, price: "100" });
  });

  it("halts on the positions' loss a deposit made since the last look-up hides in the equity", async () => {
    const { value, halts, later } = valueCounting();
    // The day's transfers (none) are looked up: the day is about even.
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("OK");
    // 10 s later: 1,000,000 paid in, and the 50,000 shares bought at 100.01 trade at 92:
    // 400,500 lost, past the 3% limit of the 10,000,000 close, while the equity reads 599,500 up.
    await t.sim.control("/sim/cash", { amount: "1000000" });
    await t.sim.control("/sim/quotes", { symbol, price: "92" });
    later(10_000);
    const result = await value({ data: { accountId: t.accountId } });
    expect(result.dailyLossLevel).toBe("BREACHED");
    expect(halts).toEqual(["daily-loss"]);
    expect((await findBrokerAccount(t.db.db, t.accountId))?.tradingState).toBe("HALTED");
  });

  it("keeps the halted day's figures true for /resume when a deposit follows the halt", async () => {
    const { value, later } = valueCounting();
    // Halted 400,500 down with the 1,000,000 deposited: the transfers are looked up.
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("BREACHED");
    // 10 s later another 1,000,000 is paid in, and the trader asks to resume.
    await t.sim.control("/sim/cash", { amount: "1000000" });
    later(10_000);
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("BREACHED");
    const resume = createDailyLossResumeCheck({ db: t.db.db, now: t.deps.now });
    expect(await resume({ accountId: t.accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining("The day's loss (-400500.00) is still beyond the limit"),
    });
  });

  it("never shows /resume the new equity beside the day's transfers before it", async () => {
    const resume = createDailyLossResumeCheck({ db: t.db.db, now: t.deps.now });
    const verdicts: unknown[] = [];
    // /resume asked while a valuation looks the transfers up.
    const broker: Broker = {
      ...t.broker,
      async listCashTransfers(after) {
        verdicts.push(await resume({ accountId: t.accountId, reason: null }));
        return t.broker.listCashTransfers(after);
      },
    };
    const value = createValueProcessor(createJobDeps({ ...t.deps, brokerFor: () => broker }));
    // Another 1,000,000 paid in: the day is still 400,500 down.
    await t.sim.control("/sim/cash", { amount: "1000000" });
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("BREACHED");
    expect(verdicts).toEqual([expect.objectContaining({ allowed: false })]);
  });

  it("does not let a valuation finishing late store its older equity beside a newer one's transfers", async () => {
    const resume = createDailyLossResumeCheck({ db: t.db.db, now: t.deps.now });
    // The account as a valuation read it before 1,000,000 was taken out.
    const before = await t.broker.getAccount();
    if (!before.ok) throw new Error(before.message);
    await t.sim.control("/sim/cash", { amount: "-1000000" });
    const start = t.deps.now();
    // The later valuation stores its figures first; the earlier one, which read the account
    // before the withdrawal, finishes after it.
    const newer = createValueProcessor(
      createJobDeps({ ...t.deps, now: () => new Date(start.getTime() + 20_000) }),
    );
    await newer({ data: { accountId: t.accountId } });
    const stale: Broker = { ...t.broker, getAccount: async () => before };
    const older = createValueProcessor(
      createJobDeps({
        ...t.deps,
        brokerFor: () => stale,
        now: () => new Date(start.getTime() + 15_000),
      }),
    );
    await older({ data: { accountId: t.accountId } });
    expect(await resume({ accountId: t.accountId, reason: null })).toEqual({
      allowed: false,
      message: expect.stringContaining("The day's loss (-400500.00) is still beyond the limit"),
    });
  });
});
