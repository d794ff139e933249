/**
 * The daily-loss rule while the broker's trading calendar cannot be read, against the simulator
 * with real PostgreSQL and Redis: the day's transfers are still counted from about the previous
 * close (the weekday before at 16:00 New York), not from midnight, so a withdrawal made the
 * evening before is no loss.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listEquitySnapshots } from "../../db/equitySnapshots";
import type { Broker } from "../../domain/broker";
import { createJobDeps } from "../../jobs/context";
import { createValueProcessor, type HaltCause } from "../../jobs/value";
import { type Lifecycle, openLifecycle } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("value-no-calendar");
});
afterAll(async () => {
  await t?.close();
});

describe("the daily-loss rule without the trading calendar", () => {
  it("does not count a withdrawal made the evening before as the day's loss", async () => {
    // Monday evening, after the close the broker's last equity was taken at: 500,000 out.
    await t.sim.control("/sim/clock", { time: "2026-03-02T21:30:00Z" });
    await t.sim.control("/sim/cash", { amount: "-500000" });
    // Tuesday before the open: equity is 500,000 below Monday's close, none of it lost.
    await t.sim.control("/sim/clock", { time: "2026-03-03T14:00:00Z" });
    const tuesday = new Date("2026-03-03T14:00:00Z");
    const noCalendar: Broker = {
      ...t.broker,
      async getCalendar() {
        return { ok: false, code: "SERVER_ERROR", message: "calendar down", retryable: true };
      },
    };
    const halts: HaltCause[] = [];
    const value = createValueProcessor(
      createJobDeps({ ...t.deps, brokerFor: () => noCalendar, now: () => tuesday }),
      {
        onHalted: async (_accountId, cause) => {
          halts.push(cause);
        },
      },
    );
    const result = await value({ data: { accountId: t.accountId } });
    expect(result.dailyLossLevel).toBe("OK");
    expect(halts).toEqual([]);
    const [snapshot] = await listEquitySnapshots(t.db.db, t.accountId, "2026-03-03", "2026-03-03");
    expect(snapshot?.netDeposits.toFixed()).toBe("-500000");
  });
});
