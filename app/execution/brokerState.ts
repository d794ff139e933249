/**
 * Whether an order is at the broker, as the execution API tells its clients: only "not sent" when
 * the desk is certain, since a client reading that places the order again. An order recorded and
 * not yet acknowledged may still be sent by its execute job (retrying a broker that failed); it
 * is certain not to be once it ended in the books without reaching the broker (reconciliation
 * settled it with the broker's word that it does not know it, or it was cancelled before it went
 * out: its job then sends nothing).
 */
import type { OrderStatus } from "../../domain/order";
import { isTerminal } from "../../domain/orderStateMachine";

/** `sent`: the broker acknowledged it; `unconfirmed`: it may still be sent; `not_sent`: it never will be. */
export type BrokerState = "sent" | "unconfirmed" | "not_sent";

/** An order's state at the broker, from its current row. */
export function brokerStateOf(order: {
  readonly brokerOrderId: string | null;
  readonly status: OrderStatus;
}): BrokerState {
  if (order.brokerOrderId !== null) return "sent";
  return isTerminal(order.status) ? "not_sent" : "unconfirmed";
}

/** What a client should do about an order the broker did not know when reconciliation looked. */
export function unsentOrderMessage(state: BrokerState, status: OrderStatus): string {
  switch (state) {
    case "sent":
      return "The broker has acknowledged this order since: it is followed as any order.";
    case "unconfirmed":
      return "The broker has not confirmed this order yet and the desk may still send it: poll GET /api/execution/orders again, and do not submit it again (a second submit would open a second position).";
    case "not_sent":
      return `This order never reached the broker and will not be sent: it ended as ${status}. Submit a new order if you still want the trade.`;
  }
}
