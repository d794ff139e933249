/**
 * A /plan form saved by an earlier release: its stored replay may not fit this release's form, so
 * it is closed with a word to the trader instead of being replayed (or silently dropped), and a
 * saved form that cannot even be read does not fail every update of the chat.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { FORM_STATE_VERSION } from "../../bot/features/planStorage";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6301;

const FORM_CLOSED =
  "Your open /plan form was saved by an earlier release of the desk and cannot be continued, so it was closed. A plan you had not confirmed was not sent; /orders lists what is working. Send /plan to start again.";

describe("saved /plan forms across releases", () => {
  let desk: PlanDesk;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-plan-form-version",
      users: { [TRADER]: "trader" },
      planning: { orderFollowMs: 0 },
    });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  const formKey = () => `${desk.redis.prefix}conversation:${TRADER}`;

  /**
   * The saved form once the last update is done with it: the conversations plugin writes (or
   * deletes) it after the handlers, which is after the bot's reply and its idle.
   */
  async function savedForm(expect: "saved" | "gone"): Promise<{ version: unknown[] } | null> {
    await desk.idle();
    for (let tries = 0; tries < 100; tries += 1) {
      const saved = await desk.redis.redis.get(formKey());
      if (saved !== null && expect === "saved") return JSON.parse(saved);
      if (saved === null && expect === "gone") return null;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the form was never ${expect}`);
  }

  async function answer(user: TestUser, text: string) {
    await user.send(text);
    return user.waitForMessage({ timeoutMs: 10_000 });
  }

  it("keeps a form saved by this release", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan")).text).toBe("Which symbol? (for example AAPL)");
    const saved = await savedForm("saved");
    expect(saved?.version[1]).toBe(FORM_STATE_VERSION);
    expect((await answer(trader, "AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "/cancel");
    await savedForm("gone");
  });

  it("closes a form saved under another version and tells the trader", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect((await answer(trader, "/plan")).text).toBe("Which symbol? (for example AAPL)");
    // The same form as an earlier release (version 0, the plugin's default) stored it.
    const saved = await savedForm("saved");
    await desk.redis.redis.set(formKey(), JSON.stringify({ ...saved, version: [0, 0] }));
    expect((await answer(trader, "AAPL")).text).toBe(FORM_CLOSED);
    expect(await savedForm("gone")).toBeNull();
    // A new form starts cleanly afterwards.
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "/cancel");
    await savedForm("gone");
  });

  it("closes a saved form that cannot be read instead of failing the chat's updates", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await desk.redis.redis.set(formKey(), "{not json");
    expect((await answer(trader, "hello")).text).toBe(FORM_CLOSED);
    expect(await savedForm("gone")).toBeNull();
    expect((await answer(trader, "/plan AAPL")).text).toBe("AAPL: long or short?");
    await answer(trader, "/cancel");
    await savedForm("gone");
  });
});
