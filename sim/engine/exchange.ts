import {
  type AccountState,
  accountFigures,
  accountJson,
  buyingPower,
  positionJson,
} from "./account";
import { type Asset, DEFAULT_SYMBOLS, makeAsset } from "./assets";
import { isOpen, isPendingRequest, OrderBook, remainingQty } from "./book";
import {
  currentSession,
  formatNewYork,
  isExtendedHours,
  newYorkParts,
  nextSessionClosingAfter,
  nextSessionOpeningAfter,
  type Session,
  sessionsBetween,
  settlementDate,
} from "./calendar";
import { type CashActivity, type CashActivityType, cashActivityId } from "./cashActivities";
import { Dec, fmt, ZERO } from "./decimal";
import { MarketData } from "./marketData";
import { decide, type MatchPhase } from "./matching";
import { orderJson } from "./orderView";
import { positionAfter } from "./positions";
import type { ReplayFeed } from "./replay";
import type { Position, SimOrder, TradeEvent, TradeUpdate } from "./types";

export interface ExchangeDeps {
  /** The simulated clock. */
  now: () => Date;
  /** Fresh UUIDs for orders, executions and the account. */
  newId: () => string;
}

export interface ExchangeSetup {
  cash?: string;
  multiplier?: string;
  shortingEnabled?: boolean;
  symbols?: Record<string, { price: string }>;
}

type Boundary = { t: Date; kind: "preOpen" | "open" | "close" | "postClose"; session: Session };

/**
 * The paper exchange: one account, its positions and orders, matched against the simulator's
 * quotes on a simulated clock. Transport-free: HTTP and the stream call into it.
 */
export class Exchange {
  readonly book = new OrderBook();
  readonly market = new MarketData();
  readonly positions = new Map<string, Position>();
  readonly assets = new Map<string, Asset>();
  account: AccountState;
  /** Shares available per execution, per symbol ("*" for every symbol); absent = unlimited. */
  readonly liquidity = new Map<string, Dec>();
  /** Each symbol's price at the last close (the seed price before the first close). */
  readonly prevClose = new Map<string, Dec>();
  /** Forces the market open or closed regardless of the calendar; null follows the calendar. */
  marketOverride: "open" | "closed" | null = null;
  replay: ReplayFeed | null = null;
  /** How many upcoming orders the venue rejects after acceptance (an injected fault). */
  rejectNext = 0;
  /**
   * Optional events Alpaca sends only sometimes: `pending_new` before `new` when an order is
   * routed, and `done_for_day` before a partially filled day order expires. `holdCancels` keeps
   * cancel requests `pending_cancel` (the order still working) until `releaseCancels`, as a venue
   * slow to confirm them does.
   */
  eventOptions = { pendingNew: false, doneForDay: false, holdCancels: false };
  /** Cash deposited, withdrawn or journalled since the last reset, oldest first. */
  readonly cashActivities: CashActivity[] = [];
  private readonly listeners = new Set<(update: TradeUpdate) => void>();
  /**
   * What each open opening order reserves of buying power (remaining qty x estimated price), by
   * order id, and their sum: kept current by `orderChanged` at every change to an order and by
   * `quoteChanged` for orders priced from the quote, so entry checks read the sum instead of
   * walking every open order. Orders that reserve nothing are absent.
   */
  private readonly reservedByOrder = new Map<string, Dec>();
  private reservedTotal: Dec = ZERO;
  private syncedTo: Date;
  private sessionCache: { at: number; regular: boolean; extended: boolean } | null = null;
  /** The instant being processed while catching up with the clock (boundary or replay tick). */
  private processingAt: Date | null = null;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly baseline: ExchangeSetup = {},
  ) {
    this.syncedTo = deps.now();
    this.account = this.freshAccount(baseline);
    this.reset();
  }

  private freshAccount(setup: ExchangeSetup): AccountState {
    const cash = new Dec(setup.cash ?? "100000");
    return {
      id: this.deps.newId(),
      accountNumber: "PA3SIM000001",
      createdAt: this.deps.now(),
      cash,
      lastEquity: cash,
      lastEquityDate: newYorkParts(this.deps.now()).date,
      multiplier: new Dec(setup.multiplier ?? "1"),
      shortingEnabled: setup.shortingEnabled ?? true,
      tradingBlocked: false,
    };
  }

  /**
   * Empties the account to `cash`, drops orders, positions and quotes, and reseeds prices. What the
   * simulator was started with (cash, symbols) is the default for anything `overrides` leaves out.
   */
  reset(overrides: ExchangeSetup = {}): void {
    const setup: ExchangeSetup = {
      ...this.baseline,
      ...overrides,
      symbols: { ...this.baseline.symbols, ...overrides.symbols },
    };
    this.book.clear();
    this.cashActivities.length = 0;
    this.reservedByOrder.clear();
    this.reservedTotal = ZERO;
    this.positions.clear();
    this.market.clear();
    this.liquidity.clear();
    this.prevClose.clear();
    this.marketOverride = null;
    this.replay = null;
    this.rejectNext = 0;
    this.eventOptions = { pendingNew: false, doneForDay: false, holdCancels: false };
    this.syncedTo = this.deps.now();
    const id = this.account?.id;
    this.account = this.freshAccount(setup);
    if (id) this.account.id = id;
    this.assets.clear();
    const now = this.deps.now();
    for (const [symbol, info] of Object.entries(DEFAULT_SYMBOLS)) {
      this.assets.set(symbol, makeAsset(symbol, info.name, info.exchange));
      this.setPrice(symbol, new Dec(info.price), now);
    }
    for (const [symbol, info] of Object.entries(setup.symbols ?? {})) {
      this.ensureAsset(symbol);
      this.setPrice(symbol, new Dec(info.price), now);
    }
  }

  private setPrice(symbol: string, price: Dec, t: Date): void {
    const spread = new Dec("0.01");
    this.market.setQuote(
      symbol,
      { bid: price.minus(spread), ask: price.plus(spread), last: price },
      t,
    );
    this.quoteChanged(symbol);
    this.prevClose.set(symbol, price);
  }

  ensureAsset(symbol: string): Asset {
    const existing = this.assets.get(symbol);
    if (existing) return existing;
    const asset = makeAsset(symbol);
    this.assets.set(symbol, asset);
    return asset;
  }

  /** The current instant: the one being caught up to, or the clock's. */
  time(): Date {
    return this.processingAt ?? this.deps.now();
  }

  newId(): string {
    return this.deps.newId();
  }

  // ---- stream ------------------------------------------------------------------------------

  onTradeUpdate(listener: (update: TradeUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: TradeEvent, order: SimOrder, execution?: { price: Dec; qty: Dec; id: string }): void {
    const update: TradeUpdate = {
      event,
      order: orderJson(order, this.legsJson(order)),
      timestamp: this.time().toISOString(),
    };
    if (execution) {
      update.execution_id = execution.id;
      update.price = fmt(execution.price);
      update.qty = fmt(execution.qty);
      update.position_qty = fmt(this.positions.get(order.symbol)?.qty ?? ZERO);
    }
    for (const listener of this.listeners) listener(update);
  }

  legsJson(order: SimOrder): SimOrder[] | null {
    return order.legIds.length > 0 ? this.book.legsOf(order) : null;
  }

  // ---- sessions and the clock --------------------------------------------------------------

  isMarketOpen(t: Date = this.time()): boolean {
    if (this.marketOverride) return this.marketOverride === "open";
    return this.sessionState(t).regular;
  }

  /** Whether an order may be routed and execute at the current instant. */
  canTrade(order: SimOrder): boolean {
    const t = this.time();
    if (this.isMarketOpen(t)) return true;
    if (this.marketOverride === "closed") return false;
    return order.extendedHours && this.sessionState(t).extended;
  }

  /** The calendar's answer for one instant, remembered: matching asks it once per order. */
  private sessionState(t: Date): { regular: boolean; extended: boolean } {
    const cached = this.sessionCache;
    if (cached && cached.at === t.getTime()) return cached;
    const state = {
      at: t.getTime(),
      regular: currentSession(t) !== null,
      extended: isExtendedHours(t),
    };
    this.sessionCache = state;
    return state;
  }

  clockJson(): Record<string, unknown> {
    this.sync();
    const t = this.time();
    return {
      timestamp: formatNewYork(t),
      is_open: this.isMarketOpen(t),
      next_open: formatNewYork(nextSessionOpeningAfter(t).open),
      next_close: formatNewYork(nextSessionClosingAfter(t).close),
    };
  }

  calendarJson(start: string, end: string): Record<string, unknown>[] {
    return sessionsBetween(start, end).map((s) => ({
      date: s.date,
      open: s.openHHMM,
      close: s.closeHHMM,
      session_open: "0400",
      session_close: "2000",
      settlement_date: settlementDate(s.date),
    }));
  }

  /**
   * Catches up with the clock: opens and closes every session crossed since the last call (routing
   * queued orders, opening and closing auctions, day-order expiry, last-equity roll) and plays
   * replayed bars, in time order.
   */
  sync(): void {
    const now = this.deps.now();
    if (now <= this.syncedTo) {
      this.syncedTo = now;
      return;
    }
    const from = this.syncedTo;
    const boundaries: Boundary[] = [];
    const firstDate = newYorkParts(from).date;
    const lastDate = newYorkParts(now).date;
    for (const session of sessionsBetween(firstDate, lastDate)) {
      const marks: [Date, Boundary["kind"]][] = [
        [session.preOpen, "preOpen"],
        [session.open, "open"],
        [session.close, "close"],
        [session.postClose, "postClose"],
      ];
      for (const [t, kind] of marks)
        if (t > from && t <= now) boundaries.push({ t, kind, session });
    }
    const ticks = this.replay ? this.replay.due(from, now) : [];
    type Step = { t: Date; run: () => void; rank: number };
    const steps: Step[] = [
      ...boundaries.map((b) => ({ t: b.t, rank: 0, run: () => this.crossBoundary(b) })),
      ...ticks.map((tick) => ({
        t: tick.t,
        rank: 1,
        run: () =>
          this.applyQuote(tick.symbol, {
            bid: tick.price,
            ask: tick.price,
            last: tick.price,
            size: tick.size,
          }),
      })),
    ];
    steps.sort((a, b) => a.t.getTime() - b.t.getTime() || a.rank - b.rank);
    try {
      for (const step of steps) {
        this.processingAt = step.t;
        step.run();
      }
    } finally {
      this.processingAt = null;
    }
    this.syncedTo = now;
  }

  private crossBoundary(b: Boundary): void {
    switch (b.kind) {
      case "preOpen":
        this.routeQueued();
        this.matchAll("continuous");
        break;
      case "open":
        if (this.marketOverride === "closed") return;
        this.routeQueued();
        this.matchAll("open");
        break;
      case "close":
        if (this.marketOverride !== "open") this.closeSession(b.session);
        break;
      case "postClose":
        this.expireOrders((o) => o.timeInForce === "day" && o.extendedHours);
        break;
    }
  }

  /** The closing auction, day-order expiry and the roll of last equity and last-day prices. */
  closeSession(session: Session): void {
    this.matchAll("close");
    this.expireOrders((o) => o.timeInForce === "day" && !o.extendedHours);
    const figures = this.figures();
    this.account.lastEquity = figures.equity;
    this.account.lastEquityDate = session.date;
    for (const p of this.positions.values())
      p.lastdayPrice = this.market.quote(p.symbol)?.last ?? null;
    for (const symbol of this.market.symbols()) {
      const last = this.market.quote(symbol)?.last;
      if (last) this.prevClose.set(symbol, last);
    }
  }

  /** Sends queued (`accepted`) orders to the market once it can take them. */
  routeQueued(): void {
    for (const o of this.book.open()) {
      if (o.status === "accepted" && this.canTrade(o)) this.route(o);
    }
  }

  route(order: SimOrder): void {
    if (this.eventOptions.pendingNew) {
      order.status = "pending_new";
      this.orderChanged(order);
      this.emit("pending_new", order);
    }
    order.status = "new";
    order.updatedAt = this.time();
    this.orderChanged(order);
    this.emit("new", order);
    // An OCO's stop leg rides along with its take-profit: armed, but held at Alpaca.
    for (const leg of this.book.legsOf(order)) {
      if (order.orderClass === "oco") leg.armed = true;
    }
  }

  // ---- prices and matching -----------------------------------------------------------------

  /** Sets a symbol's quote (and last trade) and matches its resting orders against it. */
  applyQuote(
    symbol: string,
    input: { bid: Dec | null; ask: Dec | null; last?: Dec | null; size?: number },
  ): void {
    this.ensureAsset(symbol);
    this.market.setQuote(symbol, input, this.time());
    this.quoteChanged(symbol);
    this.match(symbol, "continuous");
  }

  matchAll(phase: MatchPhase): void {
    for (const symbol of new Set(this.book.open().map((o) => o.symbol))) this.match(symbol, phase);
  }

  /**
   * Runs every working order of a symbol against its quote once; exit legs armed by an entry fill
   * get their turn in the same pass. Each order takes at most one execution per pass, so a
   * liquidity cap turns a large order into a series of partial fills across price updates.
   */
  match(symbol: string, phase: MatchPhase): void {
    const quote = this.market.quote(symbol);
    if (!quote) return;
    const visited = new Set<string>();
    let progress = true;
    while (progress) {
      progress = false;
      for (const order of this.book.working(symbol)) {
        if (visited.has(order.id) || !isOpen(order)) continue;
        // Auctions run at the session's edges, where the calendar already says open or closed.
        const allowed =
          phase === "continuous" ? this.canTrade(order) : this.marketOverride !== "closed";
        if (!allowed) continue;
        // The closing auction is for cls orders; the rest already had the session to trade.
        if (phase === "close" && order.timeInForce !== "cls") continue;
        visited.add(order.id);
        progress = true;
        const available = this.liquidity.get(symbol) ?? this.liquidity.get("*") ?? null;
        const stopBefore = order.stopPrice;
        const decision = decide(order, quote, phase, available, remainingQty(order));
        // A trailing stop moves its stop price with the last trade, and with it its reserve.
        if (order.stopPrice !== stopBefore) this.orderChanged(order);
        if (decision.kind === "fill") {
          this.fill(order, decision.price, decision.qty);
          // ioc and the auction orders get one chance: whatever it left is canceled.
          const once =
            order.timeInForce === "ioc" ||
            order.timeInForce === "opg" ||
            order.timeInForce === "cls";
          if (once && isOpen(order)) this.cancelRemainder(order);
        } else if (decision.kind === "cancel") {
          this.cancelRemainder(order);
        }
      }
    }
  }

  private fill(order: SimOrder, price: Dec, qty: Dec): void {
    const t = this.time();
    this.applyToPosition(order.symbol, order.side === "buy" ? qty : qty.neg(), price);
    order.filledQty = order.filledQty.plus(qty);
    order.filledNotional = order.filledNotional.plus(price.times(qty));
    order.updatedAt = t;
    const complete = remainingQty(order).lte(0);
    // An outstanding cancel or replace request stays outstanding until the order is done.
    const pending = isPendingRequest(order.status);
    if (complete) {
      order.status = "filled";
      order.pendingFrom = null;
      order.filledAt = t;
    } else if (pending) {
      order.pendingFrom = order.pendingFrom === "held" ? "held" : "partially_filled";
    } else {
      order.status = "partially_filled";
    }
    this.orderChanged(order);
    this.emit(complete ? "fill" : "partial_fill", order, { price, qty, id: this.deps.newId() });
    this.afterFill(order, qty, complete);
  }

  /** Bracket, OCO and OTO rules after an execution. */
  private afterFill(order: SimOrder, qty: Dec, complete: boolean): void {
    if (order.role === "entry") {
      if (complete) this.armLegs(order);
      return;
    }
    const siblings = this.book
      .group(order)
      .filter((o) => o.id !== order.id && o.role !== "entry" && isOpen(o));
    for (const sibling of siblings) {
      if (complete) {
        this.finish(sibling, "canceled");
        continue;
      }
      // A partial take-profit shrinks the stop (and vice versa) to what is still held.
      sibling.qty = (sibling.qty ?? ZERO).minus(qty);
      sibling.updatedAt = this.time();
      this.orderChanged(sibling);
      if (remainingQty(sibling).lte(0)) this.finish(sibling, "canceled");
    }
  }

  /**
   * Activates an entry's exit legs once it is completely filled. With both exits, the take-profit
   * goes to the market (`new`) and the stop stays `held` at Alpaca until it triggers; a lone exit
   * goes to the market.
   */
  private armLegs(entry: SimOrder): void {
    const legs = this.book.legsOf(entry).filter((l) => l.status === "held");
    const both = legs.length > 1;
    for (const leg of legs) {
      leg.armed = true;
      if (!both || leg.role === "take_profit") {
        leg.status = "new";
        leg.updatedAt = this.time();
        this.orderChanged(leg);
        this.emit("new", leg);
      }
    }
  }

  private applyToPosition(symbol: string, signedQty: Dec, price: Dec): void {
    this.account.cash = this.account.cash.minus(signedQty.times(price));
    const next = positionAfter(this.positions.get(symbol), symbol, signedQty, price);
    if (next) this.positions.set(symbol, next);
    else this.positions.delete(symbol);
  }

  // ---- ends of orders ----------------------------------------------------------------------

  /** Moves an order to a final status and emits it; never touches its group. */
  finish(order: SimOrder, status: "canceled" | "expired"): void {
    const t = this.time();
    order.status = status;
    order.pendingFrom = null;
    order.updatedAt = t;
    if (status === "canceled") order.canceledAt = t;
    else order.expiredAt = t;
    this.orderChanged(order);
    this.emit(status, order);
  }

  /** The venue refuses a just-accepted order: `rejected` for it, its legs canceled. */
  reject(order: SimOrder): void {
    const t = this.time();
    order.status = "rejected";
    order.failedAt = t;
    order.updatedAt = t;
    this.orderChanged(order);
    this.emit("rejected", order);
    for (const leg of this.book.legsOf(order)) if (isOpen(leg)) this.finish(leg, "canceled");
  }

  /**
   * A cancel request, as Alpaca answers it: the order goes `pending_cancel` at once (it may still
   * fill meanwhile), then `canceled` with the rest of its group when the venue confirms, which is
   * at once unless cancels are held (`releaseCancels` confirms them).
   */
  requestCancel(order: SimOrder): void {
    order.pendingFrom = order.status;
    order.status = "pending_cancel";
    order.updatedAt = this.time();
    this.orderChanged(order);
    this.emit("pending_cancel", order);
    if (!this.eventOptions.holdCancels) this.cancelGroup(order);
  }

  /** The venue confirms every held cancel request: each order is canceled with its group. */
  releaseCancels(): void {
    for (const o of this.book.open()) {
      if (o.status === "pending_cancel") this.cancelGroup(o);
    }
  }

  /** Cancels an order and every open order of its group (Alpaca never liquidates on a cancel). */
  cancelGroup(order: SimOrder): void {
    for (const member of this.book.group(order)) {
      if (isOpen(member)) this.finish(member, "canceled");
    }
  }

  /**
   * An ioc/fok/opg/cls order that could not (fully) execute: the rest is canceled. A bracket's
   * entry never gets here (brackets are day or gtc).
   */
  private cancelRemainder(order: SimOrder): void {
    this.cancelGroup(order);
  }

  /** Expires matching open orders; legs left behind by an expired entry are canceled. */
  private expireOrders(predicate: (o: SimOrder) => boolean): void {
    for (const o of this.book.open()) {
      if (!isOpen(o) || !predicate(o)) continue;
      if (this.eventOptions.doneForDay && o.filledQty.gt(0)) {
        o.status = "done_for_day";
        o.updatedAt = this.time();
        this.orderChanged(o);
        this.emit("done_for_day", o);
      }
      this.finish(o, "expired");
      for (const member of this.book.group(o)) {
        // A leg whose entry will never complete has nothing left to protect.
        const entryDone = member.role !== "entry" && member.status === "held" && !member.armed;
        if (entryDone) this.finish(member, "canceled");
      }
    }
  }

  // ---- cash transfers ----------------------------------------------------------------------

  /**
   * Books cash into (positive) or out of (negative) the account now: cash and equity move by it,
   * the previous close's equity does not, and it is listed as an account activity.
   */
  transferCash(amount: Dec, type: CashActivityType): CashActivity {
    this.sync();
    const createdAt = this.deps.now();
    this.account.cash = this.account.cash.plus(amount);
    const activity: CashActivity = {
      id: cashActivityId(createdAt, this.deps.newId(), this.cashActivities.length),
      type,
      netAmount: amount,
      createdAt,
    };
    this.cashActivities.push(activity);
    return activity;
  }

  // ---- account views -----------------------------------------------------------------------

  mark(symbol: string): Dec | null {
    return this.market.quote(symbol)?.last ?? null;
  }

  figures() {
    return accountFigures(this.account, this.positions.values(), (s) => this.mark(s));
  }

  // ---- reserved buying power ---------------------------------------------------------------

  /** Records a new order (and what it reserves). Every order enters the book through here. */
  addOrder(order: SimOrder): void {
    this.book.add(order);
    this.orderChanged(order);
  }

  /**
   * Re-prices what one order reserves. Call it after every change to an order's status, quantity,
   * filled quantity or prices, before the change is emitted: the reserve total is only as current
   * as the last call.
   */
  orderChanged(o: SimOrder): void {
    const before = this.reservedByOrder.get(o.id) ?? ZERO;
    const after = this.reserveOf(o);
    if (after.isZero()) this.reservedByOrder.delete(o.id);
    else this.reservedByOrder.set(o.id, after);
    this.reservedTotal = this.reservedTotal.minus(before).plus(after);
  }

  /** A symbol's quote moved: re-prices its open orders that have no price of their own. */
  private quoteChanged(symbol: string): void {
    for (const o of this.book.open(symbol)) if (!fixedPrice(o)) this.orderChanged(o);
  }

  /** What one order holds back: open orders that add exposure, at their limit, stop or the market. */
  private reserveOf(o: SimOrder): Dec {
    if (!isOpen(o) || !o.positionIntent.endsWith("_to_open")) return ZERO;
    return remainingQty(o).times(this.estimatePrice(o));
  }

  /**
   * Cost of open orders that add exposure, at their limit (or stop, or the market): the running
   * sum of each order's reserve. Adding and taking back these decimals is exact while the figures
   * fit the 40-digit precision (prices on the tick, quantities of a few decimals do, by far), so
   * it is the figure that adding up every open order afresh gives, in any order.
   */
  reservedBuyingPower(): Dec {
    return this.reservedTotal;
  }

  estimatePrice(o: Pick<SimOrder, "limitPrice" | "stopPrice" | "side" | "symbol">): Dec {
    const own = fixedPrice(o);
    if (own) return own;
    const q = this.market.quote(o.symbol);
    if (!q) return ZERO;
    return (o.side === "buy" ? q.ask : q.bid) ?? q.last;
  }

  buyingPower(): Dec {
    return buyingPower(this.account, this.figures(), this.reservedBuyingPower());
  }

  accountJson(): Record<string, unknown> {
    this.sync();
    return accountJson(
      this.account,
      this.figures(),
      this.buyingPower(),
      this.account.lastEquityDate,
    );
  }

  positionJson(p: Position): Record<string, unknown> {
    const price = this.mark(p.symbol) ?? ZERO;
    const exchange = this.assets.get(p.symbol)?.exchange ?? "NASDAQ";
    const reserved = this.book.reservedToClose(p.symbol, p.qty.isNeg() ? "buy" : "sell");
    return positionJson(p, price, this.prevClose.get(p.symbol) ?? price, exchange, reserved);
  }

  positionsJson(): Record<string, unknown>[] {
    this.sync();
    return [...this.positions.values()]
      .sort((a, b) => a.symbol.localeCompare(b.symbol))
      .map((p) => this.positionJson(p));
  }
}

/** An order's own price for its reserve (limit, else stop); null when it is priced from the quote. */
function fixedPrice(o: Pick<SimOrder, "limitPrice" | "stopPrice">): Dec | null {
  return o.limitPrice ?? o.stopPrice;
}
