import { type Alert, findAlert } from "./alerts";
import type { Database } from "./database";
import { type Decision, findDecision } from "./decisions";
import { type LoggedEvent, readLog } from "./executionLog";
import { findOrder, type OrderRecord } from "./orders";
import { findTrade, type TradeRecord } from "./trades";

/** Everything the database knows about why an order went out and what happened to it. */
export interface OrderTrace {
  readonly order: OrderRecord;
  readonly trade: TradeRecord | null;
  readonly decision: Decision | null;
  readonly alert: Alert | null;
  /**
   * The audit events of the alert, the decision, the trade and every order of that trade (this
   * order's siblings included: its stop and target), in the order they were written.
   */
  readonly events: readonly LoggedEvent[];
}

/**
 * Answers "why did this order go out, and what happened to it?": the order, the trade it belongs
 * to, the decision that trade executed (who made it, from which alert), and the whole audit trail.
 * Null when there is no such order.
 */
export async function traceOrder(db: Database, orderId: number): Promise<OrderTrace | null> {
  const order = await findOrder(db, orderId);
  if (!order) return null;
  const trade = order.tradeId === null ? null : await findTrade(db, order.tradeId);
  const decision =
    trade?.decisionId === null || trade === null ? null : await findDecision(db, trade.decisionId);
  const alert = decision?.alertId ? await findAlert(db, decision.alertId) : null;
  const events = await readLog(db, {
    orderId: order.id,
    ...(trade ? { tradeId: trade.id } : {}),
    ...(decision ? { decisionId: decision.id } : {}),
    ...(alert ? { entity: { type: "alert" as const, id: alert.id } } : {}),
  });
  return { order, trade, decision, alert, events };
}
