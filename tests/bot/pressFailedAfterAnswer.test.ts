/**
 * A button press whose handling fails after the press was answered (the "Working…" of a Confirm,
 * then the database or Telegram failing): Telegram refuses a second answer to the same press, so
 * the failure must reach the trader in the chat instead of being dropped.
 */
import { Composer, InlineKeyboard } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotContext } from "../../bot/context";
import { type BotFeature, DESK_FEATURES } from "../../bot/createBot";
import { defineCallbackAction } from "../../bot/keyboards/callbackData";
import { UPDATE_FAILED_TEXT } from "../../bot/updateFailed";
import { startTestBot, type TestBot } from "./testBot";

const TRADER = 1012;

const GO = defineCallbackAction({ code: "zgo", fields: [], roles: ["trader"] });

/** A button whose press is answered at once, and whose work then fails. */
const pressFeature: BotFeature = {
  name: "press",
  commands: [],
  callbackActions: [GO],
  create: () => {
    const composer = new Composer<BotContext>();
    composer.hears("button", (ctx) =>
      ctx.reply("Press it", { reply_markup: new InlineKeyboard().text("Go", GO.encode({})) }),
    );
    composer.callbackQuery(GO.pattern, async (ctx) => {
      await ctx.answerCallbackQuery();
      throw new Error("Connection terminated unexpectedly");
    });
    return composer;
  },
};

describe("a press that fails after it was answered", () => {
  let desk: TestBot;

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [TRADER]: "trader" },
      features: [pressFeature, ...DESK_FEATURES],
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("is told in the chat", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("button");
    const message = await trader.waitForMessage();
    await trader.press(message, "Go");
    const told = await trader.waitForMessage({ timeoutMs: 5_000 });
    expect(told.text).toBe(UPDATE_FAILED_TEXT);
  });
});
