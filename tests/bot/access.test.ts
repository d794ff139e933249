import { Composer } from "grammy";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { BotContext } from "../../bot/context";
import { type BotFeature, DESK_FEATURES } from "../../bot/createBot";
import { handleConfirmation } from "../../bot/features/confirm";
import { confirmKeyboard, defineConfirmation } from "../../bot/keyboards/confirm";
import { startTestBot, type TestBot } from "./testBot";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ADMIN = 2001;
const SECOND_ADMIN = 2004;
const TRADER = 2002;
const VIEWER = 2003;
const STRANGER = 9999;
const DESK_GROUP = { id: -100777, type: "group", title: "Desk <room>" } as const;

/**
 * A trader-only confirmation, posted where /probe is sent: the kind of button later commands
 * (/close, alert approvals) send, here to exercise the access gate and the confirmation flow.
 */
const probeAction = defineConfirmation("tp", ["admin", "trader"]);
let confirmations = 0;
const probeFeature: BotFeature = {
  name: "probe",
  commands: [],
  callbackActions: [probeAction],
  create(setup) {
    const composer = new Composer<BotContext>();
    composer.command("probe", async (ctx) => {
      const expiresAt = new Date(setup.deps.now().getTime() + 60_000);
      await ctx.reply("Close AAPL?", {
        reply_markup: confirmKeyboard(probeAction, "AAPL", expiresAt),
      });
    });
    composer.use(
      handleConfirmation(probeAction, {
        now: setup.deps.now,
        confirm: async (ctx, press) => {
          confirmations += 1;
          return `Done: ${press.subject}, confirmed by a ${ctx.deskUser.role}.`;
        },
      }),
    );
    return composer;
  },
};

describe("access control through the Bot API", () => {
  let desk: TestBot;

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [ADMIN]: "admin", [SECOND_ADMIN]: "admin", [TRADER]: "trader", [VIEWER]: "viewer" },
      features: [...DESK_FEATURES, probeFeature],
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("refuses an unknown user with their id and tells every admin how to allow them", async () => {
    const admin = desk.emulator.user({ userId: ADMIN });
    const secondAdmin = desk.emulator.user({ userId: SECOND_ADMIN });
    const stranger = desk.emulator.user({
      userId: STRANGER,
      firstName: "Eve",
      username: "eve_<x>",
    });
    await stranger.send("/start");
    const refusal = await stranger.waitForMessage();
    expect(refusal.text).toBe(
      "This bot is private. Your Telegram user id is <code>9999</code>; an admin can allow it.",
    );
    for (const each of [admin, secondAdmin]) {
      const notice = await each.waitForMessage();
      expect(notice.parseMode).toBe("HTML");
      expect(notice.text).toBe(
        "User <code>9999</code> (@eve_&lt;x&gt;, Eve) tried /start.\n" +
          "To allow: add <code>9999:trader</code> (or <code>9999:viewer</code>) to TELEGRAM_ALLOWED_USERS and restart the bot.",
      );
    }
  });

  it("does not let a stranger flood them or the admins", async () => {
    const spammer = desk.emulator.user({ userId: 8888, firstName: "Spam" });
    const adminChatBefore = desk.emulator.messagesIn(ADMIN).length;
    for (let i = 0; i < 5; i++) await spammer.send(i % 2 === 0 ? "/start" : "buy everything");
    // A press is always answered; once it is, the five messages before it were handled (one chat's
    // updates are handled in order).
    const pressTarget = {
      chatId: 8888,
      messageId: 1,
      text: "",
      parseMode: undefined,
      buttons: [[{ text: "x", callback_data: "tp:y:AAPL:1" }]],
    };
    const answer = await spammer.press(pressTarget, "x");
    expect(answer).toMatchObject({ text: "This bot is private.", showAlert: true });
    expect(spammer.messages().map((message) => message.text)).toEqual([
      "This bot is private. Your Telegram user id is <code>8888</code>; an admin can allow it.",
    ]);
    const notices = desk.emulator.messagesIn(ADMIN).slice(adminChatBefore);
    expect(notices.map((notice) => notice.text.split("\n")[0])).toEqual([
      "User <code>8888</code> (Spam) tried /start.",
    ]);
  });

  it("ignores a stranger's ordinary talk in a group but refuses their commands there", async () => {
    const groupStranger = desk.emulator.user({ userId: 7777, firstName: "Gus", chat: DESK_GROUP });
    await groupStranger.send("hello everyone");
    await groupStranger.send("/help@TestNameBot");
    const refusal = await groupStranger.waitForMessage();
    expect(refusal.text).toContain(
      "This bot is private. Your Telegram user id is <code>7777</code>",
    );
    const notice = await desk.emulator.user({ userId: ADMIN }).waitForMessage({ match: "7777" });
    expect(notice.text.split("\n")[0]).toBe(
      "User <code>7777</code> (Gus) tried /help in group Desk &lt;room&gt;.",
    );
    expect(groupStranger.messages()).toHaveLength(1);
  });

  it("refuses trading commands in a group chat, even for a trader", async () => {
    const trader = desk.emulator.user({ userId: TRADER, chat: DESK_GROUP });
    await trader.send("/plan AAPL");
    const reply = await trader.waitForMessage({ match: "private" });
    expect(reply.text).toBe("Trading and account commands work only in a private chat with me.");
    await trader.send("/positions");
    const second = await trader.waitForMessage({ match: "private" });
    expect(second.text).toBe("Trading and account commands work only in a private chat with me.");
  });

  it("refuses a trader-only command to a viewer in private", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/plan");
    const reply = await viewer.waitForMessage();
    expect(reply.text).toBe("/plan is not for your role (viewer).");
  });

  it("checks the role of whoever presses a button, not of whom it was sent to", async () => {
    const trader = desk.emulator.user({ userId: TRADER, chat: DESK_GROUP });
    const viewer = desk.emulator.user({ userId: VIEWER, chat: DESK_GROUP });
    await trader.send("/probe");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    expect(question.buttons.flat().map((button) => button.text)).toEqual(["Confirm", "Cancel"]);

    const refused = await viewer.press(question, "Confirm");
    expect(refused).toMatchObject({
      text: "Your role (viewer) cannot use this button.",
      showAlert: true,
    });
    const cancelRefused = await viewer.press(question, "Cancel");
    expect(cancelRefused.text).toBe("Your role (viewer) cannot use this button.");
    const untouched = desk.emulator
      .messagesIn(DESK_GROUP.id)
      .find((m) => m.messageId === question.messageId);
    expect(untouched?.text).toBe("Close AAPL?");
    expect(untouched?.buttons.flat()).toHaveLength(2);

    await trader.press(question, "Confirm");
    const done = await waitForText(desk, question.messageId, /Done/);
    expect(done.text).toBe("Close AAPL?\n\nDone: AAPL, confirmed by a trader.");
    expect(done.buttons).toEqual([]);
    expect(desk.logs().some((record) => record.msg === "button press refused for role")).toBe(true);
  });

  it("refuses a confirmation pressed after it expired: a timeout is a refusal", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/probe");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    desk.advanceClock(61_000);
    const answer = await trader.press(question, "Confirm");
    expect(answer).toMatchObject({ text: "Too late: this confirmation expired.", showAlert: true });
    const expired = await waitForText(desk, question.messageId, /Expired/);
    expect(expired.text).toBe("Close AAPL?\n\n<b>Expired.</b> Nothing was done.");
    expect(expired.buttons).toEqual([]);
  });

  it("does nothing for a second press of an answered question", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/probe");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    const confirmationsBefore = confirmations;
    // Both presses leave before the bot edits the buttons away, as from two devices.
    const first = trader.press(question, "Confirm");
    const second = trader.press(question, "Confirm");
    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.text)).toEqual([undefined, "Already answered."]);
    const done = await waitForText(desk, question.messageId, /Done/);
    expect(done.text).toBe("Close AAPL?\n\nDone: AAPL, confirmed by a trader.");
    expect(confirmations).toBe(confirmationsBefore + 1);
  });

  it("cancels when Cancel is pressed", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    await trader.send("/probe");
    const question = await trader.waitForMessage({ match: "Close AAPL?" });
    const answer = await trader.press(question, "Cancel");
    expect(answer.text).toBe("Cancelled.");
    const cancelled = await waitForText(desk, question.messageId, /Cancelled/);
    expect(cancelled.text).toBe("Close AAPL?\n\n<b>Cancelled.</b> Nothing was done.");
  });

  it("refuses a button whose action the bot does not know", async () => {
    const admin = desk.emulator.user({ userId: ADMIN });
    const stale = {
      chatId: ADMIN,
      messageId: 1,
      text: "",
      parseMode: undefined,
      buttons: [[{ text: "old", callback_data: "zz:1" }]],
    };
    const answer = await admin.press(stale, "old");
    expect(answer).toMatchObject({ text: "This button no longer works.", showAlert: true });
  });

  it("sent nothing Telegram would have refused", () => {
    expect(desk.emulator.refusedCalls()).toEqual([]);
  });
});

async function waitForText(desk: TestBot, messageId: number, pattern: RegExp) {
  const { waitFor } = await import("../support/telegram");
  return waitFor(
    () => {
      for (const chatId of [DESK_GROUP.id, TRADER]) {
        const message = desk.emulator.messagesIn(chatId).find((m) => m.messageId === messageId);
        if (message !== undefined && pattern.test(message.text)) return message;
      }
      return undefined;
    },
    5_000,
    () => `message ${messageId} never matched ${pattern}`,
  );
}
