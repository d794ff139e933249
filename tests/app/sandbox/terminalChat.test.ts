/**
 * The sandbox chat: a real grammY bot polls the local Bot API; the terminal types messages and
 * presses inline buttons by number.
 */
import { PassThrough } from "node:stream";
import { Bot, InlineKeyboard } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { type LocalBotApi, startLocalBotApi } from "../../../app/sandbox/botApi";
import {
  htmlToText,
  startTerminalChat,
  type TerminalChat,
} from "../../../app/sandbox/terminalChat";

const USER = { id: 4242, firstName: "Ann", username: "ann" };

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("sandbox terminal chat over the local Bot API", () => {
  let api: LocalBotApi | undefined;
  let bot: Bot | undefined;
  let chat: TerminalChat | undefined;
  afterEach(async () => {
    chat?.close();
    await bot?.stop();
    await api?.close();
  });

  it("sends typed commands, prints HTML replies as text, and presses buttons by number", async () => {
    api = await startLocalBotApi();
    bot = new Bot(api.token, { client: { apiRoot: api.apiRoot } });
    const pressedBy: number[] = [];
    bot.command("start", (ctx) =>
      ctx.reply(`Hello, <b>${ctx.from?.first_name}</b> &amp; welcome`, {
        parse_mode: "HTML",
        reply_markup: new InlineKeyboard().text("Confirm", "c:yes").text("Cancel", "c:no"),
      }),
    );
    bot.callbackQuery(/^c:/, async (ctx) => {
      pressedBy.push(ctx.from.id);
      await ctx.answerCallbackQuery({ text: `chose ${ctx.callbackQuery.data}` });
      await ctx.editMessageText(`Answered ${ctx.callbackQuery.data}`);
    });
    bot.on("message:text", (ctx) => ctx.reply(`echo ${ctx.message.text}`));
    void bot.start({ timeout: 1 });

    const input = new PassThrough();
    const output = new PassThrough();
    let printed = "";
    output.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    chat = startTerminalChat({
      api,
      user: USER,
      input,
      output,
      simulatorUrl: null,
      onQuit: () => {},
    });

    input.write("/start\n");
    await waitFor(() => printed.includes("[2] Cancel"), "the keyboard");
    expect(printed).toContain("desk> Hello, Ann & welcome");
    expect(printed).toContain("[1] Confirm  [2] Cancel");

    input.write("2\n");
    await waitFor(() => printed.includes("Answered c:no"), "the edited message");
    expect(printed).toContain("desk (toast)> chose c:no");
    expect(pressedBy).toEqual([USER.id]);

    // The latest message has no buttons: a number is an answer, not a press.
    input.write("185\n");
    await waitFor(() => printed.includes("echo 185"), "the echo");
    input.write(":price AAPL 1\n");
    await waitFor(() => printed.includes("market> failed"), "the market refusal");
    expect(printed).toContain("no local simulator");
  }, 20_000);

  it("refuses a wrong token like Telegram and unknown methods with 404", async () => {
    api = await startLocalBotApi();
    const wrong = await fetch(`${api.apiRoot}/bot123:nope/getMe`);
    expect(wrong.status).toBe(401);
    const unknown = await fetch(`${api.apiRoot}/bot${api.token}/sendPhoto`, { method: "POST" });
    expect(unknown.status).toBe(404);
    expect(htmlToText('<a href="https://x.test">link</a> &lt;b&gt;')).toBe(
      "link (https://x.test) <b>",
    );
  });
});
