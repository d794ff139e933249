/**
 * Confirmations of the dangerous trading commands. Subjects are database ids and short codes
 * (the 64-byte callback data limit): /close carries the position id and the percentage,
 * /flatten the account id, /resume the account id and a request number for its reason.
 */
import { defineConfirmation } from "./confirm";

export const CLOSE_CONFIRMATION = defineConfirmation("cl", ["admin", "trader"]);
export const FLATTEN_CONFIRMATION = defineConfirmation("fl", ["admin", "trader"]);
export const RESUME_CONFIRMATION = defineConfirmation("rs", ["admin"]);

/** How long a trading confirmation can be answered. */
export const TRADING_CONFIRMATION_MS = 60_000;

/** The subject of a /close confirmation: `<position id>-<percent or "all">`. */
export function closeSubject(positionId: number, percent: string | null): string {
  return `${positionId}-${percent ?? "all"}`;
}

/** Reads a /close subject; null if malformed. */
export function readCloseSubject(
  subject: string,
): { readonly positionId: number; readonly percent: string | null } | null {
  const match = /^(\d{1,15})-(all|\d{1,3}(?:\.\d{1,4})?)$/.exec(subject);
  if (match === null) return null;
  const [, id = "", percent = ""] = match;
  return { positionId: Number(id), percent: percent === "all" ? null : percent };
}
