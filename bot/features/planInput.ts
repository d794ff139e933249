/**
 * Reading a trader's answers to the /plan questions. Each reader returns the value, JSON-safe
 * (decimals as strings) so the conversation can keep it, or a sentence saying what is wrong and
 * what to send instead.
 */
import { Decimal, HUNDRED, parseDecimal, ZERO } from "../../domain/money";
import { SIZING_METHODS, type SizingMethod } from "../../domain/sizing";
import { isOnTick } from "../../domain/tick";
import { DECIMAL_POINT_HINT, hasComma } from "../decimalText";

export type Answer<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string };

const ok = <T>(value: T): Answer<T> => ({ ok: true, value });
const problem = <T>(text: string): Answer<T> => ({ ok: false, problem: text });

/** Words that keep the default (or the current value when editing). */
const SKIP = /^(skip|default|-|ok)$/i;

export type EntryAnswer =
  | { readonly type: "market" }
  | { readonly type: "limit"; readonly price: string };
export type StopAnswer =
  | { readonly kind: "price"; readonly value: string }
  | { readonly kind: "percent"; readonly value: string }
  | { readonly kind: "amount"; readonly value: string };
export type TargetAnswer =
  | { readonly kind: "price"; readonly value: string }
  | { readonly kind: "r"; readonly value: string };

/** A ticker: letters, digits, dots (BRK.B) and slashes (crypto pairs), up to 12 characters. */
export function readSymbol(text: string): Answer<string> {
  const symbol = text.trim().toUpperCase().replace(/^\$/, "");
  if (!/^[A-Z][A-Z0-9./]{0,11}$/.test(symbol)) {
    return problem("That is not a symbol. Send a ticker such as AAPL or BRK.B.");
  }
  return ok(symbol);
}

/** long / short (also buy / sell, l / s). */
export function readSide(text: string): Answer<"long" | "short"> {
  const word = text.trim().toLowerCase();
  if (["long", "buy", "l", "b"].includes(word)) return ok("long");
  if (["short", "sell", "s"].includes(word)) return ok("short");
  return problem("Send long or short.");
}

function readPrice(text: string, name: string): Answer<Decimal> {
  const price = parseDecimal(text);
  if (price === null) {
    const hint = hasComma(text) ? ` ${DECIMAL_POINT_HINT}` : "";
    return problem(`The ${name} must be a price such as 190.10.${hint}`);
  }
  if (!price.gt(ZERO)) return problem(`The ${name} must be above zero.`);
  if (!isOnTick(price)) {
    return problem(
      `The ${name} ${price.toString()} is not on the broker's price grid: whole cents at or above $1, at most four decimals below.`,
    );
  }
  return ok(price);
}

/** market (m, mkt) or a limit price. */
export function readEntry(text: string): Answer<EntryAnswer> {
  if (/^(market|mkt|m)$/i.test(text.trim())) return ok({ type: "market" });
  const price = readPrice(text, "limit price");
  if (!price.ok) return problem(`${price.problem} Or send market.`);
  return ok({ type: "limit", price: price.value.toString() });
}

/** A price (185.50), a percent distance (2%) or a dollar distance ($3). */
export function readStop(text: string): Answer<StopAnswer> {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(trimmed);
  if (percent?.[1] !== undefined) {
    const value = new Decimal(percent[1]);
    if (!value.gt(ZERO) || !value.lt(HUNDRED)) {
      return problem("A stop distance in percent must be above 0% and below 100%.");
    }
    return ok({ kind: "percent", value: value.toString() });
  }
  const amount = /^\$\s*(\d+(?:\.\d+)?)$/.exec(trimmed);
  if (amount?.[1] !== undefined) {
    const value = new Decimal(amount[1]);
    if (!value.gt(ZERO)) return problem("A stop distance in dollars must be above zero.");
    return ok({ kind: "amount", value: value.toString() });
  }
  const price = readPrice(trimmed, "stop");
  if (!price.ok) {
    return problem(`${price.problem} Or a distance: 2% or $3.`);
  }
  return ok({ kind: "price", value: price.value.toString() });
}

/** A price, an R multiple (3R), or skip for 2R. */
export function readTarget(text: string): Answer<TargetAnswer | null> {
  const trimmed = text.trim();
  if (SKIP.test(trimmed)) return ok(null);
  const multiple = /^(\d+(?:\.\d+)?)\s*r$/i.exec(trimmed);
  if (multiple?.[1] !== undefined) {
    const value = new Decimal(multiple[1]);
    if (!value.gt(ZERO) || value.gt(50))
      return problem("An R multiple must be above 0 and at most 50.");
    return ok({ kind: "r", value: value.toString() });
  }
  const price = readPrice(trimmed, "target");
  if (!price.ok) return problem(`${price.problem} Or an R multiple such as 3R, or skip for 2R.`);
  return ok({ kind: "price", value: price.value.toString() });
}

/** Percent of equity at risk (0.5 or 0.5%), or skip for the account's setting. */
export function readRiskPercent(text: string): Answer<string | null> {
  const trimmed = text.trim();
  if (SKIP.test(trimmed)) return ok(null);
  const value = parseDecimal(trimmed.replace(/%$/, ""));
  if (value === null || !value.gt(ZERO) || value.gt(10)) {
    const hint = hasComma(trimmed) ? ` ${DECIMAL_POINT_HINT}` : "";
    return problem(
      `Send the risk as a percent of equity above 0 and at most 10 (such as 0.5), or skip.${hint}`,
    );
  }
  return ok(value.toString());
}

const METHOD_WORDS: Record<string, SizingMethod> = {
  "1": "risk_percent",
  risk: "risk_percent",
  "risk%": "risk_percent",
  "2": "half_kelly",
  kelly: "half_kelly",
  "half kelly": "half_kelly",
  "3": "conservative",
  conservative: "conservative",
  "4": "aggressive",
  aggressive: "aggressive",
};

/** 1 risk %, 2 half Kelly, 3 conservative, 4 aggressive; skip for risk %. */
export function readSizingMethod(text: string): Answer<SizingMethod> {
  const word = text.trim().toLowerCase().replace(/_/g, " ");
  if (SKIP.test(word)) return ok("risk_percent");
  const method = METHOD_WORDS[word] ?? SIZING_METHODS.find((m) => m === word.replace(/ /g, "_"));
  if (method === undefined) {
    return problem("Send 1 (risk %), 2 (half Kelly), 3 (conservative) or 4 (aggressive).");
  }
  return ok(method);
}

/**
 * Whether a stop answer lies on the losing side of the entry the trader expects: below it for a
 * long, above for a short. Distances always do; prices are compared.
 */
export function stopSideProblem(
  side: "long" | "short",
  entry: Decimal,
  stop: StopAnswer,
): string | null {
  if (stop.kind !== "price") return null;
  const price = new Decimal(stop.value);
  if (side === "long" ? price.lt(entry) : price.gt(entry)) return null;
  return `For a ${side} the stop must be ${side === "long" ? "below" : "above"} the entry (about $${entry.toFixed(Math.max(2, entry.decimalPlaces()))}).`;
}

/** Whether a target price lies on the winning side of the entry. */
export function targetSideProblem(
  side: "long" | "short",
  entry: Decimal,
  target: TargetAnswer | null,
): string | null {
  if (target === null || target.kind !== "price") return null;
  const price = new Decimal(target.value);
  if (side === "long" ? price.gt(entry) : price.lt(entry)) return null;
  return `For a ${side} the target must be ${side === "long" ? "above" : "below"} the entry (about $${entry.toFixed(Math.max(2, entry.decimalPlaces()))}).`;
}
