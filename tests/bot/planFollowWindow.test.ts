/**
 * A confirmed plan's message while its decision waits for the execution window: it says so and
 * when entries go out, instead of "Sending to the broker…" for hours.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOrderProgress } from "../../bot/features/planFollow";
import { type Lifecycle, openLifecycle, TEST_SYMBOLS } from "../jobs/harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("plan-follow-window");
});
afterAll(async () => {
  await t?.close();
});

describe("a plan's message before its decision is taken", () => {
  it("says it waits for the execution window when there is one", async () => {
    const decision = await t.decide({ symbol: TEST_SYMBOLS[3] as string });
    expect(
      await readOrderProgress(
        { db: t.db.db, executionWindow: { kind: "window", start: "09:45", end: "10:00" } },
        decision.id,
      ),
    ).toEqual({
      line: "Waiting for the execution window: entries are sent from 09:45 to 10:00 New York time on trading days.",
      done: false,
    });
    expect(
      await readOrderProgress({ db: t.db.db, executionWindow: { kind: "immediate" } }, decision.id),
    ).toEqual({ line: "Sending to the broker…", done: false });
  });
});
