/**
 * The response to an automatic halt asks for the flatten the account's settings ask for whatever
 * else of it fails: the halt is stored before the response runs, so a retry of the pass that
 * halted finds the account halted already and does not come back to it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
