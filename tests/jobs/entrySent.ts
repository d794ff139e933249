/**
 * A desk entry sent to the broker while the desk has not heard back: the trade and its entry
 * recorded as the execute job records them, then the order sent under the entry's client order
 * id, and nothing of the broker's answer or stream stored. Reconciliation tests start from it.
 */
import { recordTradeEntry } from "../../db/trades";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import type { Lifecycle } from "./harness";

export interface EntrySentOptions {
  readonly symbol: string;
  readonly quantity: string;
  /** A limit entry's price; null for a market entry (planned at 100). */
  readonly limit: string | null;
  /** Starts the client order id, before the decision id. */
  readonly idPrefix: string;
  /** When it is recorded (default: the lifecycle's clock). */
  readonly at?: Date;
}

/** Records a long entry (stop 95, target 110) and sends it; answers the records and the broker's order. */
export async function sendEntryUnheard(t: Lifecycle, options: EntrySentOptions) {
  const { symbol, quantity, limit } = options;
  const planned = dec(limit ?? "100");
  const at = options.at ?? t.deps.now();
  const decision = await t.decide({
    symbol,
    quantity,
    entry: limit,
    stop: "95.00",
    target: "110.00",
  });
  const clientOrderId = `${options.idPrefix}-${decision.id}-entry`;
  const recorded = await recordTradeEntry(
    t.db.db,
    {
      accountId: t.accountId,
      decisionId: decision.id,
      plan: {
        symbol,
        side: "long",
        plannedEntryPrice: planned,
        plannedStopPrice: dec("95.00"),
        plannedTargetPrice: dec("110.00"),
        plannedQuantity: dec(quantity),
        plannedRisk: planned.minus(dec("95")).times(dec(quantity)),
      },
      entry: {
        order: createOrder(
          {
            clientOrderId,
            symbol,
            side: "buy",
            type: limit === null ? "market" : "limit",
            timeInForce: "day",
            orderClass: "simple",
            role: "ENTRY",
            quantity: dec(quantity),
            limitPrice: limit === null ? null : dec(limit),
            stopPrice: null,
          },
          at.toISOString(),
        ),
      },
    },
    "test",
    at,
  );
  const sent = await t.broker.submitOrder({
    clientOrderId,
    symbol,
    side: "buy",
    qty: dec(quantity),
    timeInForce: "day",
    orderClass: "simple",
    entry: limit === null ? { type: "market" } : { type: "limit", limitPrice: dec(limit) },
  });
  if (!sent.ok) throw new Error(sent.message);
  return { recorded, brokerOrder: sent.value };
}
