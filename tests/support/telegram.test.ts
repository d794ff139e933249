import { Api, GrammyError, InlineKeyboard } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../app/logger";
import { publishCommandMenus } from "../../bot/features/commandMenu";
import { parseTelegramHtml, startTelegramEmulator, type TelegramEmulator } from "./telegram";

/** The harness must refuse what Telegram refuses, or bot tests would pass on broken messages. */
describe("the Bot API emulator harness", () => {
  let emulator: TelegramEmulator;
  let api: Api;
  const CHAT = 4242;

  beforeAll(async () => {
    emulator = await startTelegramEmulator();
    api = new Api(emulator.token, { apiRoot: emulator.apiRoot });
  });

  afterAll(async () => {
    await emulator?.stop();
  });

  const refusal = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(GrammyError);
    return error instanceof GrammyError ? error.description : "";
  };

  it("refuses HTML Telegram cannot parse, and counts the length of what is shown", async () => {
    expect(await refusal(api.sendMessage(CHAT, "<b>open", { parse_mode: "HTML" }))).toMatch(
      /can't parse entities: Can't find end tag/,
    );
    expect(await refusal(api.sendMessage(CHAT, "a < b", { parse_mode: "HTML" }))).toMatch(
      /can't parse entities/,
    );
    expect(await refusal(api.sendMessage(CHAT, "<br>", { parse_mode: "HTML" }))).toMatch(
      /Unsupported start tag "br"/,
    );
    expect(await refusal(api.sendMessage(CHAT, "x".repeat(4097)))).toMatch(/message is too long/);
    expect(await refusal(api.sendMessage(CHAT, "  "))).toMatch(/message text is empty/);
    const shownLength4096 = `<b>${"x".repeat(4000)}</b>${"&amp;".repeat(96)}`;
    await api.sendMessage(CHAT, shownLength4096, { parse_mode: "HTML" });
    expect(parseTelegramHtml('<a href="https://x.test/?a=1&amp;b=2">R&amp;D</a> &#128200;')).toBe(
      "R&D 📈",
    );
  });

  it("refuses callback data over 64 bytes", async () => {
    const tooLong = new InlineKeyboard().text("x", "é".repeat(33));
    expect(await refusal(api.sendMessage(CHAT, "pick", { reply_markup: tooLong }))).toBe(
      "Bad Request: BUTTON_DATA_INVALID",
    );
  });

  it("edits like Telegram: no keyboard in the edit removes it, an identical edit is refused", async () => {
    const sent = await api.sendMessage(CHAT, "question", {
      reply_markup: new InlineKeyboard().text("Yes", "y"),
    });
    expect(emulator.messagesIn(CHAT).at(-1)?.buttons.flat()).toHaveLength(1);
    await api.editMessageText(CHAT, sent.message_id, "answered");
    expect(emulator.messagesIn(CHAT).at(-1)).toMatchObject({ text: "answered", buttons: [] });
    expect(await refusal(api.editMessageText(CHAT, sent.message_id, "answered"))).toMatch(
      /message is not modified/,
    );
    expect(await refusal(api.editMessageText(CHAT, 999_999, "nothing"))).toMatch(
      /message to edit not found/,
    );
  });

  it("refuses a second answer to the same button press", async () => {
    const user = emulator.user({ userId: 78 });
    const sent = await api.sendMessage(78, "<b>Pick</b> one", {
      parse_mode: "HTML",
      reply_markup: new InlineKeyboard().text("A", "a"),
    });
    const pressed = user.press(
      {
        chatId: 78,
        messageId: sent.message_id,
        text: "<b>Pick</b> one",
        parseMode: "HTML",
        buttons: [[{ text: "A", callback_data: "a" }]],
      },
      "A",
    );
    const [update] = await api.getUpdates({ timeout: 5 });
    const query = update?.callback_query;
    // The press carries the message as Telegram shows it.
    expect(query?.message).toMatchObject({ message_id: sent.message_id, text: "Pick one" });
    await api.answerCallbackQuery(query?.id ?? "", { text: "ok" });
    expect(await pressed).toMatchObject({ text: "ok", showAlert: false });
    expect(await refusal(api.answerCallbackQuery(query?.id ?? ""))).toMatch(/query is too old/);
  });

  it("answers 404 quickly for a method it does not emulate, and 401 for a wrong token", async () => {
    const started = Date.now();
    const error = await api.sendDice(CHAT, "🎲").catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(GrammyError);
    expect(error instanceof GrammyError ? error.error_code : 0).toBe(404);
    expect(Date.now() - started).toBeLessThan(1_000);
    const stranger = new Api("1:not-the-token", { apiRoot: emulator.apiRoot });
    const unauthorized = await stranger.getMe().catch((failure: unknown) => failure);
    expect(unauthorized instanceof GrammyError ? unauthorized.error_code : 0).toBe(401);
  });

  it("long-polls: an empty getUpdates waits for its timeout, and returns as soon as an update comes", async () => {
    const started = Date.now();
    expect(await api.getUpdates({ timeout: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const user = emulator.user({ userId: 77 });
    const polling = api.getUpdates({ timeout: 10 });
    const sentAt = Date.now();
    setTimeout(() => void user.send("hello"), 100);
    const updates = await polling;
    expect(Date.now() - sentAt).toBeLessThan(2_000);
    expect(updates.map((update) => update.message?.text)).toEqual(["hello"]);
  });

  it("records command menus per scope and refuses invalid ones; the bot logs and goes on", async () => {
    const logger = createLogger({ level: "silent" });
    const outcome = await publishCommandMenus(
      api,
      [
        { scope: { type: "default" }, commands: [{ command: "Bad-Name", description: "x" }] },
        {
          scope: { type: "chat", chat_id: 5 },
          commands: [{ command: "help", description: "The commands" }],
        },
      ],
      logger,
    );
    expect(outcome).toEqual({ published: 1, failed: 1 });
    expect(await api.getMyCommands({ scope: { type: "chat", chat_id: 5 } })).toEqual([
      { command: "help", description: "The commands" },
    ]);
    expect(emulator.refusedCalls().at(-1)).toEqual({
      method: "setMyCommands",
      description: "Bad Request: BOT_COMMAND_INVALID",
    });
  });
});
