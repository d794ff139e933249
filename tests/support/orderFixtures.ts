import { dec } from "../../domain/money";
import { createOrder, type Order, type OrderDraft, type OrderFillEvent } from "../../domain/order";

/** A limit buy entry for 10 AAPL, unsent; override any field. */
export function draftOrder(overrides: Partial<OrderDraft> = {}): OrderDraft {
  return {
    clientOrderId: "dec-1-entry",
    symbol: "AAPL",
    side: "buy",
    type: "limit",
    timeInForce: "day",
    orderClass: "simple",
    role: "ENTRY",
    quantity: dec("10"),
    limitPrice: dec("190.10"),
    stopPrice: null,
    ...overrides,
  };
}

/** A freshly created order (pending_new, or held for a bracket leg). */
export function newOrder(
  overrides: Partial<OrderDraft> = {},
  initialStatus: "pending_new" | "held" = "pending_new",
): Order {
  return createOrder(draftOrder(overrides), "2026-03-02T14:35:00Z", initialStatus);
}

/** One execution of `quantity` at `price`. */
export function fillEvent(
  executionId: string,
  quantity: string,
  price: string,
  at = "2026-03-02T14:36:00Z",
): OrderFillEvent {
  return { event: "partial_fill", executionId, quantity: dec(quantity), price: dec(price), at };
}
