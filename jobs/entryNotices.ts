/**
 * The notice that tells the trader a decision's entry is at the broker. Built in one place so
 * every path that settles a decision as executed (the execute job, reconciliation of a stalled
 * execution) tells it alike, under one key: the second path to get there writes nothing new.
 */
import type { Decision } from "../db/decisions";
import { decisionPrices, entryClientOrderId } from "./entryOrders";
import type { PendingNotice } from "./notices";

/** The outbox key of a decision's ENTRY_SUBMITTED notice (per chat, the outbox adds the chat). */
export function entrySubmittedKey(decisionId: number): string {
  return `submitted-${decisionId}`;
}

/** The ENTRY_SUBMITTED notice of a decision's entry, with the prices as sent (on the tick). */
export function entrySubmittedNotice(decision: Decision, tradeId: number | null): PendingNotice {
  const prices = decisionPrices(decision);
  return {
    key: entrySubmittedKey(decision.id),
    notice: {
      kind: "ENTRY_SUBMITTED",
      decisionId: decision.id,
      tradeId,
      symbol: decision.symbol,
      side: decision.side,
      quantity: decision.quantity.toFixed(),
      orderType: decision.entryType === "limit" ? "limit" : "market",
      limitPrice: prices.entry?.toFixed() ?? null,
      stopPrice: prices.stop.toFixed(),
      targetPrice: prices.target?.toFixed() ?? null,
      clientOrderId: entryClientOrderId(decision.id),
    },
  };
}
