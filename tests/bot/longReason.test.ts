/**
 * A long reason given with /halt is shown by every command that shows the trading state: each
 * answers within Telegram's 4096 characters (split, nothing dropped) instead of failing. A part
 * cut at a space may lose that space, so the parts are compared with whitespace collapsed.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { TestUser } from "../support/telegram";
import { type DeskBot, startDeskBot } from "./deskBot";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ADMIN = 7301;

describe("a long halt reason", () => {
  let desk: DeskBot;
  let admin: TestUser;
  const reason = `${"desk closed for the data outage; ".repeat(123)}END`;

  beforeAll(async () => {
    desk = await startDeskBot({ name: "long-reason", users: { [ADMIN]: "admin" } });
    admin = desk.emulator.user({ userId: ADMIN });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  it("is shown whole by /limits, in parts of at most 4096 characters", async () => {
    expect(reason.length).toBeGreaterThan(4050);
    await admin.send(`/halt ${reason}`);
    expect((await admin.waitForMessage({ match: "Trading halted" })).text).toMatch(/^<b>/);
    await admin.send("/limits");
    await admin.waitForMessage({ match: "Change one with", timeoutMs: 10_000 });
    const parts = admin.messages().slice(1);
    expect(parts.length).toBeGreaterThan(1);
    const shown = parts.map((part) => part.text).join("\n");
    expect(shown.replace(/\s+/g, " ")).toContain(reason);
    expect(shown).toContain("<code>riskPerTradePercent</code>");
    expect(desk.logLines.filter((line) => line.includes("too long"))).toEqual([]);
  });

  it("is shown whole when /halt is sent again", async () => {
    const before = admin.messages().length;
    await admin.send(`/halt ${reason}`);
    await admin.waitForMessage({ match: "END", timeoutMs: 10_000 });
    const shown = admin
      .messages()
      .slice(before)
      .map((part) => part.text)
      .join("\n");
    expect(shown).toMatch(/^Already halted since /);
    expect(shown.replace(/\s+/g, " ")).toContain(reason);
  });

  it("does not keep an admin from resuming: /resume asks, and the confirmation resumes", async () => {
    const before = admin.messages().length;
    await admin.send("/resume");
    const asked = await admin.waitForMessage({
      match: "This confirmation expires",
      timeoutMs: 10_000,
    });
    const shown = admin
      .messages()
      .slice(before)
      .map((part) => part.text)
      .join("\n");
    expect(shown.replace(/\s+/g, " ")).toContain(reason);
    await admin.press(asked, "Resume");
    const deadline = Date.now() + 10_000;
    let settled = "";
    while (!settled.includes("Trading resumed") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      settled = admin.messages().find((m) => m.messageId === asked.messageId)?.text ?? "";
    }
    expect(settled).toMatch(/<b>Trading resumed\.<\/b> Was halted\.$/);
  });
});
