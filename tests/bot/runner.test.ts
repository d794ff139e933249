import { Composer, InlineKeyboard } from "grammy";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../app/logger";
import type { BotContext } from "../../bot/context";
import { assembleBot, type BotFeature, DESK_FEATURES } from "../../bot/createBot";
import { startBot } from "../../bot/runner";
import { sendHtml } from "../../bot/sendHtml";
import { startTelegramEmulator, waitFor } from "../support/telegram";
import { startTestBot, type TestBot } from "./testBot";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 3001;
const OTHER_TRADER = 3002;

/** Handlers a test holds open: /slow waits for `release`, /hang never returns. */
function createTimingFeature() {
  const state = { slowStarted: false, release: () => {} };
  const feature: BotFeature = {
    name: "timing",
    commands: [],
    callbackActions: [],
    create() {
      const composer = new Composer<BotContext>();
      composer.command("slow", async (ctx) => {
        state.slowStarted = true;
        await new Promise<void>((resolve) => {
          state.release = resolve;
        });
        await ctx.reply("slow done");
      });
      composer.command("hang", () => new Promise<void>(() => {}));
      composer.command("ping", (ctx) => ctx.reply("pong"));
      composer.command("long", async (ctx) => {
        const rows = Array.from(
          { length: 400 },
          (_, i) => `<b>${i}</b> AAPL &amp; MSFT long 10 @ 190.10`,
        );
        await sendHtml(ctx.api, ctx.chat.id, rows.join("\n"), {
          reply_markup: new InlineKeyboard().text("More", "tp:1"),
        });
      });
      return composer;
    },
  };
  return { feature, state };
}

describe("the runner", () => {
  let desk: TestBot;
  const timing = createTimingFeature();

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [TRADER]: "trader", [OTHER_TRADER]: "trader" },
      features: [...DESK_FEATURES, timing.feature],
      updateTimeoutMs: 500,
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("keeps one chat's updates in order while other chats go ahead", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    const other = desk.emulator.user({ userId: OTHER_TRADER });
    await trader.send("/slow");
    await waitFor(
      () => (timing.state.slowStarted ? true : undefined),
      5_000,
      () => "/slow never started",
    );
    await trader.send("/ping");
    await other.send("/ping");
    expect((await other.waitForMessage()).text).toBe("pong");
    expect(trader.messages()).toEqual([]);
    timing.state.release();
    expect((await trader.waitForMessage()).text).toBe("slow done");
    expect((await trader.waitForMessage()).text).toBe("pong");
  });

  it("releases a chat whose handler hangs past its timeout, and logs it", async () => {
    const trader = desk.emulator.user({ userId: OTHER_TRADER });
    await trader.send("/hang");
    await trader.send("/ping");
    expect((await trader.waitForMessage()).text).toBe("pong");
    expect(
      desk.logs().some((record) => record.msg === "update handling timed out; chat released"),
    ).toBe(true);
  });

  it("sends a long list as several valid messages, in order, buttons under the last", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/long");
    const parts = [await trader.waitForMessage()];
    while (!(parts.at(-1)?.text.includes("<b>399</b>") ?? false)) {
      parts.push(await trader.waitForMessage());
    }
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.every((part) => part.parseMode === "HTML" && part.text.length <= 4096)).toBe(true);
    const lines = parts.flatMap((part) => part.text.split("\n")).filter((line) => line !== "");
    expect(lines).toEqual(
      Array.from({ length: 400 }, (_, i) => `<b>${i}</b> AAPL &amp; MSFT long 10 @ 190.10`),
    );
    for (const part of parts.slice(0, -1)) expect(part.buttons).toEqual([]);
    expect(
      parts
        .at(-1)
        ?.buttons.flat()
        .map((button) => button.text),
    ).toEqual(["More"]);
    expect(desk.emulator.refusedCalls()).toEqual([]);
  });
});

describe("starting and stopping", () => {
  it("fails fast on a token the Bot API refuses", async () => {
    const emulator = await startTelegramEmulator();
    try {
      const logger = createLogger({ level: "silent" });
      const bot = assembleBot(
        {
          token: "42:wrong-token-wrong-token-wrong-token",
          apiRoot: emulator.apiRoot,
          allowedUsers: new Map(),
          logger,
          now: () => new Date(),
        },
        DESK_FEATURES,
      );
      await expect(startBot(bot, { logger })).rejects.toThrow(/401|Unauthorized/);
    } finally {
      await emulator.stop();
    }
  });

  it("removes any webhook before it polls (Telegram refuses getUpdates while one is set)", async () => {
    const emulator = await startTelegramEmulator();
    try {
      const logger = createLogger({ level: "silent" });
      const bot = assembleBot(
        {
          token: emulator.token,
          apiRoot: emulator.apiRoot,
          allowedUsers: new Map([[TRADER, "trader" as const]]),
          logger,
          now: () => new Date(),
        },
        DESK_FEATURES,
      );
      const methods: string[] = [];
      bot.api.config.use((previous, method, payload, signal) => {
        methods.push(method);
        return previous(method, payload, signal);
      });
      const runner = await startBot(bot, { logger, pollTimeoutSeconds: 1 });
      try {
        await emulator.user({ userId: TRADER }).send("/help");
        await waitFor(
          () => (methods.includes("sendMessage") ? true : undefined),
          5_000,
          () => methods.join(", "),
        );
        const removed = methods.indexOf("deleteWebhook");
        expect(removed).toBeGreaterThanOrEqual(0);
        expect(removed).toBeLessThan(methods.indexOf("getUpdates"));
      } finally {
        await runner.stop();
      }
    } finally {
      await emulator.stop();
    }
  });

  it("reports a crash when another process polls with the same token", async () => {
    const desk = await startTestBot({ users: { [TRADER]: "trader" } });
    try {
      desk.emulator.failNext("getUpdates", { status: 409, times: 1 });
      // Ends the poll in progress, so the next one meets the conflict.
      await desk.emulator.user({ userId: TRADER }).send("/help");
      expect(await desk.runner.ended()).toBe("crashed");
      expect(desk.logs().some((record) => record.msg === "bot runner crashed")).toBe(true);
    } finally {
      await desk.stop();
    }
  });

  it("waits for handlers in progress when stopped, then stops polling", async () => {
    const timing = createTimingFeature();
    const desk = await startTestBot({
      users: { [TRADER]: "trader" },
      features: [...DESK_FEATURES, timing.feature],
    });
    try {
      const trader = desk.emulator.user({ userId: TRADER });
      await trader.send("/slow");
      await waitFor(
        () => (timing.state.slowStarted ? true : undefined),
        5_000,
        () => "/slow never started",
      );
      let stopped = false;
      const stopping = desk.runner.stop().then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(stopped).toBe(false);
      expect(desk.runner.isRunning()).toBe(false);
      timing.state.release();
      await stopping;
      expect(await desk.runner.ended()).toBe("stopped");
      expect(trader.messages().map((message) => message.text)).toEqual(["slow done"]);
      // No longer polling: a new message stays unanswered and undelivered.
      await trader.send("/ping");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(trader.messages()).toHaveLength(1);
    } finally {
      await desk.stop();
    }
  });
});
