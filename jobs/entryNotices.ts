/**
 * The notices that tell the trader what became of a decision: its entry at the broker, the
 * decision refused, or the entry cancelled. Built in one place so every path that settles a
 * decision (the execute job, reconciliation of a stalled or unstarted execution, the order
 * reports) tells it alike, under one key: the second path to get there writes nothing new.
 */
import type { Decision } from "../db/decisions";
import type { OrderRecord } from "../db/orders";
import type { Decimal } from "../domain/money";
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

/** The ORDER_REJECTED notice of a refused decision: its code(s) and the reason in words. */
export function decisionRefusedNotice(
  decision: Pick<Decision, "id" | "symbol">,
  tradeId: number | null,
  code: string,
  reason: string,
): PendingNotice {
  return {
    key: `decision-refused-${decision.id}`,
    notice: {
      kind: "ORDER_REJECTED",
      decisionId: decision.id,
      tradeId,
      symbol: decision.symbol,
      code,
      reason,
    },
  };
}

/**
 * The ORDER_CANCELED notice of an order that ended without filling whole (`reason`: the broker's
 * status, by default), under one key per order: the broker's cancel event and the execute job
 * settling an entry it cancelled tell it once between them.
 */
export function orderCanceledNotice(
  record: OrderRecord,
  reason: string = record.order.status,
): PendingNotice {
  const order = record.order;
  return {
    key: `canceled-${record.id}`,
    notice: {
      kind: "ORDER_CANCELED",
      tradeId: record.tradeId,
      symbol: order.symbol,
      role: order.role,
      clientOrderId: order.clientOrderId,
      filledQuantity: order.filledQuantity.toFixed(),
      reason,
    },
  };
}

/**
 * The CANCEL_TOO_LATE notice: the trader's cancel of an entry took hold only after the broker had
 * filled it (`filled` of `quantity` shares), so what filled is held. One per decision (per trade
 * without one), whichever path finds it first.
 */
export function cancelTooLateNotice(
  trade: { readonly decisionId: number | null; readonly tradeId: number | null },
  symbol: string,
  filled: Decimal,
  quantity: Decimal,
): PendingNotice {
  const whole = filled.gte(quantity);
  return {
    key:
      trade.decisionId === null
        ? `cancel-too-late-t${trade.tradeId}`
        : `cancel-too-late-${trade.decisionId}`,
    notice: {
      kind: "ORDER_REJECTED",
      decisionId: trade.decisionId,
      tradeId: trade.tradeId,
      symbol,
      code: "CANCEL_TOO_LATE",
      reason: `the cancel came too late: the entry had filled ${filled.toFixed()} of ${quantity.toFixed()} shares at the broker before it took hold; ${whole ? "the position is held" : "those shares are held"}`,
    },
  };
}

/**
 * The CANCEL_REFUSED notice: the broker refused the trader's cancel of an entry (`why`, its
 * answer) for a reason other than the entry having ended, so the entry still works there and can
 * fill. One per decision (per trade without one), and per cancel request when `request` names
 * it: a later request refused again is told again. `consequence` says what did not happen
 * because of it (an amendment not made).
 */
export function cancelRefusedNotice(
  trade: { readonly decisionId: number | null; readonly tradeId: number | null },
  symbol: string,
  why: string,
  request?: string,
  consequence?: string,
): PendingNotice {
  const base =
    trade.decisionId === null
      ? `cancel-refused-t${trade.tradeId}`
      : `cancel-refused-${trade.decisionId}`;
  return {
    key: request === undefined ? base : `${base}-${request}`,
    notice: {
      kind: "ORDER_REJECTED",
      decisionId: trade.decisionId,
      tradeId: trade.tradeId,
      symbol,
      code: "CANCEL_REFUSED",
      reason: `the broker refused the cancel (${why}): the entry is still working at the broker and can fill${consequence === undefined ? "" : `; ${consequence}`}`,
    },
  };
}
