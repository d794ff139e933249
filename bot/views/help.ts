import type { UserRole } from "../../app/config";
import { COMMANDS, type CommandName, roleMayUse } from "../commands";
import { escapeHtml } from "./html";

/**
 * /help for one role: the commands that work, one line each, then the ones not built yet by name
 * only, so nobody mistakes them for working ones.
 */
export function renderHelp(role: UserRole, available: ReadonlySet<CommandName>): string {
  const mine = COMMANDS.filter((spec) => roleMayUse(spec, role));
  const working = mine.filter((spec) => available.has(spec.command));
  const later = mine.filter((spec) => !available.has(spec.command));
  const lines = [
    "<b>Commands</b>",
    ...working.map((spec) => `${escapeHtml(spec.usage)}: ${escapeHtml(spec.description)}`),
  ];
  if (later.length > 0) {
    lines.push(
      "",
      `<b>Not available yet:</b> ${later.map((spec) => escapeHtml(spec.usage.split(" ")[0] ?? "")).join(", ")}`,
    );
  }
  lines.push("", "Trading and account commands work only in a private chat with me.");
  return lines.join("\n");
}
