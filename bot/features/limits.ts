/**
 * /limits shows the trading state, risk limits and kill switches to everyone; admins change one
 * with `/limits FIELD VALUE`, validated by the domain (validateRiskLimits, validateCircuitBreakers)
 * and audited on save.
 */
import { Composer } from "grammy";
import { tradingStateOf } from "../../db/brokerAccounts";
import { changeKillSwitchSettings } from "../../db/killSwitchEdits";
import { type KillSwitchSettings, loadKillSwitchSettings } from "../../db/killSwitchSettings";
import { loadRiskLimits, saveRiskLimits } from "../../db/riskLimits";
import { parseDecimal } from "../../domain/money";
import type { RiskLimits } from "../../domain/riskLimits";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import { DECIMAL_POINT_HINT, hasComma } from "../decimalText";
import type { BotFeature } from "../feature";
import { sendHtml } from "../sendHtml";
import { code, escapeHtml } from "../views/html";
import { KILL_SWITCH_FIELDS, killSwitchValue, LIMIT_FIELDS, renderLimits } from "../views/limits";
import { guardCommand } from "./access";
import { commandArguments, deskScopeOf } from "./deskContext";

const WHOLE_NUMBER_FIELDS = new Set<keyof RiskLimits>([
  "maxOpenPositions",
  "duplicateWindowMs",
  "maxOrdersPerMinute",
]);

/** The limits with one field changed from text, or a message saying what is wrong. */
export function changeLimit(
  limits: RiskLimits,
  fieldText: string,
  valueText: string,
): { readonly limits: RiskLimits } | { readonly error: string } {
  const spec = LIMIT_FIELDS.find(({ field }) => field.toLowerCase() === fieldText.toLowerCase());
  if (spec === undefined) return { error: `There is no limit called ${fieldText}.` };
  const value = parseDecimal(valueText.replace(/%$/, ""));
  if (value === null) return { error: `${valueText} is not a number.${commaHint(valueText)}` };
  if (WHOLE_NUMBER_FIELDS.has(spec.field)) {
    if (!value.isInteger()) return { error: `${spec.field} must be a whole number.` };
    return { limits: { ...limits, [spec.field]: value.toNumber() } };
  }
  return { limits: { ...limits, [spec.field]: value } };
}

/** How to write decimals, for a value refused because of a comma. */
function commaHint(valueText: string): string {
  return hasComma(valueText) ? ` ${DECIMAL_POINT_HINT}` : "";
}

const OFF_WORDS = new Set(["off", "false", "no"]);
const ON_WORDS = new Set(["on", "true", "yes"]);

/** What to type for each kill-switch setting, for the replies to bad input. */
const KILL_SWITCH_USAGE: Record<keyof KillSwitchSettings, string> = {
  flattenOnHalt: "/limits flattenOnHalt on or /limits flattenOnHalt off",
  maxDrawdownPercent: "/limits maxDrawdownPercent 8 (percent below the peak) or off",
  drawdownDays: "/limits drawdownDays 5 (trading days)",
  lossStreakCount: "/limits lossStreakCount 3 (stop-outs) or off",
  lossStreakWindowMinutes: "/limits lossStreakWindowMinutes 120 (minutes)",
  lossStreakPauseMinutes: "/limits lossStreakPauseMinutes 60 (minutes)",
};

/** The field name of a kill-switch setting typed in any case, or null when it is not one. */
export function killSwitchFieldOf(fieldText: string): keyof KillSwitchSettings | null {
  const spec = KILL_SWITCH_FIELDS.find(
    ({ field }) => field.toLowerCase() === fieldText.toLowerCase(),
  );
  return spec?.field ?? null;
}

/**
 * The kill-switch settings with one field changed from text, or a message saying what to type.
 * Ranges are the domain's (validateCircuitBreakers), checked on save.
 */
export function changeKillSwitch(
  settings: KillSwitchSettings,
  field: keyof KillSwitchSettings,
  valueText: string,
): { readonly settings: KillSwitchSettings } | { readonly error: string } {
  const word = valueText.toLowerCase();
  const usage = `Type ${KILL_SWITCH_USAGE[field]}.`;
  if (field === "flattenOnHalt") {
    if (ON_WORDS.has(word)) return { settings: { ...settings, flattenOnHalt: true } };
    if (OFF_WORDS.has(word)) return { settings: { ...settings, flattenOnHalt: false } };
    return { error: `flattenOnHalt is on or off, not ${valueText}. ${usage}` };
  }
  const canTurnOff = field === "maxDrawdownPercent" || field === "lossStreakCount";
  if (OFF_WORDS.has(word)) {
    if (canTurnOff) return { settings: { ...settings, [field]: null } };
    const breaker = field === "drawdownDays" ? "maxDrawdownPercent" : "lossStreakCount";
    return { error: `${field} cannot be off; turn the breaker off with /limits ${breaker} off.` };
  }
  const value = parseDecimal(valueText.replace(/%$/, ""));
  if (value === null)
    return { error: `${valueText} is not a number.${commaHint(valueText)} ${usage}` };
  if (field === "maxDrawdownPercent")
    return { settings: { ...settings, maxDrawdownPercent: value } };
  return { settings: { ...settings, [field]: value.toNumber() } };
}

export const limitsFeature: BotFeature = {
  name: "limits",
  commands: ["limits"],
  callbackActions: [],
  create({ deps }) {
    const composer = new Composer<BotContext>();
    composer.command("limits", ...guardCommand(commandSpec("limits")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const isAdmin = ctx.deskUser.role === "admin";
      const words = commandArguments(ctx)
        .split(/\s+/)
        .filter((word) => word !== "");
      const limits = await loadRiskLimits(scope.db, scope.account.id);
      const killSwitch = await loadKillSwitchSettings(scope.db, scope.account.id);
      if (words.length === 0) {
        // The trading state's reason is a trader's free text: split rather than fail past 4096.
        await sendHtml(
          ctx.api,
          ctx.chat?.id ?? ctx.deskUser.telegramUserId,
          renderLimits(
            limits,
            killSwitch,
            tradingStateOf(scope.account),
            scope.account.tradingStateSetBy,
            scope.timeZone,
            isAdmin,
          ),
        );
        return;
      }
      if (!isAdmin) {
        await ctx.reply(`Only an admin changes limits; your role is ${ctx.deskUser.role}.`);
        return;
      }
      const [field = "", value, ...rest] = words;
      if (value === undefined || rest.length > 0) {
        await ctx.reply("Usage: /limits FIELD VALUE, e.g. /limits riskPerTradePercent 0.5");
        return;
      }
      const killSwitchField = killSwitchFieldOf(field);
      if (killSwitchField !== null) {
        const edited = changeKillSwitch(killSwitch, killSwitchField, value);
        if ("error" in edited) {
          await ctx.reply(edited.error);
          return;
        }
        const stored = await changeKillSwitchSettings(
          scope.db,
          scope.account.id,
          edited.settings,
          scope.actor,
          deps.now(),
        );
        if (!stored.ok) {
          await ctx.reply(`Not changed: ${stored.message}`);
          return;
        }
        await ctx.reply(
          `Changed ${code(killSwitchField)}: ${escapeHtml(
            killSwitchValue(killSwitch, killSwitchField),
          )} → ${escapeHtml(killSwitchValue(stored.value, killSwitchField))}`,
          { parse_mode: "HTML" },
        );
        return;
      }
      const changed = changeLimit(limits, field, value);
      if ("error" in changed) {
        await ctx.reply(changed.error);
        return;
      }
      const saved = await saveRiskLimits(
        scope.db,
        scope.account.id,
        changed.limits,
        scope.actor,
        deps.now(),
      );
      if (!saved.ok) {
        await ctx.reply(`Not changed: ${saved.message}`);
        return;
      }
      const spec = LIMIT_FIELDS.find((entry) => entry.field.toLowerCase() === field.toLowerCase());
      const name = spec?.field ?? field;
      await ctx.reply(
        `Changed ${code(name)}: ${escapeHtml(String(limits[name as keyof RiskLimits]))} → ${escapeHtml(
          String(saved.value[name as keyof RiskLimits]),
        )}`,
        { parse_mode: "HTML" },
      );
    });
    return composer;
  },
};
