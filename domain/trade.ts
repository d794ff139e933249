import { type Decimal, ZERO } from "./money";
import type { OrderRole, OrderSide } from "./order";
import { type Ok, ok, type Refusal, refuse } from "./outcome";
import { applyFillToPosition, type Position } from "./position";
import type { PositionSide } from "./tick";

/** The trade journal's lifecycle: ORDERED -> POSITION -> CLOSED, or ORDERED -> CANCELLED. */
export const TRADE_STATUSES = ["ORDERED", "POSITION", "CLOSED", "CANCELLED"] as const;
export type TradeStatus = (typeof TRADE_STATUSES)[number];

/** Why a trade closed. */
export const EXIT_REASONS = ["STOPPED_OUT", "PROFIT_TAKEN", "MANUAL_EXIT", "FLATTENED"] as const;
export type ExitReason = (typeof EXIT_REASONS)[number];

/**
 * Allowed trade transitions. `CANCELLED -> POSITION` is deliberate: a cancelled entry can still
 * report a late fill (the broker's cancel raced an execution), and that position is real; it must
 * be journalled and protected, not dropped. `CANCELLED -> ORDERED`: an entry the books ended as
 * unsent that works at the broker after all (its cancel there refused) is ordered again.
 */
export const TRADE_TRANSITIONS: Readonly<Record<TradeStatus, readonly TradeStatus[]>> = {
  ORDERED: ["POSITION", "CANCELLED"],
  POSITION: ["CLOSED"],
  CANCELLED: ["POSITION", "ORDERED"],
  CLOSED: [],
};

/**
 * One trade in the journal: the plan, what actually happened, and the result.
 *
 * - Planned: entry, stop, target (null when there is none, e.g. an adopted position), quantity
 *   and $ risk (from sizing; the denominator of the R multiple).
 * - Actual: `entryQuantity`/`entryNotional` over every entry fill and `exitQuantity`/`exitNotional`
 *   over every exit fill (averages derived from them), `quantity` still open (unsigned),
 *   `costBasis` of the open quantity at average entry cost (unsigned).
 * - Result: `realizedPnl` net of commissions, `rMultiple` = realized P&L / the planned risk of
 *   the quantity filled (see `filledRisk`; null when it is zero), `exitReason` once CLOSED.
 */
export interface Trade extends NewTrade {
  readonly status: TradeStatus;
  readonly quantity: Decimal;
  readonly costBasis: Decimal;
  readonly entryQuantity: Decimal;
  readonly entryNotional: Decimal;
  readonly averageEntryPrice: Decimal | null;
  readonly exitQuantity: Decimal;
  readonly exitNotional: Decimal;
  readonly averageExitPrice: Decimal | null;
  readonly realizedPnl: Decimal;
  readonly commissions: Decimal;
  readonly rMultiple: Decimal | null;
  readonly exitReason: ExitReason | null;
  readonly openedAt: string | null;
  readonly closedAt: string | null;
  readonly updatedAt: string;
}

/** What it takes to journal a trade when its entry is ordered. */
export interface NewTrade {
  readonly id: string;
  readonly symbol: string;
  readonly side: PositionSide;
  readonly plannedEntryPrice: Decimal;
  readonly plannedStopPrice: Decimal;
  readonly plannedTargetPrice: Decimal | null;
  readonly plannedQuantity: Decimal;
  /** Planned dollars at risk (zero or more). */
  readonly plannedRisk: Decimal;
}

interface TradeFillBase {
  readonly side: OrderSide;
  /** This execution's quantity, positive. */
  readonly quantity: Decimal;
  readonly price: Decimal;
  /** Commission on this execution; zero when absent. */
  readonly commission?: Decimal;
  readonly at: string;
}

/**
 * One execution of an order that belongs to the trade, with that order's role. Entry roles
 * (ENTRY, SLICE) add to the trade; exit roles (STOP_LOSS, TAKE_PROFIT, EXIT) reduce it. An EXIT
 * order carries the reason it was sent (a manual close, a flatten); the other exits' reasons
 * follow from their role.
 */
export type TradeFill =
  | (TradeFillBase & { readonly role: "EXIT"; readonly exitReason: ExitReason })
  | (TradeFillBase & { readonly role: Exclude<OrderRole, "EXIT">; readonly exitReason?: never });

/** What a fill did to a trade. */
export interface TradeFillApplied {
  readonly trade: Trade;
  /** Realized by this fill, net of its commission. */
  readonly realizedPnl: Decimal;
  /** The first entry fill: ORDERED (or CANCELLED, for a late fill) -> POSITION. */
  readonly opened: boolean;
  /** The fill that brought the trade flat: POSITION -> CLOSED. */
  readonly closed: boolean;
}

/** Whether a change happened (false: the trade was already there; it is returned as passed in). */
export interface TradeChange {
  readonly trade: Trade;
  readonly changed: boolean;
}

/**
 * - `ILLEGAL_TRANSITION`: the lifecycle does not allow it (an exit with no position, a fill on a
 *   closed trade, cancelling a trade that has a position).
 * - `ROLE_SIDE_MISMATCH`: an entry-role fill on the exit side or the reverse.
 * - `EXIT_EXCEEDS_POSITION`: an exit larger than the open quantity (a trade never flips).
 * - `INVALID_FILL`: a non-positive quantity or price, or a negative commission.
 */
export type TradeRefusalCode =
  | "ILLEGAL_TRANSITION"
  | "ROLE_SIDE_MISMATCH"
  | "EXIT_EXCEEDS_POSITION"
  | "INVALID_FILL";

export interface TradeRefusal extends Refusal<TradeRefusalCode> {
  readonly from: TradeStatus;
  readonly to: TradeStatus | null;
}

function refuseTrade(
  code: TradeRefusalCode,
  message: string,
  trade: Trade,
  to: TradeStatus | null,
): TradeRefusal {
  return { ...refuse(code, message), from: trade.status, to };
}

const ENTRY_ROLES: readonly OrderRole[] = ["ENTRY", "SLICE"];

/** Whether an order role adds to a trade (entries and entry slices) rather than reducing it. */
export function isEntryRole(role: OrderRole): boolean {
  return ENTRY_ROLES.includes(role);
}

/** The order side that opens or adds to a trade on this side. */
export function entrySide(side: PositionSide): OrderSide {
  return side === "long" ? "buy" : "sell";
}

/** Why a trade closed, from the role of the order whose fill brought it flat. */
export function exitReasonFor(fill: TradeFill): ExitReason {
  switch (fill.role) {
    case "STOP_LOSS":
      return "STOPPED_OUT";
    case "TAKE_PROFIT":
      return "PROFIT_TAKEN";
    case "EXIT":
      return fill.exitReason;
    default:
      // Entry roles never close a trade (their side only adds); kept total for the compiler.
      return "MANUAL_EXIT";
  }
}

/** Realized P&L in R: realized P&L / the $ risk taken; null when that risk is zero. */
export function rMultipleOf(realizedPnl: Decimal, plannedRisk: Decimal): Decimal | null {
  return plannedRisk.isZero() ? null : realizedPnl.div(plannedRisk);
}

/**
 * The planned $ risk of what the entry actually filled: the planned risk in proportion to the
 * filled quantity (30 of 100 planned shares carry 30% of it). An entry filled in part risked only
 * its part; measured on the whole plan, a stop-out of the part would read as a fraction of -1R.
 */
export function filledRisk(
  trade: Pick<Trade, "plannedRisk" | "plannedQuantity" | "entryQuantity">,
): Decimal {
  return trade.plannedRisk.times(trade.entryQuantity).div(trade.plannedQuantity);
}

/** Whether the lifecycle allows a trade to move from one status to another. */
export function canTransitionTrade(from: TradeStatus, to: TradeStatus): boolean {
  return TRADE_TRANSITIONS[from].includes(to);
}

/**
 * Journals a trade when its entry is ordered: status ORDERED, nothing filled. A non-positive
 * planned quantity or a negative planned risk is a caller bug (sizing refuses them), so it throws.
 */
export function createTrade(input: NewTrade, at: string): Trade {
  if (!input.plannedQuantity.isFinite() || input.plannedQuantity.lte(0)) {
    throw new RangeError(`planned quantity must be positive: ${input.plannedQuantity.toString()}`);
  }
  if (!input.plannedRisk.isFinite() || input.plannedRisk.isNegative()) {
    throw new RangeError(`planned risk must be zero or more: ${input.plannedRisk.toString()}`);
  }
  return {
    ...input,
    status: "ORDERED",
    quantity: ZERO,
    costBasis: ZERO,
    entryQuantity: ZERO,
    entryNotional: ZERO,
    averageEntryPrice: null,
    exitQuantity: ZERO,
    exitNotional: ZERO,
    averageExitPrice: null,
    realizedPnl: ZERO,
    commissions: ZERO,
    rMultiple: null,
    exitReason: null,
    openedAt: null,
    closedAt: null,
    updatedAt: at,
  };
}

/** The trade's open quantity as a signed position, for the average-cost arithmetic. */
function asPosition(trade: Trade): Position {
  const sign = trade.side === "long" ? 1 : -1;
  return {
    symbol: trade.symbol,
    quantity: trade.quantity.times(sign),
    costBasis: trade.costBasis.times(sign),
    realizedPnl: trade.realizedPnl,
    commissions: trade.commissions,
  };
}

/**
 * Applies one execution to a trade. An entry fill opens the trade (ORDERED -> POSITION, or
 * CANCELLED -> POSITION for a late fill) or scales in; an exit fill scales out at average cost,
 * and the one that brings the trade flat closes it (POSITION -> CLOSED) with the exit reason of
 * its order's role: STOP_LOSS -> STOPPED_OUT, TAKE_PROFIT -> PROFIT_TAKEN, EXIT -> the reason it
 * carries. Realized P&L is net of commissions; the R multiple follows every realized change.
 * Deduplicating executions is the order state machine's job: apply only the fills it returns.
 */
export function applyTradeFill(trade: Trade, fill: TradeFill): Ok<TradeFillApplied> | TradeRefusal {
  const entering = isEntryRole(fill.role);
  if ((fill.side === entrySide(trade.side)) !== entering) {
    return refuseTrade(
      "ROLE_SIDE_MISMATCH",
      `a ${fill.role} fill cannot ${fill.side} on a ${trade.side} trade`,
      trade,
      null,
    );
  }

  if (entering) {
    if (trade.status !== "POSITION" && !canTransitionTrade(trade.status, "POSITION")) {
      return refuseTrade(
        "ILLEGAL_TRANSITION",
        `trade ${trade.id} is ${trade.status}; an entry fill cannot reopen it`,
        trade,
        "POSITION",
      );
    }
  } else {
    if (trade.status !== "POSITION") {
      return refuseTrade(
        "ILLEGAL_TRANSITION",
        `trade ${trade.id} is ${trade.status}: there is no position to exit`,
        trade,
        "CLOSED",
      );
    }
    if (fill.quantity.gt(trade.quantity)) {
      return refuseTrade(
        "EXIT_EXCEEDS_POSITION",
        `an exit of ${fill.quantity.toString()} exceeds the open ${trade.quantity.toString()} of trade ${trade.id}`,
        trade,
        null,
      );
    }
  }

  const applied = applyFillToPosition(asPosition(trade), fill);
  if (!applied.ok) return refuseTrade("INVALID_FILL", applied.message, trade, null);
  const position = applied.value.position;

  const notional = fill.price.times(fill.quantity);
  const entryQuantity = entering ? trade.entryQuantity.plus(fill.quantity) : trade.entryQuantity;
  const entryNotional = entering ? trade.entryNotional.plus(notional) : trade.entryNotional;
  const exitQuantity = entering ? trade.exitQuantity : trade.exitQuantity.plus(fill.quantity);
  const exitNotional = entering ? trade.exitNotional : trade.exitNotional.plus(notional);
  const opened = entering && trade.status !== "POSITION";
  const closed = !entering && position.quantity.isZero();

  return ok({
    trade: {
      ...trade,
      status: closed ? "CLOSED" : "POSITION",
      quantity: position.quantity.abs(),
      costBasis: position.costBasis.abs(),
      entryQuantity,
      entryNotional,
      averageEntryPrice: entryQuantity.isZero() ? null : entryNotional.div(entryQuantity),
      exitQuantity,
      exitNotional,
      averageExitPrice: exitQuantity.isZero() ? null : exitNotional.div(exitQuantity),
      realizedPnl: position.realizedPnl,
      commissions: position.commissions,
      rMultiple: rMultipleOf(position.realizedPnl, filledRisk({ ...trade, entryQuantity })),
      exitReason: closed ? exitReasonFor(fill) : null,
      openedAt: trade.openedAt ?? fill.at,
      closedAt: closed ? fill.at : null,
      updatedAt: fill.at,
    },
    realizedPnl: applied.value.realizedPnl,
    opened,
    closed,
  });
}

/**
 * Cancels a trade whose entry ended with nothing filled: ORDERED -> CANCELLED. Cancelling an
 * already cancelled trade changes nothing. A trade with a position (even a partial one) is not
 * cancelled: it is closed by its exits.
 */
export function cancelTrade(trade: Trade, at: string): Ok<TradeChange> | TradeRefusal {
  if (trade.status === "CANCELLED") return ok({ trade, changed: false });
  if (trade.status !== "ORDERED") {
    return refuseTrade(
      "ILLEGAL_TRANSITION",
      `trade ${trade.id} is ${trade.status}; only an unfilled trade can be cancelled`,
      trade,
      "CANCELLED",
    );
  }
  return ok({ trade: { ...trade, status: "CANCELLED", updatedAt: at }, changed: true });
}

/**
 * Orders again a trade cancelled with nothing filled whose entry works after all (the books ended
 * it unsent; the broker took it and refused to cancel it): CANCELLED -> ORDERED. An ordered trade
 * changes nothing; any other is refused.
 */
export function reopenTrade(trade: Trade, at: string): Ok<TradeChange> | TradeRefusal {
  if (trade.status === "ORDERED") return ok({ trade, changed: false });
  if (trade.status !== "CANCELLED" || !trade.entryQuantity.isZero()) {
    return refuseTrade(
      "ILLEGAL_TRANSITION",
      `trade ${trade.id} is ${trade.status}; only a cancelled, unfilled trade can be ordered again`,
      trade,
      "ORDERED",
    );
  }
  return ok({ trade: { ...trade, status: "ORDERED", updatedAt: at }, changed: true });
}

/** Unrealized P&L of the open quantity at a mark price (zero when nothing is open). */
export function tradeUnrealizedPnl(trade: Trade, markPrice: Decimal): Decimal {
  const open = markPrice.times(trade.quantity).minus(trade.costBasis);
  return trade.side === "long" ? open : open.neg();
}
