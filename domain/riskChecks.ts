import { isMarketOpen, type TradingCalendar } from "./calendar";
import { Decimal, HUNDRED, ONE, ZERO } from "./money";
import type { OrderRole, OrderSide, OrderType } from "./order";
import type { RiskLimits } from "./riskLimits";
import { isOnTick } from "./tick";
import { perShareRisk, rewardToRisk } from "./tradePlan";
import { allowsOrder, type TradingState } from "./tradingState";

/**
 * An order asking to be sent, as the pre-trade checks see it (not yet a stored Order).
 * Field names follow `Order` in order.ts.
 */
export interface ProposedOrder {
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly quantity: Decimal;
  /** Limit price of a limit or stop_limit order. */
  readonly limitPrice?: Decimal | null;
  /** Trigger price of a stop or stop_limit order. */
  readonly stopPrice?: Decimal | null;
  /** The protective stop of an entry (a bracket's stop-loss leg, or the stop placed on fill). */
  readonly stopLossPrice?: Decimal | null;
  /** The target of an entry (a bracket's take-profit leg). */
  readonly takeProfitPrice?: Decimal | null;
  /** Extended-hours limit order: exempt from the regular-session check. */
  readonly extendedHours?: boolean;
  /**
   * The entry of a new trade: never taken as reducing a position, and refused against a position
   * on the other side (OPPOSITE_POSITION). The broker keeps one position per symbol, so such an
   * entry would close that position instead of opening the trade, and the trade's exits would
   * then trade a position that is not there.
   */
  readonly opensTrade?: boolean;
}

/** A position as the broker reports it. */
export interface PositionView {
  readonly symbol: string;
  /** Signed: negative for a short. */
  readonly quantity: Decimal;
  /** Signed like the broker's `market_value` (negative for a short); only its size is used. */
  readonly marketValue: Decimal;
}

/** An order resting at the broker (fields as in `Order`, with what is left to fill). */
export interface WorkingOrderView {
  readonly symbol: string;
  readonly side: OrderSide;
  readonly role: OrderRole;
  readonly remainingQuantity: Decimal;
  readonly limitPrice: Decimal | null;
  readonly stopPrice: Decimal | null;
}

/** An order submitted recently (any outcome), for the duplicate and rate checks. */
export interface RecentOrder {
  readonly symbol: string;
  readonly side: OrderSide;
  readonly quantity: Decimal;
  readonly limitPrice: Decimal | null;
  readonly stopPrice: Decimal | null;
  /** When it was submitted, epoch ms. */
  readonly submittedAt: number;
}

/** The latest quote and trade; zero or absent prices count as missing (the broker sends 0). */
export interface QuoteView {
  readonly bid?: Decimal | null;
  readonly ask?: Decimal | null;
  readonly last?: Decimal | null;
}

/** The broker's flags for an asset. */
export interface AssetFlags {
  readonly tradable: boolean;
  readonly shortable: boolean;
  readonly fractionable: boolean;
}

/** Whether the regular session is open: from the calendar at `now`, or as the broker's clock said. */
export type MarketHours = { readonly calendar: TradingCalendar } | { readonly open: boolean };

/** Everything the checks look at besides the order, loaded fresh before each decision. */
export interface AccountSnapshot {
  readonly equity: Decimal;
  readonly buyingPower: Decimal;
  /** The account may sell short (Alpaca `shorting_enabled`); absent means yes. */
  readonly shortingEnabled?: boolean;
  /** The broker blocks all trading on the account (Alpaca `trading_blocked`). */
  readonly tradingBlocked?: boolean;
  readonly positions: readonly PositionView[];
  readonly workingOrders: readonly WorkingOrderView[];
  readonly recentOrders: readonly RecentOrder[];
  readonly quotes: ReadonlyMap<string, QuoteView>;
  readonly assets: ReadonlyMap<string, AssetFlags>;
  /** Symbol to sector; a symbol not listed is in the sector "UNKNOWN". */
  readonly sectors: ReadonlyMap<string, string>;
  readonly market: MarketHours;
}

/** Sector of symbols missing from the sector map: they count together, never as unlimited. */
export const UNKNOWN_SECTOR = "UNKNOWN";

/** A snapshot with its maps and totals built once, for checking many orders against it. */
export interface PreparedSnapshot {
  readonly kind: "prepared";
  readonly snapshot: AccountSnapshot;
  readonly positionBySymbol: ReadonlyMap<string, PositionView>;
  /** Size of each symbol's position plus its working entries, in dollars. */
  readonly exposureBySymbol: ReadonlyMap<string, Decimal>;
  /** Notional of working entries per symbol, in dollars. */
  readonly pendingEntryBySymbol: ReadonlyMap<string, Decimal>;
  readonly exposureBySector: ReadonlyMap<string, Decimal>;
  /** Gross exposure: sizes of all positions plus all working entries. */
  readonly totalExposure: Decimal;
  /**
   * Working entries with no price to count them at (no limit or stop, no quote for their symbol):
   * left out of the exposure totals, so opening orders are refused while there are any.
   */
  readonly unpricedEntries: readonly WorkingOrderView[];
  /** Symbols held or being entered: what counts toward max open positions. */
  readonly heldSymbols: ReadonlySet<string>;
  /** Submission times per order content, ascending. */
  readonly submissionsByContent: ReadonlyMap<string, readonly number[]>;
  /** All submission times, ascending. */
  readonly submissionTimes: readonly number[];
  /** Dollar limits per limits object, computed on first use. */
  readonly limitAmounts: WeakMap<RiskLimits, LimitAmounts>;
}

interface LimitAmounts {
  readonly riskPerTrade: Decimal;
  readonly maxPosition: Decimal;
  readonly maxTotalExposure: Decimal;
  readonly maxSectorExposure: Decimal;
  readonly collarFraction: Decimal;
  readonly slippageFactor: Decimal;
}

/** Stable codes of the pre-trade rules. */
export const RISK_CHECK_CODES = [
  "TRADING_HALTED",
  "REDUCE_ONLY",
  "MARKET_CLOSED",
  "NOT_TRADABLE",
  "INVALID_QUANTITY",
  "INVALID_PRICE",
  "NO_QUOTE",
  "PRICE_COLLAR",
  "OFF_TICK",
  "STOP_WRONG_SIDE",
  "TARGET_WRONG_SIDE",
  "MISSING_STOP",
  "RISK_PER_TRADE",
  "BELOW_MIN_REWARD_TO_RISK",
  "MAX_POSITION_SIZE",
  "MAX_OPEN_POSITIONS",
  "MAX_TOTAL_EXPOSURE",
  "MAX_SECTOR_EXPOSURE",
  "UNPRICED_WORKING_ENTRY",
  "BUYING_POWER",
  "NOT_SHORTABLE",
  "OPPOSITE_POSITION",
  "DUPLICATE_ORDER",
  "ORDER_RATE",
] as const;
export type RiskCheckCode = (typeof RISK_CHECK_CODES)[number];

/** One broken rule: a stable code and a sentence for the trader. */
export interface RiskViolation {
  readonly code: RiskCheckCode;
  readonly message: string;
}

/** The verdict: the order may go, or every rule it breaks. */
export type RiskCheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly violations: readonly RiskViolation[] };

const RATE_WINDOW_MS = 60_000;
const OPENING_ROLES: ReadonlySet<OrderRole> = new Set<OrderRole>(["ENTRY", "SLICE"]);
const TWO = new Decimal(2);

function positive(price: Decimal | null | undefined): Decimal | null {
  return price?.gt(ZERO) ? price : null;
}

/** The price a market order on this side is expected to fill at: the ask to buy, the bid to sell. */
function quoteForSide(quote: QuoteView | undefined, side: OrderSide): Decimal | null {
  if (quote === undefined) return null;
  const near = side === "buy" ? positive(quote.ask) : positive(quote.bid);
  const far = side === "buy" ? positive(quote.bid) : positive(quote.ask);
  return near ?? positive(quote.last) ?? far;
}

/** The mark: mid of bid and ask, else the side that exists, else the last trade. */
function markPrice(quote: QuoteView | undefined): Decimal | null {
  if (quote === undefined) return null;
  const bid = positive(quote.bid);
  const ask = positive(quote.ask);
  if (bid !== null && ask !== null) return bid.plus(ask).div(TWO);
  return ask ?? bid ?? positive(quote.last);
}

function contentKey(
  symbol: string,
  side: OrderSide,
  quantity: Decimal,
  limitPrice: Decimal | null | undefined,
  stopPrice: Decimal | null | undefined,
): string {
  return `${symbol}|${side}|${quantity.toString()}|${limitPrice?.toString() ?? "-"}|${stopPrice?.toString() ?? "-"}`;
}

function addTo(map: Map<string, Decimal>, key: string, amount: Decimal): void {
  map.set(key, (map.get(key) ?? ZERO).plus(amount));
}

/**
 * Builds the per-snapshot maps and totals once (positions by symbol, exposure by symbol and
 * sector, held symbols, submission times), so each `checkOrder` against the same snapshot only
 * does the work of its own order. Working entries count at their limit (or stop) price, or the
 * quote when they have none; those with neither are listed apart (`unpricedEntries`). Working
 * exits (stops, targets) add no exposure.
 */
export function prepareSnapshot(snapshot: AccountSnapshot): PreparedSnapshot {
  const positionBySymbol = new Map<string, PositionView>();
  const exposureBySymbol = new Map<string, Decimal>();
  const pendingEntryBySymbol = new Map<string, Decimal>();
  const exposureBySector = new Map<string, Decimal>();
  const heldSymbols = new Set<string>();
  const unpricedEntries: WorkingOrderView[] = [];
  let totalExposure = ZERO;
  const sectorOf = (symbol: string) => snapshot.sectors.get(symbol) ?? UNKNOWN_SECTOR;

  for (const p of snapshot.positions) {
    if (p.quantity.isZero()) continue;
    positionBySymbol.set(p.symbol, p);
    heldSymbols.add(p.symbol);
    const size = p.marketValue.abs();
    addTo(exposureBySymbol, p.symbol, size);
    addTo(exposureBySector, sectorOf(p.symbol), size);
    totalExposure = totalExposure.plus(size);
  }
  for (const o of snapshot.workingOrders) {
    if (!OPENING_ROLES.has(o.role) || !o.remainingQuantity.gt(ZERO)) continue;
    const price =
      positive(o.limitPrice) ??
      positive(o.stopPrice) ??
      quoteForSide(snapshot.quotes.get(o.symbol), o.side);
    heldSymbols.add(o.symbol);
    if (price === null) {
      unpricedEntries.push(o);
      continue;
    }
    const notional = o.remainingQuantity.times(price);
    addTo(pendingEntryBySymbol, o.symbol, notional);
    addTo(exposureBySymbol, o.symbol, notional);
    addTo(exposureBySector, sectorOf(o.symbol), notional);
    totalExposure = totalExposure.plus(notional);
  }

  const byContent = new Map<string, number[]>();
  const submissionTimes: number[] = [];
  for (const r of snapshot.recentOrders) {
    const key = contentKey(r.symbol, r.side, r.quantity, r.limitPrice, r.stopPrice);
    const times = byContent.get(key);
    if (times === undefined) byContent.set(key, [r.submittedAt]);
    else times.push(r.submittedAt);
    submissionTimes.push(r.submittedAt);
  }
  const ascending = (a: number, b: number) => a - b;
  for (const times of byContent.values()) times.sort(ascending);
  submissionTimes.sort(ascending);

  return {
    kind: "prepared",
    snapshot,
    positionBySymbol,
    exposureBySymbol,
    pendingEntryBySymbol,
    exposureBySector,
    totalExposure,
    unpricedEntries,
    heldSymbols,
    submissionsByContent: byContent,
    submissionTimes,
    limitAmounts: new WeakMap(),
  };
}

function limitAmountsFor(prepared: PreparedSnapshot, limits: RiskLimits): LimitAmounts {
  const cached = prepared.limitAmounts.get(limits);
  if (cached !== undefined) return cached;
  const equity = prepared.snapshot.equity.gt(ZERO) ? prepared.snapshot.equity : ZERO;
  const ofEquity = (percent: Decimal) => equity.times(percent).div(HUNDRED);
  const amounts: LimitAmounts = {
    riskPerTrade: ofEquity(limits.riskPerTradePercent),
    maxPosition: ofEquity(limits.maxPositionPercent),
    maxTotalExposure: ofEquity(limits.maxTotalExposurePercent),
    maxSectorExposure: ofEquity(limits.maxSectorExposurePercent),
    collarFraction: limits.priceCollarPercent.div(HUNDRED),
    slippageFactor: ONE.plus(limits.maxSlippagePercent.div(HUNDRED)),
  };
  prepared.limitAmounts.set(limits, amounts);
  return amounts;
}

/** Index of the first time greater than `t` in an ascending list. */
function firstAfter(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] ?? Number.POSITIVE_INFINITY) > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** How many times fall in (from, to]. */
function countBetween(times: readonly number[], from: number, to: number): number {
  return firstAfter(times, to) - firstAfter(times, from);
}

function money(amount: Decimal): string {
  const [whole = "0", cents = "00"] = amount.abs().toFixed(2, Decimal.ROUND_HALF_UP).split(".");
  return `${amount.isNegative() ? "-" : ""}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${cents}`;
}

function price(p: Decimal): string {
  return `$${p.toFixed(Math.max(2, p.decimalPlaces()))}`;
}

function percentText(p: Decimal): string {
  return `${p.toString()}%`;
}

function ofEquityText(amount: Decimal, percent: Decimal, equity: Decimal): string {
  return `${money(amount)}, ${percentText(percent)} of ${money(equity)} equity`;
}

/**
 * Whether an order only shrinks an existing position: a sell of at most a long's size or a buy of
 * at most a short's size. An order that closes and then reverses a position is not reducing.
 */
export function reducesPosition(
  order: Pick<ProposedOrder, "side" | "quantity">,
  position: Pick<PositionView, "quantity"> | undefined,
): boolean {
  if (position === undefined || position.quantity.isZero()) return false;
  const long = position.quantity.gt(ZERO);
  if ((order.side === "sell") !== long) return false;
  return order.quantity.lte(position.quantity.abs());
}

/**
 * The pre-trade risk checks: returns `{ ok: true }` or every rule the order breaks, each with a
 * stable code and a sentence for the trader. A pure function of its arguments; `now` is epoch ms.
 *
 * Rules: trading state (TRADING_HALTED, REDUCE_ONLY), market hours (MARKET_CLOSED, unless
 * extended hours), tradability (NOT_TRADABLE), quantity (INVALID_QUANTITY: not positive, more
 * than 9 decimals, or fractional on an asset that is not fractionable), prices (INVALID_PRICE:
 * a required price missing or not positive; OFF_TICK), the price against the quote (NO_QUOTE,
 * PRICE_COLLAR, within `priceCollarPercent` of the mark, inclusive), stop and target sides
 * (STOP_WRONG_SIDE also for a stop trigger on the wrong side of the market, and for the stop loss
 * of a market or limit entry that the market has already crossed; TARGET_WRONG_SIDE),
 * risk (MISSING_STOP, RISK_PER_TRADE, BELOW_MIN_REWARD_TO_RISK only when a target is given),
 * size and exposure (MAX_POSITION_SIZE, MAX_OPEN_POSITIONS, MAX_TOTAL_EXPOSURE,
 * MAX_SECTOR_EXPOSURE, UNPRICED_WORKING_ENTRY, BUYING_POWER, NOT_SHORTABLE), a trade entry
 * against a position on the other side (OPPOSITE_POSITION), and flow
 * (DUPLICATE_ORDER: same symbol, side, quantity and prices submitted less than
 * `duplicateWindowMs` ago; ORDER_RATE: already `maxOrdersPerMinute` orders in the last 60 s, for
 * opening orders only).
 *
 * Every limit is inclusive: an order exactly at a limit passes. Orders that only reduce a
 * position skip the risk, size, exposure, position-count, buying-power and shortability rules,
 * and also MARKET_CLOSED and NO_QUOTE, so a protective exit can always be placed; they keep the
 * trading-state, tradability, price, collar (when there is a quote) and duplicate rules.
 * With an invalid quantity or price, the rules that would compute with it are skipped.
 * Exposure is gross notional: position sizes at market value plus working entries; an order
 * counts at its limit or stop price, or at the quote (ask to buy, bid to sell) when it has
 * none, and such orders are checked against buying power with `maxSlippagePercent` added. A
 * working entry with no price at all refuses every opening order (UNPRICED_WORKING_ENTRY).
 * Pass a `prepareSnapshot` result to check many orders against one snapshot quickly.
 */
export function checkOrder(
  order: ProposedOrder,
  snapshotOrPrepared: AccountSnapshot | PreparedSnapshot,
  limits: RiskLimits,
  tradingState: Pick<TradingState, "mode" | "reason">,
  now: number,
): RiskCheckResult {
  const prepared =
    "kind" in snapshotOrPrepared ? snapshotOrPrepared : prepareSnapshot(snapshotOrPrepared);
  const snapshot = prepared.snapshot;
  const amounts = limitAmountsFor(prepared, limits);
  const violations: RiskViolation[] = [];
  const fail = (code: RiskCheckCode, message: string) => violations.push({ code, message });

  const { symbol, side, type, quantity } = order;
  const position = prepared.positionBySymbol.get(symbol);
  const quote = snapshot.quotes.get(symbol);
  const asset = snapshot.assets.get(symbol);
  const quantityValid =
    quantity.isFinite() &&
    quantity.gt(ZERO) &&
    quantity.decimalPlaces() <= 9 &&
    (quantity.isInteger() || asset?.fractionable === true);
  const reducing = quantityValid && order.opensTrade !== true && reducesPosition(order, position);

  // Trading state.
  if (!allowsOrder(tradingState.mode, { reducesPosition: reducing, isCancel: false })) {
    if (tradingState.mode === "HALTED") {
      fail(
        "TRADING_HALTED",
        `Trading is halted (${tradingState.reason}): only orders that reduce a position are accepted.`,
      );
    } else {
      fail(
        "REDUCE_ONLY",
        `The account is reduce-only (${tradingState.reason}): only orders that reduce a position are accepted.`,
      );
    }
  }

  if (order.opensTrade === true && position !== undefined && !position.quantity.isZero()) {
    const long = position.quantity.gt(ZERO);
    if ((side === "sell") === long) {
      fail(
        "OPPOSITE_POSITION",
        `You hold a ${long ? "long" : "short"} of ${position.quantity.abs().toFixed()} ${symbol}, and the broker keeps one position per symbol: close it first (/close ${symbol}), then open the ${long ? "short" : "long"}.`,
      );
    }
  }

  // Market hours.
  const open =
    "calendar" in snapshot.market
      ? isMarketOpen(snapshot.market.calendar, now)
      : snapshot.market.open;
  // Exits stay placeable at any hour (the broker queues them for the open): a position adopted
  // or filled late must get its stop even when the session is over.
  if (!open && order.extendedHours !== true && !reducing) {
    fail(
      "MARKET_CLOSED",
      "The market is closed: the order can be sent during the regular session.",
    );
  }

  // Tradability.
  if (snapshot.tradingBlocked === true) {
    fail("NOT_TRADABLE", "The broker has blocked trading on this account.");
  } else if (asset === undefined) {
    fail("NOT_TRADABLE", `${symbol} is not an asset the broker knows.`);
  } else if (!asset.tradable) {
    fail("NOT_TRADABLE", `${symbol} is not tradable at the broker.`);
  }

  checkFlow(fail, prepared, order, limits, now, reducing);

  // Quantity.
  if (!quantityValid) {
    const fractionalRefused =
      quantity.isFinite() &&
      quantity.gt(ZERO) &&
      !quantity.isInteger() &&
      asset?.fractionable !== true;
    fail(
      "INVALID_QUANTITY",
      fractionalRefused
        ? `${symbol} cannot be traded in fractions: use whole shares (got ${quantity.toString()}).`
        : `The quantity must be a positive number of shares with at most 9 decimals (got ${quantity.toString()}).`,
    );
  }

  // Prices: what the order asks, and the price it is expected to trade at.
  const needsLimit = type === "limit" || type === "stop_limit";
  const needsStop = type === "stop" || type === "stop_limit";
  let pricesValid = true;
  const requirePrice = (p: Decimal | null | undefined, needed: boolean, name: string) => {
    if (p === null || p === undefined) {
      if (needed) {
        pricesValid = false;
        fail("INVALID_PRICE", `A ${type} order needs a ${name}.`);
      }
      return;
    }
    if (!p.isFinite() || !p.gt(ZERO)) {
      pricesValid = false;
      fail("INVALID_PRICE", `The ${name} must be a price above zero (got ${p.toString()}).`);
    }
  };
  requirePrice(order.limitPrice, needsLimit, "limit price");
  requirePrice(order.stopPrice, needsStop, "stop price");
  requirePrice(order.stopLossPrice, false, "stop loss");
  requirePrice(order.takeProfitPrice, false, "take profit");
  if (!pricesValid) return verdict(violations);

  const limitPrice = needsLimit ? (order.limitPrice ?? null) : null;
  const stopPrice = needsStop ? (order.stopPrice ?? null) : null;
  const mark = markPrice(quote);
  const orderPrice = limitPrice ?? stopPrice;
  const entry = orderPrice ?? quoteForSide(quote, side);

  // Tick size.
  const offTick: string[] = [];
  const tickCheck = (p: Decimal | null | undefined, name: string) => {
    if (p !== null && p !== undefined && !isOnTick(p)) offTick.push(`${name} ${price(p)}`);
  };
  tickCheck(limitPrice, "limit");
  tickCheck(stopPrice, "stop");
  tickCheck(order.stopLossPrice, "stop loss");
  tickCheck(order.takeProfitPrice, "take profit");
  if (offTick.length > 0) {
    fail(
      "OFF_TICK",
      `Not on the broker's price grid (whole cents at or above $1, at most 4 decimals below): ${offTick.join(", ")}.`,
    );
  }

  // Price against the market.
  if (mark === null) {
    if (!reducing) {
      fail(
        "NO_QUOTE",
        `There is no quote for ${symbol}: the price cannot be checked against the market.`,
      );
    }
  } else {
    const band = mark.times(amounts.collarFraction);
    for (const [p, name] of [
      [limitPrice, "limit"],
      [stopPrice, "stop"],
    ] as const) {
      if (p?.minus(mark).abs().gt(band)) {
        fail(
          "PRICE_COLLAR",
          `The ${name} price ${price(p)} is more than ${percentText(limits.priceCollarPercent)} from the market (${price(mark)}).`,
        );
      }
    }
    if (stopPrice !== null) {
      const wrong = side === "buy" ? stopPrice.lte(mark) : stopPrice.gte(mark);
      if (wrong) {
        fail(
          "STOP_WRONG_SIDE",
          `A ${side} stop must trigger ${side === "buy" ? "above" : "below"} the market (${price(mark)}), not at ${price(stopPrice)}.`,
        );
      }
    }
  }

  if (!quantityValid || reducing) return verdict(violations);

  // From here on: orders that open or add to exposure.
  const direction = side === "buy" ? "long" : "short";
  const closing = position !== undefined && (side === "sell") === position.quantity.gt(ZERO);
  const openingQuantity = closing ? quantity.minus(position.quantity.abs()) : quantity;
  if (side === "sell" && !quantity.isInteger()) {
    fail(
      "INVALID_QUANTITY",
      "Short sales are in whole shares: the broker does not sell fractions short.",
    );
  }

  // Stop, target and risk.
  const stopLoss = order.stopLossPrice ?? null;
  const target = order.takeProfitPrice ?? null;
  let stopSound = false;
  if (stopLoss === null) {
    fail(
      "MISSING_STOP",
      "An order that opens a position needs a stop loss: its risk cannot be bounded without one.",
    );
  } else if (entry !== null) {
    if (side === "buy" ? stopLoss.gte(entry) : stopLoss.lte(entry)) {
      fail(
        "STOP_WRONG_SIDE",
        `For a ${direction} entry the stop loss (${price(stopLoss)}) must be ${side === "buy" ? "below" : "above"} the entry (${price(entry)}).`,
      );
    } else if (
      !needsStop &&
      mark !== null &&
      (side === "buy" ? stopLoss.gte(mark) : stopLoss.lte(mark))
    ) {
      // A market or limit entry fills at the market when it is through the limit (a stale
      // alert's setup after the price fell through its stop): the stop would fire at once.
      fail(
        "STOP_WRONG_SIDE",
        `The stop loss (${price(stopLoss)}) is at or ${side === "buy" ? "above" : "below"} the market (${price(mark)}): it would ${side === "buy" ? "sell" : "buy back"} as soon as the entry fills. Move the stop ${side === "buy" ? "below" : "above"} the market, or let the trade go.`,
      );
    } else {
      stopSound = true;
      const risk = openingQuantity.times(perShareRisk(entry, stopLoss));
      if (risk.gt(amounts.riskPerTrade)) {
        fail(
          "RISK_PER_TRADE",
          `The trade risks ${money(risk)}, above the per-trade limit of ${ofEquityText(amounts.riskPerTrade, limits.riskPerTradePercent, snapshot.equity)}.`,
        );
      }
    }
  }
  if (target !== null && entry !== null) {
    if (side === "buy" ? target.lte(entry) : target.gte(entry)) {
      fail(
        "TARGET_WRONG_SIDE",
        `For a ${direction} entry the target (${price(target)}) must be ${side === "buy" ? "above" : "below"} the entry (${price(entry)}).`,
      );
    } else if (stopSound && stopLoss !== null) {
      const ratio = rewardToRisk(entry, stopLoss, target);
      if (ratio?.lt(limits.minRewardToRisk)) {
        fail(
          "BELOW_MIN_REWARD_TO_RISK",
          `The reward:risk is ${ratio.toFixed(2)}, below the minimum of ${limits.minRewardToRisk.toString()}.`,
        );
      }
    }
  }

  // A working entry without a price would count as nothing toward every exposure limit. Rather
  // than guess its price, refuse new exposure until it fills or is cancelled: the books price
  // every entry the desk records (limit, stop or planned entry), so this is an entry the desk
  // cannot account for, and the trader is the one to decide about it.
  if (prepared.unpricedEntries.length > 0) {
    const unpriced = prepared.unpricedEntries
      .map((o) => `${o.side} ${o.remainingQuantity.toString()} ${o.symbol}`)
      .join(", ");
    fail(
      "UNPRICED_WORKING_ENTRY",
      `A working entry has no known price (${unpriced}), so the account's exposure cannot be checked: wait for it to fill or cancel it, then try again.`,
    );
  }

  // Size and exposure.
  if (entry !== null) {
    const positionSize = position === undefined ? ZERO : position.marketValue.abs();
    const openingNotional = openingQuantity.times(entry);
    const positionAfter = closing ? openingNotional : positionSize.plus(openingNotional);
    const increase = positionAfter.minus(positionSize);
    const symbolAfter = (prepared.pendingEntryBySymbol.get(symbol) ?? ZERO).plus(positionAfter);
    if (symbolAfter.gt(amounts.maxPosition)) {
      fail(
        "MAX_POSITION_SIZE",
        `${symbol} would be ${money(symbolAfter)}, above the position limit of ${ofEquityText(amounts.maxPosition, limits.maxPositionPercent, snapshot.equity)}.`,
      );
    }
    const totalAfter = prepared.totalExposure.plus(increase);
    if (totalAfter.gt(amounts.maxTotalExposure)) {
      fail(
        "MAX_TOTAL_EXPOSURE",
        `Total exposure would be ${money(totalAfter)}, above the limit of ${ofEquityText(amounts.maxTotalExposure, limits.maxTotalExposurePercent, snapshot.equity)}.`,
      );
    }
    const sector = snapshot.sectors.get(symbol) ?? UNKNOWN_SECTOR;
    const sectorAfter = (prepared.exposureBySector.get(sector) ?? ZERO).plus(increase);
    if (sectorAfter.gt(amounts.maxSectorExposure)) {
      fail(
        "MAX_SECTOR_EXPOSURE",
        `Sector ${sector} would be ${money(sectorAfter)}, above the sector limit of ${ofEquityText(amounts.maxSectorExposure, limits.maxSectorExposurePercent, snapshot.equity)}.`,
      );
    }
    const cost =
      orderPrice === null ? openingNotional.times(amounts.slippageFactor) : openingNotional;
    if (cost.gt(snapshot.buyingPower)) {
      fail(
        "BUYING_POWER",
        `The order needs ${money(cost)} of buying power${orderPrice === null ? ` (quote plus ${percentText(limits.maxSlippagePercent)} slippage)` : ""}; the account has ${money(snapshot.buyingPower)}.`,
      );
    }
  }
  if (!prepared.heldSymbols.has(symbol) && prepared.heldSymbols.size >= limits.maxOpenPositions) {
    fail(
      "MAX_OPEN_POSITIONS",
      `${prepared.heldSymbols.size} positions are open or being entered; the limit is ${limits.maxOpenPositions}.`,
    );
  }
  if (side === "sell" && openingQuantity.gt(ZERO)) {
    if (snapshot.shortingEnabled === false) {
      fail("NOT_SHORTABLE", "Short selling is not enabled on this account.");
    } else if (asset !== undefined && !asset.shortable) {
      fail("NOT_SHORTABLE", `${symbol} cannot be sold short at the broker.`);
    }
  }

  return verdict(violations);
}

/**
 * The flow rules: the same order sent moments ago (every order), and the order rate (opening
 * orders only: the rate rule stops a runaway entry loop, and must never keep a position from
 * getting its stop or being closed).
 */
function checkFlow(
  fail: (code: RiskCheckCode, message: string) => void,
  prepared: PreparedSnapshot,
  order: ProposedOrder,
  limits: RiskLimits,
  now: number,
  reducing: boolean,
): void {
  const key = contentKey(
    order.symbol,
    order.side,
    order.quantity,
    order.limitPrice,
    order.stopPrice,
  );
  const same = prepared.submissionsByContent.get(key);
  if (same !== undefined && countBetween(same, now - limits.duplicateWindowMs, now) > 0) {
    fail(
      "DUPLICATE_ORDER",
      `The same ${order.side} of ${order.quantity.toString()} ${order.symbol} was sent less than ${Math.round(limits.duplicateWindowMs / 1000)} s ago.`,
    );
  }
  if (reducing) return;
  const lastMinute = countBetween(prepared.submissionTimes, now - RATE_WINDOW_MS, now);
  if (lastMinute >= limits.maxOrdersPerMinute) {
    fail(
      "ORDER_RATE",
      `${lastMinute} orders were sent in the last minute; the limit is ${limits.maxOrdersPerMinute}.`,
    );
  }
}

function verdict(violations: readonly RiskViolation[]): RiskCheckResult {
  return violations.length === 0 ? { ok: true } : { ok: false, violations };
}
