/**
 * The fresh account snapshot the pre-trade checks read before an entry is sent: the broker's
 * account, positions, quote and asset flags (asked in parallel), our working and recent orders
 * (read under the account's entry lock, so two entries checked at once see each other).
 */
import type { WorkingEntryTotal } from "../db/lifecycleQueries";
import type { OrderRecord } from "../db/orders";
import type {
  Broker,
  BrokerAccount,
  BrokerAsset,
  BrokerFailure,
  BrokerPosition,
  LatestQuote,
} from "../domain/broker";
import type { TradingCalendar } from "../domain/calendar";
import { ZERO } from "../domain/money";
import type { AccountSnapshot, AssetFlags, QuoteView } from "../domain/riskChecks";

/** What the broker says, before our own orders are added. */
export interface BrokerView {
  readonly account: BrokerAccount;
  readonly positions: readonly BrokerPosition[];
  readonly quote: LatestQuote | null;
  readonly asset: BrokerAsset;
}

/** Asset flags change rarely: remembered per process for a while. */
export interface AssetCache {
  get(broker: Broker, symbol: string): Promise<BrokerAsset | BrokerFailure>;
}

export function createAssetCache(ttlMs = 10 * 60_000): AssetCache {
  const cache = new Map<string, { readonly at: number; readonly asset: BrokerAsset }>();
  return {
    async get(broker, symbol) {
      const hit = cache.get(symbol);
      const t = performance.now();
      if (hit && t - hit.at < ttlMs) return hit.asset;
      const answer = await broker.getAsset(symbol);
      if (!answer.ok) return answer;
      cache.set(symbol, { at: t, asset: answer.value });
      return answer.value;
    },
  };
}

/**
 * Asset flags where a symbol the broker does not know reads as an asset nobody can trade: the
 * checks refuse the plan or entry (NOT_TRADABLE) and say so, instead of the snapshot failing as if the
 * broker had not answered.
 */
export function unknownAsNotTradable(assets: AssetCache): AssetCache {
  return {
    async get(broker, symbol) {
      const answer = await assets.get(broker, symbol);
      if (!("ok" in answer) || answer.code !== "NOT_FOUND") return answer;
      const unknown: BrokerAsset = {
        assetId: "",
        symbol,
        name: symbol,
        exchange: "",
        assetClass: "",
        status: "inactive",
        tradable: false,
        shortable: false,
        easyToBorrow: false,
        fractionable: false,
        marginable: false,
      };
      return unknown;
    },
  };
}

/**
 * Broker reads shared by the callers that ask while one is in flight: entries checked at once
 * wait for one account read instead of sending one each. Only a read still in flight is shared,
 * so an answer is at most one request older than a read of one's own; none is kept after.
 */
export interface InFlightReads {
  share<T>(broker: Broker, key: string, read: () => Promise<T>): Promise<T>;
}

export function createInFlightReads(): InFlightReads {
  const inFlight = new WeakMap<Broker, Map<string, Promise<unknown>>>();
  return {
    share<T>(broker: Broker, key: string, read: () => Promise<T>): Promise<T> {
      const reads = inFlight.get(broker) ?? new Map<string, Promise<unknown>>();
      inFlight.set(broker, reads);
      const pending = reads.get(key);
      if (pending) return pending as Promise<T>;
      const started = read().finally(() => reads.delete(key));
      reads.set(key, started);
      return started;
    },
  };
}

/** Each caller reads for itself. */
const UNSHARED: InFlightReads = { share: (_broker, _key, read) => read() };

/**
 * Reads the broker's side of the snapshot (shared with concurrent callers through `reads`); the
 * first failure is answered as is.
 */
export async function readBrokerView(
  broker: Broker,
  symbol: string,
  assets: AssetCache,
  reads: InFlightReads = UNSHARED,
): Promise<BrokerView | BrokerFailure> {
  const [account, positions, quotes, asset] = await Promise.all([
    reads.share(broker, "account", () => broker.getAccount()),
    reads.share(broker, "positions", () => broker.listPositions()),
    reads.share(broker, `quote:${symbol}`, () => broker.getLatestQuotes([symbol])),
    assets.get(broker, symbol),
  ]);
  if (!account.ok) return account;
  if (!positions.ok) return positions;
  if (!quotes.ok) return quotes;
  if ("ok" in asset) return asset;
  return {
    account: account.value,
    positions: positions.value,
    quote: quotes.value.get(symbol) ?? null,
    asset,
  };
}

/** The quote as the checks read it. */
export function quoteViewOf(quote: LatestQuote | null): QuoteView | undefined {
  return quote ? { bid: quote.bidPrice, ask: quote.askPrice } : undefined;
}

/**
 * Builds the checks' snapshot from the broker's view and our orders: working entries as totals
 * per symbol and side (priced at their average limit, stop or planned entry as the books know it;
 * a total the books cannot price goes without, for the checks to price from the quote or refuse),
 * recent entries in the symbol in full (the duplicate rule compares content), and the other
 * recent entries by time only (the rate rule counts them; their content is blank so it never
 * matches).
 */
export function buildAccountSnapshot(input: {
  readonly view: BrokerView;
  readonly symbol: string;
  readonly workingEntries: readonly WorkingEntryTotal[];
  readonly recentInSymbol: readonly OrderRecord[];
  readonly otherEntryTimes: readonly Date[];
  readonly calendar: TradingCalendar;
}): AccountSnapshot {
  const { view, symbol } = input;
  const flags: AssetFlags = {
    tradable: view.asset.tradable && view.asset.status === "active",
    shortable: view.asset.shortable,
    fractionable: view.asset.fractionable,
  };
  const quote = quoteViewOf(view.quote);
  return {
    equity: view.account.equity,
    buyingPower: view.account.buyingPower,
    shortingEnabled: view.account.shortingEnabled,
    tradingBlocked: view.account.tradingBlocked || view.account.accountBlocked,
    positions: view.positions.map((p) => ({
      symbol: p.symbol,
      quantity: p.qty,
      marketValue: p.marketValue ?? p.costBasis,
    })),
    workingOrders: input.workingEntries
      .filter((w) => w.remainingQuantity.gt(0))
      .map((w) => ({
        symbol: w.symbol,
        side: w.side,
        role: "ENTRY" as const,
        remainingQuantity: w.remainingQuantity,
        limitPrice: w.notional === null ? null : w.notional.div(w.remainingQuantity),
        stopPrice: null,
      })),
    recentOrders: [
      ...input.recentInSymbol.map((r) => ({
        symbol: r.order.symbol,
        side: r.order.side,
        quantity: r.order.quantity,
        limitPrice: r.order.limitPrice,
        stopPrice: r.order.stopPrice,
        submittedAt: r.createdAt.getTime(),
      })),
      ...input.otherEntryTimes.map((at) => ({
        symbol: "",
        side: "buy" as const,
        quantity: ZERO,
        limitPrice: null,
        stopPrice: null,
        submittedAt: at.getTime(),
      })),
    ],
    quotes: quote ? new Map([[symbol, quote]]) : new Map(),
    assets: new Map([[symbol, flags]]),
    sectors: new Map(),
    market: { calendar: input.calendar },
  };
}
