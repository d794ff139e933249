/**
 * /limits shows the trading state and risk limits to everyone; admins change one limit with
 * `/limits FIELD VALUE`, validated by the domain (validateRiskLimits) and audited on save.
 */
import { Composer } from "grammy";
import { tradingStateOf } from "../../db/brokerAccounts";
import { loadRiskLimits, saveRiskLimits } from "../../db/riskLimits";
import { parseDecimal } from "../../domain/money";
import type { RiskLimits } from "../../domain/riskLimits";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import { code, escapeHtml } from "../views/html";
import { LIMIT_FIELDS, renderLimits } from "../views/limits";
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
  if (value === null) return { error: `${valueText} is not a number.` };
  if (WHOLE_NUMBER_FIELDS.has(spec.field)) {
    if (!value.isInteger()) return { error: `${spec.field} must be a whole number.` };
    return { limits: { ...limits, [spec.field]: value.toNumber() } };
  }
  return { limits: { ...limits, [spec.field]: value } };
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
      if (words.length === 0) {
        await ctx.reply(
          renderLimits(
            limits,
            tradingStateOf(scope.account),
            scope.account.tradingStateSetBy,
            scope.timeZone,
            isAdmin,
          ),
          { parse_mode: "HTML" },
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
