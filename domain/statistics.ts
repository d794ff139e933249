import { Decimal, HUNDRED, ONE, ZERO } from "./money";

/** Where a trade came from: typed by the trader, approved from a scanner alert, or sent over the API. */
export const TRADE_SOURCES = ["manual", "alert", "api"] as const;
export type TradeSource = (typeof TRADE_SOURCES)[number];

/** What statistics need of one closed trade. */
export interface ClosedTradeSummary {
  /** Realized P&L in dollars, after commissions. */
  readonly realizedPnl: Decimal;
  /** Realized P&L in R (multiples of the planned risk); null when the risk was unknown. */
  readonly rMultiple: Decimal | null;
  readonly source: TradeSource;
  /** The scanner pattern of an alert trade (e.g. "VCP"). */
  readonly pattern?: string | null;
  /** When the trade closed: ISO-8601 text or epoch milliseconds. Orders the equity curve. */
  readonly closedAt: string | number;
}

/** The quality label of a strategy, from its expectancy in R (see `expectancyQuality`). */
export type ExpectancyQuality = "Excellent" | "Good" | "Fair" | "Losing (review strategy)";

/** Figures over a set of closed trades. With no trades, counts and sums are zero and ratios null. */
export interface TradeStatistics {
  readonly count: number;
  /** Trades with a positive realized P&L. */
  readonly wins: number;
  /** Trades with a negative realized P&L. */
  readonly losses: number;
  /** Trades that closed at exactly zero P&L; they count in the win rate's denominator. */
  readonly breakevens: number;
  /** wins / count, 0 to 1; null with no trades. */
  readonly winRate: Decimal | null;
  /** The win rate in percent (55 for 55%); null with no trades. */
  readonly winRatePercent: Decimal | null;
  /** Sum of realized P&L. */
  readonly totalPnl: Decimal;
  /** Sum of the winning trades' P&L. */
  readonly grossProfit: Decimal;
  /** Sum of the losing trades' P&L as a positive amount (a $300 loss adds 300). */
  readonly grossLoss: Decimal;
  /** grossProfit / grossLoss; null when there is no loss to divide by. */
  readonly profitFactor: Decimal | null;
  /** Mean P&L of the winners; null without winners. */
  readonly averageWin: Decimal | null;
  /** Mean loss of the losers as a positive amount; null without losers. */
  readonly averageLoss: Decimal | null;
  /** averageWin / averageLoss: the payoff ratio b of the Kelly formula; null without both. */
  readonly payoffRatio: Decimal | null;
  /** Largest single win; null without winners. */
  readonly largestWin: Decimal | null;
  /** Largest single loss as a positive amount; null without losers. */
  readonly largestLoss: Decimal | null;
  /**
   * Expected dollars per trade: win% x average win - loss% x average loss, which equals
   * totalPnl / count (breakevens add nothing but dilute both rates). Null with no trades.
   */
  readonly expectancy: Decimal | null;
  /** How many trades carry an R multiple (the base of expectancyR). */
  readonly rCount: number;
  /** Expectancy in R: the mean R multiple of the trades that have one; null when none has. */
  readonly expectancyR: Decimal | null;
  /**
   * Largest fall of the closed-trade equity curve from its running peak, in dollars (zero or
   * positive). The curve starts at 0 before the first trade and steps by each trade's P&L in
   * closing order, so a first losing trade is already a drawdown.
   */
  readonly maxDrawdown: Decimal;
  /** Longest run of consecutive losing trades in closing order (breakevens end a run). */
  readonly maxConsecutiveLosses: number;
  /** Label of expectancyR (not of the dollar expectancy); null when no trade has an R multiple. */
  readonly quality: ExpectancyQuality | null;
}

/** Statistics of one source or one pattern. */
export interface SourceStatistics {
  readonly source: TradeSource;
  readonly statistics: TradeStatistics;
}
export interface PatternStatistics {
  readonly pattern: string;
  readonly statistics: TradeStatistics;
}

/** Statistics of all trades, with breakdowns by source and by alert pattern. */
export interface TradeStatisticsReport extends TradeStatistics {
  /** One entry per source that has trades, in the order manual, alert, api. */
  readonly bySource: readonly SourceStatistics[];
  /** One entry per pattern that has trades, most trades first, then by name. */
  readonly byPattern: readonly PatternStatistics[];
}

const EXCELLENT_ABOVE = ONE;
const GOOD_ABOVE = new Decimal("0.5");

/**
 * Labels a strategy by its expectancy in R: above 1.0 "Excellent", above 0.5 "Good", above 0
 * "Fair", otherwise "Losing (review strategy)". The thresholds are R multiples, so the label is
 * computed on expectancy in R: the same thresholds on dollars would depend on account size.
 */
export function expectancyQuality(expectancyR: Decimal): ExpectancyQuality {
  if (expectancyR.gt(EXCELLENT_ABOVE)) return "Excellent";
  if (expectancyR.gt(GOOD_ABOVE)) return "Good";
  if (expectancyR.gt(ZERO)) return "Fair";
  return "Losing (review strategy)";
}

/**
 * Computes trade statistics over closed trades, with breakdowns by source and by alert pattern
 * (trades without a pattern appear only in the totals and the source breakdown). Trades are put
 * in closing order for the equity curve; equal closing times keep their input order. Throws on
 * an unreadable `closedAt`, which is a bug in the caller's data.
 */
export function computeTradeStatistics(
  trades: readonly ClosedTradeSummary[],
): TradeStatisticsReport {
  const ordered = sortByClose(trades);

  const bySource: SourceStatistics[] = [];
  for (const source of TRADE_SOURCES) {
    const ofSource = ordered.filter((trade) => trade.source === source);
    if (ofSource.length > 0) bySource.push({ source, statistics: summarize(ofSource) });
  }

  const patterns = new Map<string, ClosedTradeSummary[]>();
  for (const trade of ordered) {
    const pattern = trade.pattern?.trim();
    if (pattern === undefined || pattern === "") continue;
    const group = patterns.get(pattern);
    if (group === undefined) patterns.set(pattern, [trade]);
    else group.push(trade);
  }
  const byPattern = [...patterns.entries()]
    .map(([pattern, group]) => ({ pattern, statistics: summarize(group) }))
    .sort(
      (a, b) =>
        b.statistics.count - a.statistics.count ||
        (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0),
    );

  return { ...summarize(ordered), bySource, byPattern };
}

/** The figures of trades already in closing order. */
function summarize(trades: readonly ClosedTradeSummary[]): TradeStatistics {
  let wins = 0;
  let losses = 0;
  let breakevens = 0;
  let totalPnl = ZERO;
  let grossProfit = ZERO;
  let grossLoss = ZERO;
  let largestWin: Decimal | null = null;
  let largestLoss: Decimal | null = null;
  let rCount = 0;
  let rTotal = ZERO;
  let peak = ZERO;
  let maxDrawdown = ZERO;
  let lossRun = 0;
  let maxConsecutiveLosses = 0;

  for (const trade of trades) {
    const pnl = trade.realizedPnl;
    totalPnl = totalPnl.plus(pnl);
    if (pnl.gt(ZERO)) {
      wins += 1;
      grossProfit = grossProfit.plus(pnl);
      if (largestWin === null || pnl.gt(largestWin)) largestWin = pnl;
      lossRun = 0;
    } else if (pnl.lt(ZERO)) {
      losses += 1;
      const loss = pnl.neg();
      grossLoss = grossLoss.plus(loss);
      if (largestLoss === null || loss.gt(largestLoss)) largestLoss = loss;
      lossRun += 1;
      if (lossRun > maxConsecutiveLosses) maxConsecutiveLosses = lossRun;
    } else {
      breakevens += 1;
      lossRun = 0;
    }
    if (trade.rMultiple !== null) {
      rCount += 1;
      rTotal = rTotal.plus(trade.rMultiple);
    }
    if (totalPnl.gt(peak)) peak = totalPnl;
    const drawdown = peak.minus(totalPnl);
    if (drawdown.gt(maxDrawdown)) maxDrawdown = drawdown;
  }

  const count = trades.length;
  const winRate = count === 0 ? null : new Decimal(wins).div(count);
  const averageWin = wins === 0 ? null : grossProfit.div(wins);
  const averageLoss = losses === 0 ? null : grossLoss.div(losses);
  const expectancyR = rCount === 0 ? null : rTotal.div(rCount);
  return {
    count,
    wins,
    losses,
    breakevens,
    winRate,
    winRatePercent: winRate === null ? null : winRate.times(HUNDRED),
    totalPnl,
    grossProfit,
    grossLoss,
    profitFactor: grossLoss.isZero() ? null : grossProfit.div(grossLoss),
    averageWin,
    averageLoss,
    payoffRatio: averageWin === null || averageLoss === null ? null : averageWin.div(averageLoss),
    largestWin,
    largestLoss,
    expectancy: count === 0 ? null : totalPnl.div(count),
    rCount,
    expectancyR,
    maxDrawdown,
    maxConsecutiveLosses,
    quality: expectancyR === null ? null : expectancyQuality(expectancyR),
  };
}

/** Trades in closing order; a stable sort, so equal times keep their input order. */
function sortByClose(trades: readonly ClosedTradeSummary[]): ClosedTradeSummary[] {
  return trades
    .map((trade) => ({ trade, at: closedAtMillis(trade.closedAt) }))
    .sort((a, b) => a.at - b.at)
    .map(({ trade }) => trade);
}

function closedAtMillis(closedAt: string | number): number {
  const millis = typeof closedAt === "number" ? closedAt : Date.parse(closedAt);
  if (!Number.isFinite(millis)) {
    throw new RangeError(`unreadable trade close time: ${String(closedAt)}`);
  }
  return millis;
}
