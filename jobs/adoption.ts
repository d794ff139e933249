/**
 * Adoption: a broker position the books do not hold (opened outside the desk) taken into the
 * books as a trade without a decision. Reconciliation adopts what it finds and has it protected;
 * a /close of such a position adopts it first, so its close is journalled against a trade.
 */
import type { Database } from "../db/database";
import { appendLog } from "../db/executionLog";
import { applyOrderUpdate } from "../db/orderEvents";
import { findOrderByClientOrderId } from "../db/orders";
import { findPosition } from "../db/positions";
import { countOrdersWithClientIdPrefix } from "../db/reconciliation";
import { recordTradeEntry } from "../db/trades";
import { type Decimal, HUNDRED } from "../domain/money";
import { createOrder } from "../domain/order";
import type { PositionAdopted } from "../domain/reconciliation";
import { roundStopPrice } from "../domain/tick";
import { writeNotices } from "./notices";

/** The client order id prefix of a symbol's adoptions (a sequence number follows). */
export function adoptionClientOrderIdPrefix(accountId: number, symbol: string): string {
  return `adopt-${accountId}-${symbol}-`;
}

/** The default stop distance of an adopted position, % from entry and market. */
export const ADOPTION_STOP_PERCENT = 5;

/** A broker position to adopt, and why (the trader is told what happens next). */
export interface AdoptionRequest {
  readonly accountId: number;
  readonly chats: readonly number[];
  readonly position: PositionAdopted;
  /**
   * The symbol's adoptions counted before the broker's position was read: when more are
   * recorded now, the position was adopted meanwhile (and maybe closed again), so the read is
   * stale and nothing is adopted.
   */
  readonly adoptionsBefore: number;
  readonly stopPercent: Decimal | number;
  /** `protect`: a stop is placed next; `close`: a close of the desk is recorded for it next. */
  readonly purpose: "protect" | "close";
  readonly source: string;
  readonly at: Date;
}

/**
 * Adopts a broker position the books do not hold, inside the caller's transaction under the lock
 * of its symbol: a trade without a decision, its entry filled at the broker's average, with a
 * planned stop `stopPercent` below (long) or above (short) the lower (higher) of entry and market,
 * an execution-log entry and a POSITION_ADOPTED notice. The one way a position is adopted, by
 * reconciliation and by a /close of it. Null when the books hold a position of the symbol, or it
 * was adopted since `adoptionsBefore` was counted: nothing is recorded.
 */
export async function adoptPosition(
  tx: Database,
  request: AdoptionRequest,
): Promise<{ tradeId: number; notices: number } | null> {
  const { accountId, position: action, at } = request;
  if ((await findPosition(tx, accountId, action.symbol)) !== null) return null;
  const prefix = adoptionClientOrderIdPrefix(accountId, action.symbol);
  const adoptions = await countOrdersWithClientIdPrefix(tx, accountId, prefix);
  if (adoptions !== request.adoptionsBefore) return null;
  const clientOrderId = `${prefix}${adoptions + 1}`;
  if (await findOrderByClientOrderId(tx, clientOrderId)) return null;
  const quantity = action.quantity.abs();
  const entry = action.averageEntryPrice;
  const long = action.side === "long";
  const market = action.markPrice ?? entry;
  // Below both the entry and the market for a long (above for a short), so it can be placed.
  const reference = long ? (market.lt(entry) ? market : entry) : market.gt(entry) ? market : entry;
  const distance = reference.times(request.stopPercent).div(HUNDRED);
  const stop = roundStopPrice(
    action.side,
    long ? reference.minus(distance) : reference.plus(distance),
  );
  const recorded = await recordTradeEntry(
    tx,
    {
      accountId,
      decisionId: null,
      plan: {
        symbol: action.symbol,
        side: action.side,
        plannedEntryPrice: entry,
        plannedStopPrice: stop,
        plannedTargetPrice: null,
        plannedQuantity: quantity,
        plannedRisk: entry.minus(stop).abs().times(quantity),
      },
      entry: {
        order: createOrder(
          {
            clientOrderId,
            symbol: action.symbol,
            side: long ? "buy" : "sell",
            type: "market",
            timeInForce: "day",
            orderClass: "simple",
            role: "ENTRY",
            quantity,
            limitPrice: null,
            stopPrice: null,
          },
          at.toISOString(),
        ),
        expectedPrice: entry,
      },
    },
    request.source,
    at,
  );
  const applied = await applyOrderUpdate(
    tx,
    { orderId: recorded.entry.id },
    {
      event: "fill",
      executionId: `adopted-${clientOrderId}`,
      quantity,
      price: entry,
      at: at.toISOString(),
    },
    // The broker's position taken into the books, whoever adopts it: a reconciled fill.
    { source: "reconcile", recordedAt: at },
  );
  if (!applied.ok) throw new Error(`adoption refused: ${applied.code} ${applied.message}`);
  const tradeId = recorded.trade.id;
  const next =
    request.purpose === "protect"
      ? `protective stop at ${stop.toFixed()} being placed`
      : "being closed as asked";
  await appendLog(tx, {
    entity: "position",
    entityId: `${accountId}:${action.symbol}`,
    event: action.code,
    source: request.source,
    accountId,
    tradeId,
    orderId: recorded.entry.id,
    details: { ...action, stop },
    occurredAt: at,
  });
  const notices = await writeNotices(
    tx,
    request.chats,
    [
      {
        key: `recon-${clientOrderId}`,
        notice: {
          kind: "RECONCILIATION_INCIDENT",
          accountId,
          symbol: action.symbol,
          incident: action.code,
          detail: `Found ${action.quantity.toFixed()} ${action.symbol} at the broker that the desk did not know (average ${entry.toFixed()}); adopted as trade ${tradeId}, ${next}.`,
        },
      },
    ],
    at,
  );
  return { tradeId, notices };
}
