import type { CashTransfer } from "./broker";
import { Decimal, HUNDRED, ZERO } from "./money";
import { marketValue, type Position, unrealizedPnl } from "./position";

/**
 * Marking positions to market. A mark is not an order price, so it is never rounded to the tick:
 * the mid of a cent-wide spread is a half cent, and rounding it would bias every long one way
 * and every short the other.
 */

/** Where a mark price came from, best first. */
export type MarkSource = "mid" | "bid" | "ask" | "last";

/** What a quote update may carry: either side of the book and the last trade, each possibly absent. */
export interface QuoteFigures {
  readonly bid: Decimal | null;
  readonly ask: Decimal | null;
  readonly last: Decimal | null;
}

/** A mark price and where it came from. */
export interface Mark {
  readonly price: Decimal;
  readonly source: MarkSource;
}

// Multiplying by a half is exact and cheaper than dividing by two.
const HALF = new Decimal("0.5");

function usable(price: Decimal | null): price is Decimal {
  if (price === null) return false;
  return price.isFinite() && price.gt(ZERO);
}

/**
 * The mark price of a quote: the mid of bid and ask; without both sides, the last trade; with
 * neither, the one side quoted; null when none of them is usable. A one-sided book has no mid,
 * and its one side can be far from where the stock trades (an offer with nobody bidding), so
 * the last trade comes first. A zero or negative price is "no quote" (the broker sends zero for
 * an empty side). A crossed book still marks at its mid: it is what both sides agree the price
 * is near, and it is momentary.
 */
export function markOf(quote: QuoteFigures): Mark | null {
  const bid = usable(quote.bid) ? quote.bid : null;
  const ask = usable(quote.ask) ? quote.ask : null;
  if (bid !== null && ask !== null) return { price: bid.plus(ask).times(HALF), source: "mid" };
  if (usable(quote.last)) return { price: quote.last, source: "last" };
  if (bid !== null) return { price: bid, source: "bid" };
  if (ask !== null) return { price: ask, source: "ask" };
  return null;
}

/** The mark price of a quote, or null (see `markOf`). */
export function markPriceOf(quote: QuoteFigures): Decimal | null {
  return markOf(quote)?.price ?? null;
}

/** One position valued at its mark; the figures are null when the symbol has no mark. */
export interface PositionValuation {
  readonly symbol: string;
  readonly quantity: Decimal;
  readonly markPrice: Decimal | null;
  /** Signed like the quantity (negative for a short). */
  readonly marketValue: Decimal | null;
  readonly unrealizedPnl: Decimal | null;
}

/** A set of positions valued together. Totals cover the marked positions only. */
export interface PortfolioValuation {
  readonly positions: readonly PositionValuation[];
  /** Net market value (longs minus shorts). */
  readonly marketValue: Decimal;
  readonly longMarketValue: Decimal;
  /** Zero or negative, as the broker reports it. */
  readonly shortMarketValue: Decimal;
  readonly unrealizedPnl: Decimal;
  /** Symbols without a mark: their value is unknown, not zero. */
  readonly unmarked: readonly string[];
}

/**
 * Values positions at their marks (symbol -> mark price): market value and unrealized P&L of
 * each, and the totals. A position without a mark is listed in `unmarked` and left out of the
 * totals rather than valued at zero or at cost.
 */
export function valuePositions(
  positions: readonly Position[],
  marks: ReadonlyMap<string, Decimal>,
): PortfolioValuation {
  let longValue = ZERO;
  let shortValue = ZERO;
  let pnl = ZERO;
  const unmarked: string[] = [];
  const valued = positions.map((position): PositionValuation => {
    const mark = marks.get(position.symbol) ?? null;
    if (mark === null) {
      unmarked.push(position.symbol);
      return {
        symbol: position.symbol,
        quantity: position.quantity,
        markPrice: null,
        marketValue: null,
        unrealizedPnl: null,
      };
    }
    const value = marketValue(position, mark);
    const open = unrealizedPnl(position, mark);
    if (value.isNegative()) shortValue = shortValue.plus(value);
    else longValue = longValue.plus(value);
    pnl = pnl.plus(open);
    return {
      symbol: position.symbol,
      quantity: position.quantity,
      markPrice: mark,
      marketValue: value,
      unrealizedPnl: open,
    };
  });
  return {
    positions: valued,
    marketValue: longValue.plus(shortValue),
    longMarketValue: longValue,
    shortMarketValue: shortValue,
    unrealizedPnl: pnl,
    unmarked,
  };
}

/** The day's P&L: equity now against equity at the previous close. */
export interface DailyPnl {
  readonly amount: Decimal;
  /** As % of the previous close's equity; null without a positive previous close. */
  readonly percent: Decimal | null;
}

/** Daily P&L = equity - last equity (the broker's `last_equity` is equity at the previous close). */
export function dailyPnlOf(equity: Decimal, lastEquity: Decimal): DailyPnl {
  const amount = equity.minus(lastEquity);
  return { amount, percent: lastEquity.gt(ZERO) ? amount.div(lastEquity).times(HUNDRED) : null };
}

/**
 * Net cash moved into the account by transfers booked in [from, to) (epoch ms): deposits less
 * withdrawals, cash journals by their sign. A canceled transfer moved nothing.
 */
export function netCashTransferred(
  transfers: readonly CashTransfer[],
  from: number,
  to: number,
): Decimal {
  let net = ZERO;
  for (const t of transfers) {
    const at = t.at.getTime();
    if (!t.canceled && at >= from && at < to) net = net.plus(t.amount);
  }
  return net;
}

/** A position's mark as the mark book holds it. */
export interface MarkedPosition {
  /** The caller's key for the holding (e.g. `<account id>:<symbol>`), unique in the book. */
  readonly key: string;
  readonly position: Position;
  readonly mark: Mark | null;
  /** Epoch ms of the quote behind the mark; null before the first one. */
  readonly markedAt: number | null;
  readonly marketValue: Decimal | null;
  readonly unrealizedPnl: Decimal | null;
}

/** What applying one quote did. */
export interface QuoteApplied {
  /** Holdings re-marked by this quote (zero for an unknown symbol, a stale or unusable quote, or an unchanged mark). */
  readonly remarked: number;
}

interface Holding {
  key: string;
  position: Position;
  mark: Mark | null;
  markedAt: number | null;
  marketValue: Decimal | null;
  unrealizedPnl: Decimal | null;
  dirty: boolean;
}

/**
 * Marks held in memory and updated quote by quote. Applying a quote costs O(1) per holding of
 * the symbol (a map lookup, the mark, its market value and unrealized P&L), so a stream of
 * quotes never rescans the book; the portfolio totals are summed when read after a change (once
 * per read, not once per quote). Changed holdings are collected until `takeChanged()`, so the
 * caller writes marks to the database in batches (a throttled flush) rather than once per quote.
 */
export class MarkBook {
  readonly #byKey = new Map<string, Holding>();
  readonly #bySymbol = new Map<string, Holding[]>();
  readonly #dirty: Holding[] = [];
  /** Totals summed at the last read; null after any change (summing per quote would cost more than per read). */
  #totals: { readonly marketValue: Decimal; readonly unrealizedPnl: Decimal } | null = null;
  #unmarked = 0;

  /** Adds a holding or replaces its position (after a fill), re-valued at its current mark. */
  upsert(
    key: string,
    position: Position,
    mark: Mark | null = null,
    markedAt: number | null = null,
  ): void {
    const existing = this.#byKey.get(key);
    if (existing !== undefined && existing.position.symbol !== position.symbol) this.remove(key);
    const holding = this.#byKey.get(key);
    if (holding === undefined) {
      const created: Holding = {
        key,
        position,
        mark: null,
        markedAt: null,
        marketValue: null,
        unrealizedPnl: null,
        dirty: false,
      };
      this.#byKey.set(key, created);
      const list = this.#bySymbol.get(position.symbol);
      if (list === undefined) this.#bySymbol.set(position.symbol, [created]);
      else list.push(created);
      this.#unmarked += 1;
      this.#revalue(created, mark, markedAt);
      return;
    }
    holding.position = position;
    this.#revalue(holding, mark ?? holding.mark, markedAt ?? holding.markedAt);
  }

  /** Removes a holding (its position closed); its figures leave the totals. */
  remove(key: string): boolean {
    const holding = this.#byKey.get(key);
    if (holding === undefined) return false;
    this.#totals = null;
    if (holding.mark === null) this.#unmarked -= 1;
    this.#byKey.delete(key);
    const list = this.#bySymbol.get(holding.position.symbol);
    if (list !== undefined) {
      const i = list.indexOf(holding);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#bySymbol.delete(holding.position.symbol);
    }
    holding.dirty = false;
    return true;
  }

  /**
   * Applies a quote to every holding of its symbol. A quote older than a holding's mark (out of
   * order on the wire) or with no usable price changes nothing; so does a quote whose mark equals
   * the current one.
   */
  applyQuote(symbol: string, quote: QuoteFigures, at: number): QuoteApplied {
    const list = this.#bySymbol.get(symbol);
    if (list === undefined) return { remarked: 0 };
    const mark = markOf(quote);
    if (mark === null) return { remarked: 0 };
    let remarked = 0;
    for (const holding of list) {
      if (holding.markedAt !== null && at < holding.markedAt) continue;
      if (holding.mark?.price.eq(mark.price)) {
        holding.markedAt = at;
        continue;
      }
      this.#revalue(holding, mark, at);
      remarked += 1;
    }
    return { remarked };
  }

  /** The holding under a key, or null. */
  get(key: string): MarkedPosition | null {
    const holding = this.#byKey.get(key);
    return holding === undefined ? null : view(holding);
  }

  /** The current mark of a symbol (from any of its holdings), or null. */
  markOfSymbol(symbol: string): Mark | null {
    return this.#bySymbol.get(symbol)?.[0]?.mark ?? null;
  }

  /** Symbols held, for a quote subscription or a poll. */
  symbols(): string[] {
    return [...this.#bySymbol.keys()];
  }

  /** Number of holdings. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Totals over the marked holdings, and how many have no mark yet. */
  totals(): { marketValue: Decimal; unrealizedPnl: Decimal; unmarked: number } {
    return {
      ...this.#sumTotals(),
      unmarked: this.#unmarked,
    };
  }

  /** Holdings re-marked since the last call, each once, for a batched write; the list is emptied. */
  takeChanged(): MarkedPosition[] {
    const changed: MarkedPosition[] = [];
    for (const holding of this.#dirty) {
      if (!holding.dirty) continue;
      holding.dirty = false;
      changed.push(view(holding));
    }
    this.#dirty.length = 0;
    return changed;
  }

  #sumTotals(): { readonly marketValue: Decimal; readonly unrealizedPnl: Decimal } {
    if (this.#totals !== null) return this.#totals;
    let value = ZERO;
    let pnl = ZERO;
    for (const holding of this.#byKey.values()) {
      if (holding.marketValue !== null) value = value.plus(holding.marketValue);
      if (holding.unrealizedPnl !== null) pnl = pnl.plus(holding.unrealizedPnl);
    }
    this.#totals = { marketValue: value, unrealizedPnl: pnl };
    return this.#totals;
  }

  #revalue(holding: Holding, mark: Mark | null, markedAt: number | null): void {
    this.#totals = null;
    if (holding.mark === null && mark !== null) this.#unmarked -= 1;
    holding.mark = mark;
    holding.markedAt = markedAt;
    if (mark === null) {
      holding.marketValue = null;
      holding.unrealizedPnl = null;
    } else {
      const value = marketValue(holding.position, mark.price);
      // Unrealized P&L is market value minus cost (domain `unrealizedPnl`), reusing the product.
      const open = value.minus(holding.position.costBasis);
      holding.marketValue = value;
      holding.unrealizedPnl = open;
    }
    if (mark !== null && !holding.dirty) {
      holding.dirty = true;
      this.#dirty.push(holding);
    }
  }
}

function view(holding: Holding): MarkedPosition {
  return {
    key: holding.key,
    position: holding.position,
    mark: holding.mark,
    markedAt: holding.markedAt,
    marketValue: holding.marketValue,
    unrealizedPnl: holding.unrealizedPnl,
  };
}
