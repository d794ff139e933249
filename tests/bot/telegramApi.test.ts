import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendHtml } from "../../bot/sendHtml";
import { createTelegramApi } from "../../bot/telegramApi";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

describe("the shared Bot API client", () => {
  let emulator: TelegramEmulator;

  beforeAll(async () => {
    emulator = await startTelegramEmulator();
  });

  afterAll(async () => {
    await emulator?.stop();
  });

  it("waits out flood control (429 retry_after) and delivers", async () => {
    const api = createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot });
    const flood = emulator.failNext("sendMessage", { status: 429, times: 1, retryAfter: 1 });
    const started = Date.now();
    await sendHtml(api, 61, "<b>Filled</b> AAPL 10 @ 190.10");
    expect(flood.failed()).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(emulator.messagesIn(61).map((message) => message.text)).toEqual([
      "<b>Filled</b> AAPL 10 @ 190.10",
    ]);
  });

  it("retries a server error after a backoff", async () => {
    const api = createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot });
    // Backoff is 3 s, then 6 s and 12 s; after three retries the error is the caller's.
    const outage = emulator.failNext("sendChatAction", { status: 500, times: 1 });
    await api.sendChatAction(62, "typing");
    expect(outage.failed()).toBe(1);
  }, 10_000);
});
