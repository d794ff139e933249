import { describe, expect, it } from "vitest";
import type { CommandName } from "../../../bot/commands";
import { buildCommandMenus } from "../../../bot/features/commandMenu";

describe("buildCommandMenus", () => {
  const users = new Map([
    [1, "admin"],
    [2, "trader"],
    [3, "viewer"],
  ] as const);
  const available = new Set<CommandName>(["start", "help", "plan", "positions", "resume"]);
  const menus = buildCommandMenus(users, available);
  const commandsFor = (scope: object) =>
    menus
      .find((menu) => JSON.stringify(menu.scope) === JSON.stringify(scope))
      ?.commands.map((command) => command.command);

  it("gives each allowed user's private chat the built commands their role may use", () => {
    expect(commandsFor({ type: "chat", chat_id: 1 })).toEqual([
      "start",
      "help",
      "plan",
      "positions",
      "resume",
    ]);
    expect(commandsFor({ type: "chat", chat_id: 2 })).toEqual([
      "start",
      "help",
      "plan",
      "positions",
    ]);
    expect(commandsFor({ type: "chat", chat_id: 3 })).toEqual(["start", "help", "positions"]);
  });

  it("shows strangers only /start and /help, and groups only what works in groups", () => {
    expect(commandsFor({ type: "default" })).toEqual(["start", "help"]);
    expect(commandsFor({ type: "all_group_chats" })).toEqual(["help"]);
  });

  it("never lists a command that is not built", () => {
    for (const menu of menus) {
      for (const command of menu.commands)
        expect(available.has(command.command as CommandName)).toBe(true);
      for (const command of menu.commands)
        expect(command.description.length).toBeLessThanOrEqual(256);
    }
  });
});
