/**
 * /settings: each user's own notifications (every category on, silent or off; halts at worst
 * silent) and the time zone times are shown in (`/settings tz Europe/Berlin`). The notice sender
 * reads the same stored settings for every message it sends.
 */
import { Composer } from "grammy";
import { changeUserSettings, loadUserSettings, type UserSettings } from "../../db/userSettings";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import { readSettingsPress, SETTINGS_ACTION, settingsKeyboard } from "../keyboards/settings";
import { isKnownTimeZone } from "../views/format";
import { bold, code, escapeHtml } from "../views/html";
import { guardCommand } from "./access";
import { commandArguments } from "./deskContext";

/** The text above the settings buttons. */
export function renderSettings(settings: UserSettings): string {
  return [
    bold("Your notifications"),
    "Press a line to change it: on → silent (no sound) → off. Halts, loss warnings and closes can be silenced, not switched off.",
    "",
    `Times are shown in ${code(settings.displayTimeZone)}. Change with /settings tz ZONE, e.g. /settings tz Europe/London.`,
  ].join("\n");
}

export const settingsFeature: BotFeature = {
  name: "settings",
  commands: ["settings"],
  callbackActions: [SETTINGS_ACTION],
  create({ deps }) {
    const composer = new Composer<BotContext>();
    const owner = (ctx: BotContext) => ({
      telegramUserId: ctx.deskUser.telegramUserId,
      role: ctx.deskUser.role,
    });

    composer.command("settings", ...guardCommand(commandSpec("settings")), async (ctx) => {
      const db = deps.db;
      if (db === undefined) {
        await ctx.reply("The desk's database is not connected, so settings cannot be kept.");
        return;
      }
      const [keyword, zone, ...rest] = commandArguments(ctx).split(/\s+/).filter(Boolean);
      if (keyword === undefined) {
        const settings = await loadUserSettings(db, ctx.deskUser.telegramUserId);
        await ctx.reply(renderSettings(settings), {
          parse_mode: "HTML",
          reply_markup: settingsKeyboard(settings.notifications),
        });
        return;
      }
      if (
        !["tz", "timezone"].includes(keyword.toLowerCase()) ||
        zone === undefined ||
        rest.length > 0
      ) {
        await ctx.reply("Usage: /settings, or /settings tz ZONE (e.g. America/Chicago).");
        return;
      }
      if (!isKnownTimeZone(zone)) {
        await ctx.reply(
          `${escapeHtml(zone)} is not a time zone I know. Use a name like ${code("Europe/Berlin")} or ${code("UTC")}.`,
          { parse_mode: "HTML" },
        );
        return;
      }
      const saved = await changeUserSettings(db, owner(ctx), { displayTimeZone: zone }, deps.now());
      await ctx.reply(`Times are now shown in ${code(saved.displayTimeZone)}.`, {
        parse_mode: "HTML",
      });
    });

    composer.callbackQuery(SETTINGS_ACTION.pattern, async (ctx) => {
      const press = readSettingsPress(ctx.callbackQuery.data);
      const db = deps.db;
      if (press === null || db === undefined) {
        await ctx.answerCallbackQuery({ text: "This button no longer works.", show_alert: true });
        return;
      }
      const saved = await changeUserSettings(db, owner(ctx), { delivery: press }, deps.now());
      await ctx.answerCallbackQuery({ text: "Saved." });
      await ctx.editMessageText(renderSettings(saved), {
        parse_mode: "HTML",
        reply_markup: settingsKeyboard(saved.notifications),
      });
    });
    return composer;
  },
};
