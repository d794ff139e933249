import { createConversation } from "@grammyjs/conversations";
import { Composer } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotContext, FormContext } from "../../bot/context";
import { type BotFeature, DESK_FEATURES } from "../../bot/createBot";
import { escapeHtml } from "../../bot/views/html";
import { startTestBot, type TestBot } from "./testBot";

const TRADER = 5001;
const VIEWER = 5002;
const BURSTING_TRADER = 5003;

/**
 * A one-question form, built the way /plan will be: an escape command registered before the
 * conversation, the conversation reading the sender's role inside its steps.
 */
const askFeature: BotFeature = {
  name: "ask",
  commands: [],
  callbackActions: [],
  create() {
    const composer = new Composer<BotContext>();
    composer.command("leave", async (ctx) => {
      await ctx.conversation.exitAll();
      await ctx.reply("Left the form.");
    });
    composer.use(
      createConversation<BotContext, FormContext>(async (conversation, ctx) => {
        await ctx.reply("Symbol?");
        const answer = await conversation.waitFor("message:text");
        await ctx.reply(
          `Got ${escapeHtml(answer.message.text)} from a ${answer.deskUser.role} (asked by a ${ctx.deskUser.role}).`,
          { parse_mode: "HTML" },
        );
      }, "ask"),
    );
    composer.command("ask", (ctx) => ctx.conversation.enter("ask"));
    return composer;
  },
};

/** A form that sends three messages in a row before its question, then one after the answer. */
const burstFeature: BotFeature = {
  name: "burst",
  commands: [],
  callbackActions: [],
  create() {
    const composer = new Composer<BotContext>();
    composer.use(
      createConversation<BotContext, FormContext>(async (conversation, ctx) => {
        for (const line of ["One", "Two", "Three"]) await ctx.reply(line);
        const answer = await conversation.waitFor("message:text");
        await ctx.reply(`Answered ${escapeHtml(answer.message.text)}`);
      }, "burst"),
    );
    composer.command("burst", (ctx) => ctx.conversation.enter("burst"));
    return composer;
  },
};

describe("conversations in the bot", () => {
  let desk: TestBot;

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [TRADER]: "trader", [VIEWER]: "viewer", [BURSTING_TRADER]: "trader" },
      features: [...DESK_FEATURES, askFeature, burstFeature],
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("run a form across updates with the sender's role known inside it", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/ask");
    expect((await trader.waitForMessage()).text).toBe("Symbol?");
    await trader.send("AAPL <b>");
    expect((await trader.waitForMessage()).text).toBe(
      "Got AAPL &lt;b&gt; from a trader (asked by a trader).",
    );
  });

  it("let an escape command registered before the conversation leave an open form", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/ask");
    expect((await viewer.waitForMessage()).text).toBe("Symbol?");
    await viewer.send("/leave");
    expect((await viewer.waitForMessage()).text).toBe("Left the form.");
    // The form is gone: plain text is no answer, and commands work as usual.
    await viewer.send("MSFT");
    await viewer.send("/help");
    expect((await viewer.waitForMessage()).text).toMatch(/^<b>Commands<\/b>/);
    expect(viewer.messages().some((message) => message.text.startsWith("Got"))).toBe(false);
  });

  it("pace a form's messages to one chat, and neither pace nor resend them on replay", async () => {
    const trader = desk.emulator.user({ userId: BURSTING_TRADER });
    const arrivals: number[] = [];
    await trader.send("/burst");
    for (const text of ["One", "Two", "Three"]) {
      expect((await trader.waitForMessage()).text).toBe(text);
      arrivals.push(performance.now());
    }
    // The throttler lets one message a second out per chat: three take two seconds at least.
    expect(Number(arrivals[2]) - Number(arrivals[0])).toBeGreaterThan(1_800);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const answered = performance.now();
    await trader.send("AAPL");
    expect((await trader.waitForMessage()).text).toBe("Answered AAPL");
    // The answer replays the three sends from the record: paced, they would take two seconds.
    expect(performance.now() - answered).toBeLessThan(900);
    expect(trader.messages().map((message) => message.text)).toEqual([
      "One",
      "Two",
      "Three",
      "Answered AAPL",
    ]);
  }, 15_000);
});
