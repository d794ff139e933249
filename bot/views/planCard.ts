/**
 * The plan card: what a trader confirms. Built from `planTrade` (domain/planTrade.ts) as a
 * JSON-safe model, decimals as strings, so a conversation can keep it across replays; rendered as
 * Telegram HTML.
 */
import { Decimal } from "../../domain/money";
import type { TradePlanning } from "../../domain/planTrade";
import type { SizingMethod } from "../../domain/sizing";
import { formatPrice } from "../../domain/tradePlan";
import { escapeHtml } from "./html";

/** A plan card, every figure as a decimal string. */
export interface PlanCardModel {
  readonly symbol: string;
  readonly side: "long" | "short";
  readonly entryType: "market" | "limit";
  readonly limitPrice: string | null;
  readonly expectedEntry: string | null;
  readonly stop: string | null;
  readonly target: string | null;
  readonly rewardToRisk: string | null;
  readonly quantity: string | null;
  readonly positionValue: string | null;
  readonly percentOfEquity: string | null;
  readonly riskAmount: string | null;
  readonly riskPercentOfEquity: string | null;
  readonly rewardAmount: string | null;
  readonly breakEven: string | null;
  readonly bindingConstraint: string | null;
  readonly method: SizingMethod;
  readonly riskPercent: string;
  readonly violations: readonly { readonly code: string; readonly message: string }[];
  readonly canConfirm: boolean;
}

/** The card model of a planning result. */
export function toPlanCardModel(
  symbol: string,
  side: "long" | "short",
  entryType: "market" | "limit",
  method: SizingMethod,
  riskPercent: Decimal,
  planning: TradePlanning,
): PlanCardModel {
  const text = (value: Decimal | null | undefined) => (value == null ? null : value.toString());
  const { plan, size } = planning;
  return {
    symbol,
    side,
    entryType,
    limitPrice: text(plan?.limitPrice),
    expectedEntry: text(plan?.expectedEntry),
    stop: text(plan?.stop),
    target: text(plan?.target),
    rewardToRisk: text(plan?.rewardToRisk),
    quantity: text(size?.quantity),
    positionValue: text(size?.positionValue),
    percentOfEquity: text(size?.percentOfEquity),
    riskAmount: text(size?.riskAmount),
    riskPercentOfEquity: text(size?.riskPercentOfEquity),
    rewardAmount: text(size?.rewardAmount),
    breakEven: text(size?.breakEven),
    bindingConstraint: size?.bindingConstraint ?? null,
    method: size?.method ?? method,
    riskPercent: (size?.riskPercent ?? riskPercent).toString(),
    violations: planning.violations.map((v) => ({ code: v.code, message: v.message })),
    canConfirm: planning.canConfirm,
  };
}

export const SIZING_METHOD_LABELS: Record<SizingMethod, string> = {
  risk_percent: "risk %",
  half_kelly: "half Kelly",
  conservative: "conservative (75% of risk %)",
  aggressive: "aggressive (125% of risk %)",
};

const BINDING_LABELS: Record<string, string> = {
  RISK: "the risk budget",
  MAX_RISK: "the account's max risk per trade",
  MAX_POSITION: "the max position size",
  BUYING_POWER: "buying power",
  WHOLE_SHARES: "rounding down to whole shares",
  KELLY_NON_POSITIVE: "half Kelly (no edge)",
  QUANTITY_GIVEN: "the quantity given",
};

/** $1,234.56 */
export function dollars(text: string): string {
  const value = new Decimal(text);
  const [whole = "0", cents = "00"] = value.abs().toFixed(2, Decimal.ROUND_HALF_UP).split(".");
  return `${value.isNegative() ? "-" : ""}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${cents}`;
}

/** $190.10, sub-penny kept. */
export function priceText(text: string): string {
  return `$${formatPrice(new Decimal(text))}`;
}

function percent(text: string): string {
  return `${new Decimal(text).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toString()}%`;
}

/** The card as Telegram HTML; `footer` is the line under it (expiry, or the outcome). */
export function renderPlanCard(card: PlanCardModel, footer: string): string {
  const lines: string[] = [`<b>Plan: ${escapeHtml(card.symbol)} ${card.side}</b>`];
  const entry =
    card.entryType === "limit" && card.limitPrice !== null
      ? `limit ${priceText(card.limitPrice)}`
      : card.expectedEntry === null
        ? "market"
        : `market ≈ ${priceText(card.expectedEntry)}`;
  lines.push(`Entry: ${entry}`);
  if (card.stop !== null && card.target !== null) {
    const ratio =
      card.rewardToRisk === null
        ? ""
        : ` (reward:risk ${new Decimal(card.rewardToRisk).toFixed(2)})`;
    lines.push(`Stop: ${priceText(card.stop)}   Target: ${priceText(card.target)}${ratio}`);
  }
  if (card.quantity !== null && card.positionValue !== null && card.percentOfEquity !== null) {
    lines.push(
      `Quantity: <b>${escapeHtml(card.quantity)}</b> shares, ${dollars(card.positionValue)} (${percent(card.percentOfEquity)} of equity)`,
    );
  }
  if (card.riskAmount !== null && card.riskPercentOfEquity !== null) {
    const reward = card.rewardAmount === null ? "" : `   Reward: ${dollars(card.rewardAmount)}`;
    lines.push(
      `Risk: ${dollars(card.riskAmount)} (${percent(card.riskPercentOfEquity)} of equity)${reward}`,
    );
  }
  if (card.breakEven !== null) lines.push(`Break-even: ${priceText(card.breakEven)}`);
  const bound =
    card.bindingConstraint === null
      ? ""
      : `; size set by ${BINDING_LABELS[card.bindingConstraint] ?? card.bindingConstraint}`;
  lines.push(
    `Sizing: ${SIZING_METHOD_LABELS[card.method]} at ${escapeHtml(card.riskPercent)}% risk${bound}`,
  );
  if (card.violations.length > 0) {
    lines.push("", "<b>Cannot be confirmed:</b>");
    for (const violation of card.violations) {
      lines.push(`• ${escapeHtml(violation.code)}: ${escapeHtml(violation.message)}`);
    }
  }
  lines.push("", footer);
  return lines.join("\n");
}
