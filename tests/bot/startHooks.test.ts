/**
 * Work features register for the bot's start (bringing up to date the plan cards a stopped
 * process left unfinished) runs however the bot receives updates: long polling or webhook.
 */
import { Composer } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../app/logger";
import { assembleBot, type BotFeature } from "../../bot/createBot";
import { startBot } from "../../bot/runner";
import { registerBotWebhook } from "../../bot/webhook";
import { startTelegramEmulator, type TelegramEmulator, waitFor } from "../support/telegram";

function recordingFeature(started: string[]): BotFeature {
  return {
    name: "recording",
    commands: [],
    callbackActions: [],
    create(setup) {
      setup.onStart?.(async (api) => {
        started.push((await api.getMe()).username);
      });
      return new Composer();
    },
  };
}

describe("start work of the features", () => {
  let emulator: TelegramEmulator | undefined;

  afterEach(async () => {
    await emulator?.stop();
  });

  async function botWith(started: string[]) {
    emulator = await startTelegramEmulator();
    const deps = {
      token: emulator.token,
      apiRoot: emulator.apiRoot,
      allowedUsers: new Map(),
      logger: createLogger({ level: "silent" }),
      now: () => new Date("2026-03-02T14:35:00Z"),
    };
    return { bot: assembleBot(deps, [recordingFeature(started)]), logger: deps.logger };
  }

  it("runs when the bot starts polling", async () => {
    const started: string[] = [];
    const { bot, logger } = await botWith(started);
    const runner = await startBot(bot, { logger, pollTimeoutSeconds: 1 });
    try {
      await waitFor(
        () => started[0],
        5_000,
        () => "the start work to run",
      );
    } finally {
      await runner.stop();
    }
    expect(started).toHaveLength(1);
  });

  it("runs when the bot's webhook is registered", async () => {
    const started: string[] = [];
    const { bot, logger } = await botWith(started);
    await registerBotWebhook(bot, {
      url: "https://desk.example/telegram",
      secret: "s3cret",
      logger,
    });
    await waitFor(
      () => started[0],
      5_000,
      () => "the start work to run",
    );
    expect(started).toHaveLength(1);
  });
});
