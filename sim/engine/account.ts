import { assetIdFor } from "./assets";
import { cents, type Dec, fmt, maxDec, ZERO } from "./decimal";
import type { Position } from "./types";

/** Cash, margin setting and the previous close's equity; positions live beside it. */
export interface AccountState {
  id: string;
  accountNumber: string;
  createdAt: Date;
  cash: Dec;
  lastEquity: Dec;
  lastEquityDate: string; // New York date of the close that set last_equity
  multiplier: Dec;
  shortingEnabled: boolean;
  tradingBlocked: boolean;
}

/** Mark-to-market figures of an account against a price lookup. */
export interface AccountFigures {
  equity: Dec;
  longMarketValue: Dec;
  shortMarketValue: Dec;
  grossMarketValue: Dec;
}

export function accountFigures(
  account: AccountState,
  positions: Iterable<Position>,
  mark: (symbol: string) => Dec | null,
): AccountFigures {
  let long = ZERO;
  let short = ZERO;
  for (const p of positions) {
    const price = mark(p.symbol) ?? avgEntry(p);
    const value = p.qty.times(price);
    if (p.qty.gt(0)) long = long.plus(value);
    else short = short.plus(value);
  }
  return {
    equity: account.cash.plus(long).plus(short),
    longMarketValue: long,
    shortMarketValue: short,
    grossMarketValue: long.minus(short),
  };
}

export function avgEntry(p: Position): Dec {
  return p.qty.isZero() ? ZERO : p.costBasis.div(p.qty);
}

/**
 * Buying power as a margin account computes it: multiplier x equity less the gross value already
 * held and the cost reserved by open opening orders (multiplier 1 behaves as a cash account).
 */
export function buyingPower(account: AccountState, figures: AccountFigures, reserved: Dec): Dec {
  return maxDec(
    ZERO,
    account.multiplier.times(figures.equity).minus(figures.grossMarketValue).minus(reserved),
  );
}

/** `GET /v2/account`. */
export function accountJson(
  account: AccountState,
  figures: AccountFigures,
  power: Dec,
  balanceAsOf: string,
): Record<string, unknown> {
  const initialMargin = figures.grossMarketValue.div(account.multiplier.gt(1) ? 2 : 1);
  const maintenance = figures.grossMarketValue.times("0.3");
  return {
    id: account.id,
    account_number: account.accountNumber,
    status: account.tradingBlocked ? "ACCOUNT_UPDATED" : "ACTIVE",
    crypto_status: "INACTIVE",
    currency: "USD",
    buying_power: cents(power),
    regt_buying_power: cents(power),
    daytrading_buying_power: cents(power),
    effective_buying_power: cents(power),
    non_marginable_buying_power: cents(maxDec(ZERO, account.cash)),
    options_buying_power: "0",
    bod_dtbp: "0",
    cash: cents(account.cash),
    accrued_fees: "0",
    pending_transfer_in: "0",
    pending_transfer_out: "0",
    portfolio_value: cents(figures.equity),
    pattern_day_trader: false,
    trading_blocked: account.tradingBlocked,
    transfers_blocked: false,
    account_blocked: false,
    created_at: account.createdAt.toISOString(),
    trade_suspended_by_user: false,
    multiplier: fmt(account.multiplier),
    shorting_enabled: account.shortingEnabled,
    equity: cents(figures.equity),
    last_equity: cents(account.lastEquity),
    long_market_value: cents(figures.longMarketValue),
    short_market_value: cents(figures.shortMarketValue),
    position_market_value: cents(figures.grossMarketValue),
    initial_margin: cents(initialMargin),
    maintenance_margin: cents(maintenance),
    last_maintenance_margin: "0",
    sma: "0",
    daytrade_count: 0,
    balance_asof: balanceAsOf,
    options_approved_level: 0,
    options_trading_level: 0,
    intraday_adjustments: "0",
    pending_reg_taf_fees: "0",
  };
}

/** One position as `GET /v2/positions` prints it (short quantities are negative). */
export function positionJson(
  p: Position,
  price: Dec,
  prevClose: Dec,
  exchange: string,
  reservedQty: Dec,
): Record<string, unknown> {
  const avg = avgEntry(p);
  const marketValue = p.qty.times(price);
  const unrealized = marketValue.minus(p.costBasis);
  // A position opened today earns its intraday P&L from its cost, an older one from last close.
  const intradayBase = p.lastdayPrice ? p.qty.times(p.lastdayPrice) : p.costBasis;
  const intraday = marketValue.minus(intradayBase);
  const ratio = (num: Dec, den: Dec) => (den.isZero() ? ZERO : num.div(den.abs()));
  return {
    asset_id: assetIdFor(p.symbol),
    symbol: p.symbol,
    exchange,
    asset_class: "us_equity",
    asset_marginable: true,
    avg_entry_price: fmt(avg.toDecimalPlaces(4)),
    qty: fmt(p.qty),
    qty_available: fmt(maxDec(ZERO, p.qty.abs().minus(reservedQty)).times(p.qty.isNeg() ? -1 : 1)),
    side: p.qty.isNeg() ? "short" : "long",
    market_value: cents(marketValue),
    cost_basis: cents(p.costBasis),
    unrealized_pl: cents(unrealized),
    unrealized_plpc: fmt(ratio(unrealized, p.costBasis).toDecimalPlaces(10)),
    unrealized_intraday_pl: cents(intraday),
    unrealized_intraday_plpc: fmt(ratio(intraday, intradayBase).toDecimalPlaces(10)),
    current_price: fmt(price),
    lastday_price: fmt(prevClose),
    change_today: fmt(ratio(price.minus(prevClose), prevClose).toDecimalPlaces(10)),
  };
}
