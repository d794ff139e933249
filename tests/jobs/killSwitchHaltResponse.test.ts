/**
 * The response to an automatic halt asks for the flatten the account's settings ask for whatever
 * else of it fails (the halt is stored before the response runs, so a retry of the pass that
 * halted finds the account halted already and does not come back to it), once per halt.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeTradingState } from "../../db/brokerAccounts";
import { DEFAULT_KILL_SWITCH_SETTINGS, saveKillSwitchSettings } from "../../db/killSwitchSettings";
import { createKillSwitch } from "../../jobs/killSwitch";
import {
  createHaltResponse,
  createKillSwitchClient,
  createKillSwitchQueue,
} from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { type Lifecycle, openLifecycle } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("kill-switch-halt-response");
});
afterAll(async () => {
  await t?.close();
});

describe("the halt response", () => {
  it("asks for the automatic flatten even when the later sweep of the entries cannot be queued", async () => {
    const queue = createKillSwitchQueue({
      connection: t.redis.connect(),
      prefix: `${t.prefix}-sweepfail`,
    });
    try {
      await saveKillSwitchSettings(
        t.db.db,
        t.accountId,
        { ...DEFAULT_KILL_SWITCH_SETTINGS, flattenOnHalt: true },
        new Date(),
      );
      const client = createKillSwitchClient(queue);
      const respond = createHaltResponse(
        t.deps,
        createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
        {
          ...client,
          sweepEntries: async () => {
            throw new Error("Connection is closed.");
          },
        },
      );
      await respond(t.accountId).catch(() => undefined);
      const jobs = await queue.getJobs(["waiting", "delayed"]);
      expect(jobs.map((j) => j.name)).toEqual(["flatten"]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

describe("the automatic flatten of a halt", () => {
  it("is one per halt: a halt after the day's first one was reset flattens again", async () => {
    const queue = createKillSwitchQueue({
      connection: t.redis.connect(),
      prefix: `${t.prefix}-perhalt`,
    });
    const haltAt = async (since: number) => {
      await changeTradingState(
        t.db.db,
        t.accountId,
        () => ({ mode: "HALTED", setBy: "AUTO", reason: "Daily loss", since }),
        "test",
        new Date(since),
      );
    };
    try {
      await saveKillSwitchSettings(
        t.db.db,
        t.accountId,
        { ...DEFAULT_KILL_SWITCH_SETTINGS, flattenOnHalt: true },
        new Date(),
      );
      const respond = createHaltResponse(
        t.deps,
        createKillSwitch(t.deps, createOrderReportHandler(t.deps)),
        createKillSwitchClient(queue),
      );
      const flattens = async () =>
        (await queue.getJobs(["waiting", "delayed", "completed"])).filter(
          (j) => j.name === "flatten",
        );
      // A pre-market halt, answered twice (the value job's and the breaker pass's): one flatten.
      const now = t.deps.now().getTime();
      await haltAt(now - 3_600_000);
      await respond(t.accountId);
      await respond(t.accountId, "drawdown");
      expect(await flattens()).toHaveLength(1);
      // Reset at the open; the same day's loss halts again: the positions opened since go too.
      await haltAt(now);
      await respond(t.accountId);
      expect(await flattens()).toHaveLength(2);
    } finally {
      await saveKillSwitchSettings(t.db.db, t.accountId, DEFAULT_KILL_SWITCH_SETTINGS, new Date());
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
