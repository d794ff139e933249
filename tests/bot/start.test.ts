import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../bot/commands";
import { startFeature } from "../../bot/features/start";
import { startTestBot, type TestBot } from "./testBot";

const ADMIN = 1001;
const TRADER = 1002;
const VIEWER = 1003;

describe("/start, /help and the command menu through the Bot API", () => {
  let desk: TestBot;

  beforeAll(async () => {
    desk = await startTestBot({
      users: { [ADMIN]: "admin", [TRADER]: "trader", [VIEWER]: "viewer" },
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("greets an allowed trader by name and role and lists what they can do", async () => {
    const trader = desk.emulator.user({ userId: TRADER, firstName: "Ann <Trader>" });
    await trader.send("/start");
    const reply = await trader.waitForMessage();
    expect(reply.parseMode).toBe("HTML");
    expect(reply.text).toContain("Hello, Ann &lt;Trader&gt;. You are signed in as <b>trader</b>.");
    expect(reply.text).toContain("/start: Who you are here and what you can do");
    expect(reply.text).toContain("/help: The commands");
    for (const command of ["/plan", "/positions", "/orders", "/close", "/halt", "/flatten"]) {
      expect(reply.text).toMatch(new RegExp(`\\n${command}[ :]`));
    }
    expect(reply.text).not.toContain("Not available yet");
    // Admin-only commands are not offered to a trader; everyone has their own /settings.
    expect(reply.text).not.toMatch(/\n\/resume/);
    expect(reply.text).toContain("/settings");
  });

  it("answers /help for a viewer with read-only commands only", async () => {
    const viewer = desk.emulator.user({ userId: VIEWER });
    await viewer.send("/help");
    const reply = await viewer.waitForMessage();
    expect(reply.text).toMatch(/^<b>Commands<\/b>\n\/start: /);
    expect(reply.text).toContain("/positions");
    expect(reply.text).not.toContain("/plan");
    expect(reply.text).not.toContain("/close");
  });

  it("says a catalogued command is not available yet instead of pretending", async () => {
    const bare = await startTestBot({ users: { [TRADER]: "trader" }, features: [startFeature] });
    try {
      const trader = bare.emulator.user({ userId: TRADER });
      await trader.send("/help");
      const help = await trader.waitForMessage();
      expect(help.text.split("Not available yet:</b>")[1]).toContain("/positions");
      expect(help.text).not.toContain("/positions:");
      await trader.send("/plan AAPL");
      const reply = await trader.waitForMessage({ match: "/plan" });
      expect(reply.text).toBe("/plan is not available yet. /help lists what works now.");
    } finally {
      await bare.stop();
    }
  });

  it("points an unknown command to /help", async () => {
    const admin = desk.emulator.user({ userId: ADMIN });
    await admin.send("/frobnicate");
    const reply = await admin.waitForMessage();
    expect(reply.text).toBe("I don't know that command. /help lists what I can do.");
  });

  it("published a command menu per allowed user's role, and a default one for everybody else", () => {
    const menus = desk.emulator.publishedMenus();
    const commandsFor = (scope: unknown) =>
      menus
        .find((menu) => JSON.stringify(menu.scope) === JSON.stringify(scope))
        ?.commands.map((command) => command.command);
    expect(commandsFor({ type: "default" })).toEqual(["start", "help"]);
    expect(commandsFor({ type: "all_group_chats" })).toEqual(["help"]);
    for (const [id, role] of [
      [ADMIN, "admin"],
      [TRADER, "trader"],
      [VIEWER, "viewer"],
    ] as const) {
      // Every command of the role, in catalogue order.
      expect(commandsFor({ type: "chat", chat_id: id })).toEqual(
        COMMANDS.filter((spec) => (spec.roles as readonly string[]).includes(role)).map(
          (spec) => spec.command,
        ),
      );
    }
    expect(commandsFor({ type: "chat", chat_id: VIEWER })).not.toContain("halt");
    expect(
      desk.logs().some((record) => record.msg === "command menus published" && record.failed === 0),
    ).toBe(true);
  });

  it("never wrote the bot token to its logs", () => {
    expect(desk.logLines().length).toBeGreaterThan(0);
    for (const line of desk.logLines())
      expect(line).not.toContain(desk.emulator.token.split(":")[1]);
  });
});
