/**
 * The runtime in webhook mode: with TELEGRAM_WEBHOOK_URL set the bot registers its webhook and
 * takes updates on the HTTP server instead of polling.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { type Runtime, startRuntime } from "../../app/runtime";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { freePort } from "../support/freePort";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { startTestSimulator, type TestSimulator } from "../support/simulator";
import { startTelegramEmulator, type TelegramEmulator, waitFor } from "../support/telegram";

const TRADER = 6201;
const SECRET = "tg_runtime-webhook-0123456789";

describe("the runtime with a Telegram webhook", () => {
  let database: TestDatabase;
  let simulator: TestSimulator;
  let emulator: TelegramEmulator;
  let redis: TestRedis;
  let runtime: Runtime;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    simulator = await startTestSimulator();
    emulator = await startTelegramEmulator();
    redis = createTestRedis("runtime-webhook");
    const loaded = loadConfig({
      DATABASE_URL: database.url ?? "",
      ALPACA_TRADING_URL: simulator.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_PORT: String(await freePort()),
      ROLE: "bot",
      TELEGRAM_BOT_TOKEN: emulator.token,
      TELEGRAM_API_ROOT: emulator.apiRoot,
      TELEGRAM_ALLOWED_USERS: `${TRADER}:trader`,
      TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook",
      TELEGRAM_WEBHOOK_SECRET: SECRET,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
    runtime = await startRuntime(loaded.config, {
      logger: createLogger({ level: "silent" }),
      queuePrefix: `${redis.prefix}desk`,
      httpHost: "127.0.0.1",
    });
  }, 30_000);

  afterAll(async () => {
    await runtime?.stop();
    await redis?.cleanup();
    await emulator?.stop();
    await simulator?.close();
    await database?.close();
  });

  function post(secret: string | undefined) {
    return fetch(`${runtime.httpUrl}/telegram/hook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(secret === undefined ? {} : { "x-telegram-bot-api-secret-token": secret }),
      },
      body: JSON.stringify({
        update_id: 1,
        message: {
          message_id: 1,
          date: 1_772_462_100,
          chat: { id: TRADER, type: "private", first_name: "Tess" },
          from: { id: TRADER, is_bot: false, first_name: "Tess" },
          text: "/help",
          entities: [{ type: "bot_command", offset: 0, length: 5 }],
        },
      }),
    });
  }

  it("registers the webhook and reports it", async () => {
    expect(runtime.summary).toContain("bot: webhook at /telegram/hook");
    const health = await fetch(`${runtime.httpUrl}/healthz`);
    const report = (await health.json()) as {
      components: Record<string, { status: string; detail?: string }>;
    };
    expect(report.components.telegram?.status).toBe("up");
  });

  it("handles updates posted with the secret and refuses the rest", async () => {
    expect((await post(undefined)).status).toBe(401);
    expect((await post("tg_not-the-secret-0123456789")).status).toBe(401);
    expect(emulator.messagesIn(TRADER)).toEqual([]);
    expect((await post(SECRET)).status).toBe(200);
    await waitFor(
      () => emulator.messagesIn(TRADER).find((message) => message.text.startsWith("<b>Commands")),
      5_000,
      () => JSON.stringify(emulator.messagesIn(TRADER)),
    );
  });
});
