import type { Broker, BrokerAccount, BrokerFailure, BrokerOrder } from "../domain/broker";
import type { Decimal } from "../domain/money";
import type { OrderRole } from "../domain/order";
import type {
  AccountSnapshot,
  AssetFlags,
  QuoteView,
  RecentOrder,
  WorkingOrderView,
} from "../domain/riskChecks";

/** How far back submitted orders are read for the duplicate and order-rate rules. */
export const RECENT_ORDERS_WINDOW_MS = 5 * 60_000;

/** A snapshot and the broker's account it was built from. */
export interface LoadedSnapshot {
  readonly snapshot: AccountSnapshot;
  readonly account: BrokerAccount;
}

/**
 * Reads a fresh account snapshot from the broker for the pre-trade checks: account figures,
 * positions, working and recent orders, the market clock, and the quote and asset flags of each
 * symbol asked about. Answers the first broker failure instead (the caller refuses to decide
 * on partial information).
 */
export async function loadAccountSnapshot(
  broker: Broker,
  symbols: readonly string[],
  now: Date,
): Promise<{ ok: true; value: LoadedSnapshot } | BrokerFailure> {
  const [account, positions, openOrders, recent, clock, quotes, ...assets] = await Promise.all([
    broker.getAccount(),
    broker.listPositions(),
    broker.listOrders({ status: "open", nested: true, limit: 500 }),
    broker.listOrders({
      status: "all",
      after: new Date(now.getTime() - RECENT_ORDERS_WINDOW_MS),
      limit: 500,
      nested: false,
    }),
    broker.getClock(),
    broker.getLatestQuotes(symbols),
    ...symbols.map((symbol) => broker.getAsset(symbol)),
  ]);
  if (!account.ok) return account;
  if (!positions.ok) return positions;
  if (!openOrders.ok) return openOrders;
  if (!recent.ok) return recent;
  if (!clock.ok) return clock;
  if (!quotes.ok) return quotes;

  const assetFlags = new Map<string, AssetFlags>();
  for (const asset of assets) {
    // An unknown symbol is simply absent: the checks then refuse it as not tradable.
    if (asset.ok) {
      assetFlags.set(asset.value.symbol, {
        tradable: asset.value.tradable && asset.value.status === "active",
        shortable: asset.value.shortable,
        fractionable: asset.value.fractionable,
      });
    } else if (asset.code !== "NOT_FOUND") {
      return asset;
    }
  }
  const quoteViews = new Map<string, QuoteView>();
  for (const [symbol, quote] of quotes.value) {
    quoteViews.set(symbol, { bid: quote.bidPrice, ask: quote.askPrice });
  }
  const positionQty = new Map(positions.value.map((p) => [p.symbol, p.qty] as const));

  return {
    ok: true,
    value: {
      account: account.value,
      snapshot: {
        equity: account.value.equity,
        buyingPower: account.value.buyingPower,
        shortingEnabled: account.value.shortingEnabled,
        tradingBlocked: account.value.tradingBlocked || account.value.accountBlocked,
        positions: positions.value.map((p) => ({
          symbol: p.symbol,
          quantity: p.qty,
          marketValue: p.marketValue ?? p.costBasis,
        })),
        workingOrders: openOrders.value.flatMap((order) =>
          workingOrderViews(order, positionQty.get(order.symbol)),
        ),
        recentOrders: recent.value.flatMap((order) => recentOrderView(order)),
        quotes: quoteViews,
        assets: assetFlags,
        sectors: new Map(),
        market: { open: clock.value.isOpen },
      },
    },
  };
}

/** An open broker order and its legs as the checks see them: legs are exits, a top-level order is an entry unless it shrinks the position. */
function workingOrderViews(
  order: BrokerOrder,
  positionQty: Decimal | undefined,
): WorkingOrderView[] {
  const reduces =
    positionQty !== undefined &&
    !positionQty.isZero() &&
    (order.side === "sell") === positionQty.isPositive();
  const role: OrderRole = reduces
    ? order.type === "limit"
      ? "TAKE_PROFIT"
      : "STOP_LOSS"
    : "ENTRY";
  const views: WorkingOrderView[] = [view(order, role)];
  for (const leg of order.legs) {
    if (leg.status === "canceled" || leg.status === "filled") continue;
    views.push(view(leg, leg.type === "limit" ? "TAKE_PROFIT" : "STOP_LOSS"));
  }
  return views;
}

function view(order: BrokerOrder, role: OrderRole): WorkingOrderView {
  const remaining = order.qty === null ? order.filledQty.mul(0) : order.qty.minus(order.filledQty);
  return {
    symbol: order.symbol,
    side: order.side,
    role,
    remainingQuantity: remaining,
    limitPrice: order.limitPrice,
    stopPrice: order.stopPrice,
  };
}

function recentOrderView(order: BrokerOrder): RecentOrder[] {
  const submittedAt = order.submittedAt ?? order.createdAt;
  if (order.qty === null || submittedAt === null) return [];
  return [
    {
      symbol: order.symbol,
      side: order.side,
      quantity: order.qty,
      limitPrice: order.limitPrice,
      stopPrice: order.stopPrice,
      submittedAt: submittedAt.getTime(),
    },
  ];
}
