import { Composer } from "grammy";
import type { Update } from "grammy/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../app/http/server";
import { createLogger } from "../../app/logger";
import { createMetrics } from "../../app/metrics";
import type { BotContext } from "../../bot/context";
import { assembleBot, type BotFeature, commandMenusFor, DESK_FEATURES } from "../../bot/createBot";
import { createWebhookHandler, registerBotWebhook } from "../../bot/webhook";
import { startTelegramEmulator, type TelegramEmulator, waitFor } from "../support/telegram";

const TRADER = 6101;
const WEBHOOK_PATH = "/telegram/hook";
const WEBHOOK_URL = `https://desk.example.com${WEBHOOK_PATH}`;
const SECRET = "tg_webhook-secret-0123456789";

/** "slow" is answered after a pause, "fast" at once: a chat's order shows in the answers. */
const pacedFeature: BotFeature = {
  name: "paced",
  commands: [],
  callbackActions: [],
  create() {
    const composer = new Composer<BotContext>();
    composer.hears("slow", async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await ctx.reply("slow done");
    });
    composer.hears("fast", (ctx) => ctx.reply("fast done"));
    return composer;
  },
};

let nextUpdateId = 1;
function textUpdate(text: string): Update {
  const entities = text.startsWith("/")
    ? [{ type: "bot_command" as const, offset: 0, length: text.length }]
    : undefined;
  return {
    update_id: nextUpdateId++,
    message: {
      message_id: nextUpdateId,
      date: Math.floor(Date.parse("2026-03-02T14:35:00Z") / 1000),
      chat: { id: TRADER, type: "private", first_name: "Tess" },
      from: { id: TRADER, is_bot: false, first_name: "Tess" },
      text,
      ...(entities === undefined ? {} : { entities }),
    },
  };
}

describe("the bot in webhook mode", () => {
  let emulator: TelegramEmulator;
  let app: ReturnType<typeof createHttpServer>;
  const calls: { method: string; payload: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    emulator = await startTelegramEmulator();
    const logger = createLogger({ level: "silent" });
    const deps = {
      token: emulator.token,
      apiRoot: emulator.apiRoot,
      allowedUsers: new Map([[TRADER, "trader" as const]]),
      logger,
      now: () => new Date("2026-03-02T14:35:00Z"),
      updateTimeoutMs: 10_000,
    };
    const features = [...DESK_FEATURES, pacedFeature];
    const bot = assembleBot(deps, features);
    bot.api.config.use((previous, method, payload, signal) => {
      calls.push({ method, payload: { ...payload } });
      return previous(method, payload, signal);
    });
    app = createHttpServer({
      logger,
      metrics: createMetrics(),
      health: [],
      telegramWebhook: {
        path: WEBHOOK_PATH,
        handle: createWebhookHandler(bot, { secret: SECRET }),
      },
    });
    await app.ready();
    await registerBotWebhook(bot, {
      url: WEBHOOK_URL,
      secret: SECRET,
      logger,
      commandMenus: commandMenusFor(deps, features),
    });
  });

  afterAll(async () => {
    await app?.close();
    await emulator?.stop();
  });

  function post(update: Update, secret: string | undefined) {
    return app.inject({
      method: "POST",
      url: WEBHOOK_PATH,
      payload: update,
      headers: secret === undefined ? {} : { "x-telegram-bot-api-secret-token": secret },
    });
  }

  it("registers the webhook with its secret", () => {
    const registrations = calls.filter((call) => call.method === "setWebhook");
    expect(registrations).toEqual([
      { method: "setWebhook", payload: { url: WEBHOOK_URL, secret_token: SECRET } },
    ]);
  });

  it("handles an update posted with the secret", async () => {
    const response = await post(textUpdate("/help"), SECRET);
    expect(response.statusCode).toBe(200);
    const help = await waitFor(
      () => emulator.messagesIn(TRADER).find((message) => message.text.startsWith("<b>Commands")),
      5_000,
      () => JSON.stringify(emulator.messagesIn(TRADER)),
    );
    expect(help.chatId).toBe(TRADER);
  });

  it("refuses an update without the secret or with another one, and never handles it", async () => {
    const sentBefore = calls.filter((call) => call.method === "sendMessage").length;
    expect((await post(textUpdate("/help"), undefined)).statusCode).toBe(401);
    expect((await post(textUpdate("/help"), "tg_another-secret-0123456789")).statusCode).toBe(401);
    // A handled update is answered only after its handler ran (or 9 s passed).
    expect((await post(textUpdate("fast"), SECRET)).statusCode).toBe(200);
    const sent = calls.filter((call) => call.method === "sendMessage").slice(sentBefore);
    expect(sent.map((call) => call.payload.text)).toEqual(["fast done"]);
  });

  it("keeps one chat's updates in order when they arrive together", async () => {
    const before = emulator.messagesIn(TRADER).length;
    const answers = await Promise.all([
      post(textUpdate("slow"), SECRET),
      post(textUpdate("fast"), SECRET),
    ]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
    const texts = emulator
      .messagesIn(TRADER)
      .slice(before)
      .map((message) => message.text);
    expect(texts).toEqual(["slow done", "fast done"]);
  });
});
