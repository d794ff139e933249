/**
 * /limits: the account's trading state, risk limits and kill switches, with the names admins
 * change them by.
 */
import type { KillSwitchSettings } from "../../db/killSwitchSettings";
import type { RiskLimits } from "../../domain/riskLimits";
import type { TradingState } from "../../domain/tradingState";
import { dateTime } from "./format";
import { bold, code, escapeHtml } from "./html";

/** Each limit: its field name (for `/limits FIELD VALUE`), what it means, and its unit. */
export const LIMIT_FIELDS: readonly {
  readonly field: keyof RiskLimits;
  readonly label: string;
  readonly unit: "%" | "" | "ms" | "R";
}[] = [
  { field: "riskPerTradePercent", label: "Risk per trade", unit: "%" },
  { field: "maxPositionPercent", label: "Largest position", unit: "%" },
  { field: "maxOpenPositions", label: "Open positions at most", unit: "" },
  { field: "maxDailyLossPercent", label: "Daily loss halt", unit: "%" },
  { field: "dailyLossWarningFraction", label: "Warn at this fraction of it", unit: "" },
  { field: "maxTotalExposurePercent", label: "Total exposure", unit: "%" },
  { field: "maxSectorExposurePercent", label: "Exposure per sector", unit: "%" },
  { field: "maxSlippagePercent", label: "Slippage allowance", unit: "%" },
  { field: "priceCollarPercent", label: "Price collar", unit: "%" },
  { field: "duplicateWindowMs", label: "Duplicate window", unit: "ms" },
  { field: "minRewardToRisk", label: "Reward:risk at least", unit: "R" },
  { field: "maxOrdersPerMinute", label: "Orders per minute", unit: "" },
];

/** Each kill-switch setting: its field name, what it means, and how its value reads. */
export const KILL_SWITCH_FIELDS: readonly {
  readonly field: keyof KillSwitchSettings;
  readonly label: string;
  /** "switch": on/off; "percent" and "count": a value or off; the rest: always a number. */
  readonly kind: "switch" | "percent" | "count" | "days" | "minutes";
}[] = [
  {
    field: "flattenOnHalt",
    label: "Close everything when the daily-loss switch halts",
    kind: "switch",
  },
  { field: "maxDrawdownPercent", label: "Drawdown from the peak that halts", kind: "percent" },
  { field: "drawdownDays", label: "Peak taken over the last", kind: "days" },
  { field: "lossStreakCount", label: "Stop-outs that pause entries", kind: "count" },
  { field: "lossStreakWindowMinutes", label: "Counted within", kind: "minutes" },
  { field: "lossStreakPauseMinutes", label: "Entries paused for", kind: "minutes" },
];

/** One kill-switch value as the desk reads it: "off" when the setting is off. */
export function killSwitchValue(
  settings: KillSwitchSettings,
  field: keyof KillSwitchSettings,
): string {
  const value = settings[field];
  if (value === null || value === false) return "off";
  if (value === true) return "on";
  switch (field) {
    case "maxDrawdownPercent":
      return `${String(value)}%`;
    case "drawdownDays":
      return `${String(value)} trading days`;
    case "lossStreakWindowMinutes":
    case "lossStreakPauseMinutes":
      return `${String(value)} min`;
    default:
      return String(value);
  }
}

const MODE_TITLES: Record<TradingState["mode"], string> = {
  ACTIVE: "ACTIVE: trading",
  REDUCING: "REDUCING: exits only",
  HALTED: "HALTED: no new exposure",
};

/** The trading state, the limits and the kill switches; admins see how to change them. */
export function renderLimits(
  limits: RiskLimits,
  killSwitch: KillSwitchSettings,
  state: TradingState,
  setBy: string,
  timeZone: string,
  canEdit: boolean,
): string {
  const lines = [
    `${bold("Trading state")}: ${MODE_TITLES[state.mode]}`,
    `Set ${state.setBy === "AUTO" ? "automatically" : "by hand"} (${escapeHtml(setBy)}) at ${dateTime(
      new Date(state.since),
      timeZone,
    )}: ${escapeHtml(state.reason)}`,
    "",
    bold("Risk limits"),
    ...LIMIT_FIELDS.map(
      ({ field, label, unit }) =>
        `${escapeHtml(label)}: ${escapeHtml(String(limits[field]))}${unit} ${code(field)}`,
    ),
    "",
    bold("Kill switches"),
    ...KILL_SWITCH_FIELDS.map(
      ({ field, label }) =>
        `${escapeHtml(label)}: ${escapeHtml(killSwitchValue(killSwitch, field))} ${code(field)}`,
    ),
  ];
  if (canEdit)
    lines.push(
      "",
      "Change one with /limits FIELD VALUE, e.g. /limits riskPerTradePercent 0.5, /limits flattenOnHalt on, /limits maxDrawdownPercent 8 or off",
    );
  return lines.join("\n");
}
