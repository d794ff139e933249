/**
 * An update whose handling fails (a database, Redis or broker call that throws) is answered: the
 * trader is told to check before trying again, instead of facing a silent chat.
 */
import { Composer, GrammyError } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotContext } from "../../bot/context";
import { type BotFeature, DESK_FEATURES } from "../../bot/createBot";
import { TELEGRAM_REFUSED_TEXT, UPDATE_FAILED_TEXT } from "../../bot/updateFailed";
import { startTestBot, type TestBot } from "./testBot";

const TRADER = 1002;

/** Fails every "boom" the way a handler fails when Redis or the database does not answer. */
const failingFeature: BotFeature = {
  name: "failing",
  commands: [],
  callbackActions: [],
  create: () => {
    const composer = new Composer<BotContext>();
    composer.hears("boom", () => {
      throw new Error("Command timed out");
    });
    composer.hears("refused", () => {
      throw new GrammyError(
        "Call to 'sendMessage' failed!",
        { ok: false, error_code: 400, description: "Bad Request: message is too long" },
        "sendMessage",
        {},
      );
    });
    return composer;
  },
};

describe("an update whose handling fails", () => {
  let desk: TestBot;

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [TRADER]: "trader" },
      features: [failingFeature, ...DESK_FEATURES],
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("is answered with what to check, and logged", async () => {
    const trader = desk.emulator.user({ userId: TRADER, firstName: "Ann" });
    await trader.send("boom");
    const reply = await trader.waitForMessage();
    expect(reply.text).toBe(UPDATE_FAILED_TEXT);
    expect(reply.text).toContain("Check /orders and /positions before you try again");
    expect(desk.logs().some((line) => line.msg === "update handling failed")).toBe(true);
  });

  it("says Telegram refused a call when that is what failed", async () => {
    const trader = desk.emulator.user({ userId: TRADER, firstName: "Ann" });
    await trader.send("refused");
    const reply = await trader.waitForMessage({ match: "Telegram refused" });
    expect(reply.text).toBe(TELEGRAM_REFUSED_TEXT);
  });
});
