import { Composer } from "grammy";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../app/logger";
import type { BotContext } from "../../bot/context";
import { assembleBot, type BotFeature, createBot, DESK_FEATURES } from "../../bot/createBot";
import { defineCallbackAction } from "../../bot/keyboards/callbackData";

const deps = {
  token: "1:unused",
  apiRoot: "http://127.0.0.1:9",
  allowedUsers: new Map([[1, "admin" as const]]),
  logger: createLogger({ level: "silent" }),
  now: () => new Date("2026-03-02T14:35:00Z"),
};

function feature(
  name: string,
  declared: Partial<Pick<BotFeature, "commands" | "callbackActions">>,
): BotFeature {
  return {
    name,
    commands: declared.commands ?? [],
    callbackActions: declared.callbackActions ?? [],
    create: () => new Composer<BotContext>(),
  };
}

describe("assembling the bot", () => {
  it("builds the desk's bot without calling Telegram", () => {
    expect(createBot(deps).isInited()).toBe(false);
  });

  it("refuses two features handling one command", () => {
    expect(() =>
      assembleBot(deps, [...DESK_FEATURES, feature("again", { commands: ["help"] })]),
    ).toThrow("/help is handled by two features");
  });

  it("refuses a command missing from the catalogue", () => {
    const stray = feature("stray", { commands: ["nonsense" as "help"] });
    expect(() => assembleBot(deps, [stray])).toThrow("feature stray: /nonsense is not catalogued");
  });

  it("refuses two features using one button code", () => {
    const action = () => defineCallbackAction({ code: "ap", fields: [], roles: ["admin"] });
    const first = feature("first", { callbackActions: [action()] });
    const second = feature("second", { callbackActions: [action()] });
    expect(() => assembleBot(deps, [first, second])).toThrow(
      "callback action code 'ap' is used twice",
    );
  });
});
