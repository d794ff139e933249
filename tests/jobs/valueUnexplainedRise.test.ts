/**
 * The daily-loss rule beside an equity rise that neither the books' marks nor the day's cash
 * transfers explain (shares moved in, which the broker lists as no cash activity, or a position
 * the books do not hold): it cannot be counted safely, so nothing is halted on it, but the
 * operator is told when it could hide a loss past the limit.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dec } from "../../domain/money";
import { createJobDeps } from "../../jobs/context";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { createReconcileProcessor } from "../../jobs/reconcile";
import { createValueProcessor } from "../../jobs/value";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS, waitFor } from "./harness";

let t: Lifecycle;
const held = TEST_SYMBOLS[37] ?? "T37";
const unknown = TEST_SYMBOLS[38] ?? "T38";

beforeAll(async () => {
  t = await openLifecycle("value-unexplained");
});
afterAll(async () => {
  await t?.close();
});

async function buy(symbol: string, qty: string): Promise<void> {
  const bought = await t.broker.submitOrder({
    clientOrderId: `value-unexplained-${symbol}`,
    symbol,
    side: "buy",
    qty: dec(qty),
    timeInForce: "day",
    orderClass: "simple",
    entry: { type: "market" },
  });
  if (!bought.ok) throw new Error(bought.message);
  await waitFor(async () => (await t.broker.getPosition(symbol)).ok);
}

describe("an equity rise nothing explains", () => {
  it("is told as a possibly hidden loss, and halts nothing", async () => {
    await t.sim.control("/sim/quotes", { symbol: held, price: "100" });
    await buy(held, "50000");
    const reconcile = createReconcileProcessor(t.deps, {
      handler: createOrderReportHandler(t.deps),
    });
    await reconcile({ data: { accountId: t.accountId, reason: "test" } });
    // 50,000 more shares the books do not hold (as shares journaled in would be).
    await t.sim.control("/sim/quotes", { symbol: unknown, price: "100" });
    await buy(unknown, "50000");

    const warnings: { fields: Record<string, unknown>; message: string }[] = [];
    const logger = pino(
      { level: "warn" },
      {
        write(line: string) {
          const { msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
          warnings.push({ fields, message: String(msg) });
        },
      },
    );
    let now = t.deps.now();
    const value = createValueProcessor(createJobDeps({ ...t.deps, logger, now: () => now }));
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("OK");
    // 10 s later the held shares are 400,000 down, the others 500,000 up: the equity reads
    // 100,000 up, the books 400,000 down.
    await t.sim.control("/sim/quotes", { symbol: held, price: "92" });
    await t.sim.control("/sim/quotes", { symbol: unknown, price: "110" });
    now = new Date(now.getTime() + 10_000);
    expect((await value({ data: { accountId: t.accountId } })).dailyLossLevel).toBe("OK");
    expect(warnings).toEqual([
      {
        fields: expect.objectContaining({ accountId: t.accountId, unexplainedRise: "500000.00" }),
        message: expect.stringContaining("a loss may be hidden"),
      },
    ]);
  });
});
