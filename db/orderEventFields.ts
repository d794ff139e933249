/** What an applied order event sets beside the domain values: log names, audit times, slippage. */
import type { Decimal } from "../domain/money";
import type { Order } from "../domain/order";
import type { AppliedFill } from "../domain/orderStateMachine";
import type { PositionFillApplied } from "../domain/position";
import type { TradeFill } from "../domain/trade";
import type { orders } from "./schema";

/** The log event of a position change. */
export function positionEvent(existed: boolean, moved: PositionFillApplied): string {
  if (!existed) return "OPENED";
  if (moved.position.quantity.isZero()) return "CLOSED";
  if (moved.flipped) return "FLIPPED";
  return moved.closedQuantity.isZero() ? "INCREASED" : "REDUCED";
}

/** One execution of an order as the trade journal takes it, with the order's role. */
export function tradeFillOf(
  role: Order["role"],
  exitReason: TradeFill["exitReason"] | null,
  side: Order["side"],
  fill: AppliedFill,
  commission: Decimal | null,
): TradeFill {
  const base = {
    side,
    quantity: fill.quantity,
    price: fill.price,
    at: fill.at,
    ...(commission ? { commission } : {}),
  };
  // An EXIT order without a recorded reason is a manual close.
  if (role === "EXIT") return { ...base, role, exitReason: exitReason ?? "MANUAL_EXIT" };
  return { ...base, role };
}

/** When the order reached its new status, for the audit columns. */
export function statusTimes(row: typeof orders.$inferSelect, after: Order, at: Date) {
  const times: Partial<
    Record<
      "submittedAt" | "acceptedAt" | "filledAt" | "canceledAt" | "expiredAt" | "rejectedAt",
      Date
    >
  > = {};
  if (after.brokerOrderId !== null && row.brokerOrderId === null && row.submittedAt === null) {
    times.submittedAt = at;
  }
  if (after.status === row.status) return times;
  if ((after.status === "accepted" || after.status === "new") && row.acceptedAt === null) {
    times.acceptedAt = at;
  }
  if (after.status === "filled") times.filledAt = at;
  if (after.status === "canceled") times.canceledAt = at;
  if (after.status === "expired") times.expiredAt = at;
  if (after.status === "rejected") times.rejectedAt = at;
  return times;
}

/**
 * Slippage per share against the price the order expected, positive when the fill was worse:
 * paid more on a buy, received less on a sell. Null without an expectation or a fill.
 */
export function actualSlippage(
  side: Order["side"],
  expected: Decimal | null,
  average: Decimal | null,
): Decimal | null {
  if (expected === null || average === null) return null;
  return side === "buy" ? average.minus(expected) : expected.minus(average);
}
