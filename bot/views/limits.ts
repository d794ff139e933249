/** /limits: the account's trading state and risk limits, with the names admins change them by. */
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

const MODE_TITLES: Record<TradingState["mode"], string> = {
  ACTIVE: "ACTIVE: trading",
  REDUCING: "REDUCING: exits only",
  HALTED: "HALTED: no new exposure",
};

/** The trading state and the limits; admins see how to change them. */
export function renderLimits(
  limits: RiskLimits,
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
  ];
  if (canEdit)
    lines.push("", "Change one with /limits FIELD VALUE, e.g. /limits riskPerTradePercent 0.5");
  return lines.join("\n");
}
