/**
 * The desk's read-only views: open positions, working orders, the trade journal, statistics,
 * the day's P&L. Each returns one HTML text that may be long; callers send it with sendHtml, which
 * splits at 4096 characters and never drops a line.
 */
import type { OrderRecord } from "../../db/orders";
import type { PositionRecord } from "../../db/positions";
import type { TradeRecord } from "../../db/trades";
import { newYorkDateOf } from "../../domain/calendar";
import { type Decimal, HUNDRED, sumDecimals, ZERO } from "../../domain/money";
import { averageEntryPrice, positionSide } from "../../domain/position";
import type { TradeStatisticsReport } from "../../domain/statistics";
import { isCancellableEntry } from "../keyboards/orders";
import {
  averagePrice,
  dateTime,
  pnl,
  price,
  quantity,
  rMultiple,
  signedPercent,
  usd,
} from "./format";
import { bold, code, escapeHtml } from "./html";

/** One order as a line: `#12 AAPL buy 100 limit 190.10 · accepted`. */
export function orderLine(record: OrderRecord): string {
  const { order } = record;
  const prices = [
    order.limitPrice === null ? null : `limit ${price(order.limitPrice)}`,
    order.stopPrice === null ? null : `stop ${price(order.stopPrice)}`,
  ].filter((part) => part !== null);
  const filled = order.filledQuantity.isZero()
    ? ""
    : ` · filled ${quantity(order.filledQuantity)}/${quantity(order.quantity)}`;
  // "limit 190.10" and "stop 184.50" say their type; a stop-limit or trailing stop says both.
  const terms =
    prices.length === 0
      ? order.type
      : order.type === "limit" || order.type === "stop"
        ? prices.join(" ")
        : [order.type, ...prices].join(" ");
  return `#${record.id} ${bold(order.symbol)} ${order.side} ${quantity(order.quantity)} ${escapeHtml(
    terms,
  )} · ${ROLE_LABELS[order.role]} · ${escapeHtml(order.status)}${filled}`;
}

const ROLE_LABELS: Record<OrderRecord["order"]["role"], string> = {
  ENTRY: "entry",
  STOP_LOSS: "stop",
  TAKE_PROFIT: "target",
  EXIT: "exit",
  SLICE: "entry slice",
};

/** Working stop and target of a symbol among open orders (the latest of each). */
function protectionOf(symbol: string, openOrders: readonly OrderRecord[]) {
  const mine = openOrders.filter((record) => record.order.symbol === symbol);
  const stop = mine.filter((record) => record.order.role === "STOP_LOSS").at(-1) ?? null;
  const target = mine.filter((record) => record.order.role === "TAKE_PROFIT").at(-1) ?? null;
  return { stop, target };
}

/**
 * Open positions: side, size, average cost, mark and unrealized P&L, and the live stop and target
 * from the working orders. A position without a live stop says so loudly.
 */
export function renderPositions(
  positions: readonly PositionRecord[],
  openOrders: readonly OrderRecord[],
  timeZone: string,
): string {
  const open = positions.filter((record) => !record.position.quantity.isZero());
  if (open.length === 0) return "<b>Positions</b>\nNo open positions.";
  const blocks = open.map((record) => {
    const { position } = record;
    const side = positionSide(position) ?? "flat";
    const average = averageEntryPrice(position) ?? record.averageCost;
    const size = position.quantity.abs();
    const lines = [`${bold(position.symbol)} ${side} ${quantity(size)} @ ${averagePrice(average)}`];
    if (record.markPrice === null || record.unrealizedPnl === null) {
      lines.push("Mark: not marked yet");
    } else {
      const cost = position.costBasis.abs();
      const percent = cost.isZero() ? null : record.unrealizedPnl.div(cost).times(HUNDRED);
      const when = record.markedAt === null ? "" : ` (${dateTime(record.markedAt, timeZone)})`;
      lines.push(
        `Mark ${price(record.markPrice)}${when} · unrealized ${pnl(record.unrealizedPnl)}${
          percent === null ? "" : ` (${signedPercent(percent)})`
        }`,
      );
    }
    const { stop, target } = protectionOf(position.symbol, openOrders);
    const stopPrice = stop?.order.stopPrice ?? null;
    const targetPrice = target?.order.limitPrice ?? null;
    // A trailing stop has no fixed price: it is live all the same.
    const stopText =
      stop === null
        ? "<b>NO LIVE STOP</b>"
        : stopPrice === null
          ? `Stop ${escapeHtml(stop.order.type.replace("_", " "))}${
              stop.trailPercent === null ? "" : ` ${stop.trailPercent.toFixed()}%`
            }`
          : `Stop ${price(stopPrice)}`;
    lines.push(
      `${stopText} · ${targetPrice === null ? "no target" : `target ${price(targetPrice)}`}`,
    );
    return lines.join("\n");
  });
  const marked = open.flatMap((record) =>
    record.unrealizedPnl === null ? [] : [record.unrealizedPnl],
  );
  const total = `Unrealized total: ${pnl(sumDecimals(marked))}${
    marked.length < open.length ? ` (${open.length - marked.length} not marked)` : ""
  }`;
  return [`<b>Positions (${open.length})</b>`, ...blocks, total].join("\n\n");
}

/** Working orders, one line each; entries can be cancelled with the buttons below. */
export function renderOrders(openOrders: readonly OrderRecord[], cancelButtons = 0): string {
  if (openOrders.length === 0) return "<b>Orders</b>\nNo working orders.";
  const lines = [`<b>Working orders (${openOrders.length})</b>`, ...openOrders.map(orderLine)];
  const cancellable = openOrders.filter(isCancellableEntry).length;
  if (cancelButtons > 0 && cancellable > cancelButtons) {
    lines.push(`Buttons below cancel the first ${cancelButtons} of ${cancellable} entries.`);
  }
  return lines.join("\n");
}

const EXIT_LABELS: Record<string, string> = {
  STOPPED_OUT: "stopped out",
  PROFIT_TAKEN: "target hit",
  MANUAL_EXIT: "closed by hand",
  FLATTENED: "flattened",
};

/** One journal entry as a line. */
export function tradeLine(record: TradeRecord, timeZone: string): string {
  const { trade } = record;
  const head = `#${record.id} ${bold(trade.symbol)} ${trade.side}`;
  switch (trade.status) {
    case "ORDERED":
      return `${head} · ordered ${quantity(trade.plannedQuantity)} @ ${price(
        trade.plannedEntryPrice,
      )}, stop ${price(trade.plannedStopPrice)}`;
    case "CANCELLED":
      return `${head} · cancelled before a fill · ${dateTime(new Date(trade.updatedAt), timeZone)}`;
    case "POSITION": {
      const entry =
        trade.averageEntryPrice === null ? "" : ` @ ${averagePrice(trade.averageEntryPrice)}`;
      const opened =
        trade.openedAt === null ? "" : ` · ${dateTime(new Date(trade.openedAt), timeZone)}`;
      return `${head} · open ${quantity(trade.quantity)}${entry}${opened}`;
    }
    case "CLOSED": {
      const r = trade.rMultiple === null ? "" : ` (${rMultiple(trade.rMultiple)})`;
      const entry = trade.averageEntryPrice === null ? "?" : averagePrice(trade.averageEntryPrice);
      const exit = trade.averageExitPrice === null ? "?" : averagePrice(trade.averageExitPrice);
      const closed =
        trade.closedAt === null ? "" : ` · ${dateTime(new Date(trade.closedAt), timeZone)}`;
      const reason = EXIT_LABELS[trade.exitReason ?? ""] ?? "closed";
      return `${head} · ${reason} · ${quantity(trade.entryQuantity)} ${entry} → ${exit} · ${pnl(
        trade.realizedPnl,
      )}${r}${closed}`;
    }
  }
}

/** The last trades of the journal, newest first. */
export function renderTrades(trades: readonly TradeRecord[], timeZone: string): string {
  if (trades.length === 0) return "<b>Trades</b>\nNo trades yet.";
  return [
    `<b>Last ${trades.length} trade${trades.length === 1 ? "" : "s"}</b>`,
    ...trades.map((record) => tradeLine(record, timeZone)),
  ].join("\n");
}

function orDash(value: Decimal | null, show: (value: Decimal) => string): string {
  return value === null ? "–" : show(value);
}

/** Statistics over closed trades, with the breakdowns by source and pattern. */
export function renderStats(report: TradeStatisticsReport): string {
  if (report.count === 0) return "<b>Statistics</b>\nNo closed trades yet.";
  const lines = [
    `<b>Statistics over ${report.count} closed trade${report.count === 1 ? "" : "s"}</b>`,
    `Wins ${report.wins} · losses ${report.losses} · breakeven ${report.breakevens}`,
    `Win rate: ${orDash(report.winRatePercent, (v) => `${v.toFixed(1)}%`)}`,
    `Total P&amp;L: ${pnl(report.totalPnl)}`,
    `Expectancy: ${orDash(report.expectancy, pnl)} per trade · ${orDash(report.expectancyR, rMultiple)}${
      report.quality === null ? "" : ` (${escapeHtml(report.quality)})`
    }`,
    `Profit factor: ${orDash(report.profitFactor, (v) => v.toFixed(2))}`,
    `Average win ${orDash(report.averageWin, usd)} · average loss ${orDash(report.averageLoss, usd)} · payoff ${orDash(
      report.payoffRatio,
      (v) => v.toFixed(2),
    )}`,
    `Largest win ${orDash(report.largestWin, usd)} · largest loss ${orDash(report.largestLoss, usd)}`,
    `Max drawdown: ${usd(report.maxDrawdown)} · longest losing run: ${report.maxConsecutiveLosses}`,
  ];
  if (report.bySource.length > 0) {
    lines.push("", "<b>By source</b>");
    for (const { source, statistics } of report.bySource) {
      lines.push(
        `${escapeHtml(source)}: ${statistics.count} trades · win rate ${orDash(
          statistics.winRatePercent,
          (v) => `${v.toFixed(1)}%`,
        )} · ${pnl(statistics.totalPnl)}`,
      );
    }
  }
  if (report.byPattern.length > 0) {
    lines.push("", "<b>By pattern</b>");
    for (const { pattern, statistics } of report.byPattern) {
      lines.push(
        `${code(pattern)}: ${statistics.count} trades · win rate ${orDash(
          statistics.winRatePercent,
          (v) => `${v.toFixed(1)}%`,
        )} · ${orDash(statistics.expectancyR, rMultiple)} · ${pnl(statistics.totalPnl)}`,
      );
    }
  }
  return lines.join("\n");
}

/** The figures of /pnl. */
export interface DayPnlFigures {
  /** The New York trading date, YYYY-MM-DD. */
  readonly tradingDate: string;
  /** Broker equity now and at the previous close, when synced. */
  readonly equity: Decimal | null;
  readonly lastEquity: Decimal | null;
  readonly syncedAt: Date | null;
  /**
   * Realized P&L of the day: what the trades closed in it realized in it (not their earlier days'
   * partial exits) and the partial exits of trades not closed in it.
   */
  readonly realizedToday: Decimal;
  /** The part of `realizedToday` from partial exits of trades not closed in the day. */
  readonly realizedOpenToday: Decimal;
  readonly closedToday: number;
  readonly positions: readonly PositionRecord[];
  /**
   * Deposits less withdrawals the valuation found for the day (its equity snapshot's): cash
   * moved in or out is in the equity change but no P&L.
   */
  readonly netDeposits: Decimal;
}

/**
 * The day's P&L: realized from the journal, the open positions' unrealized P&L since entry from
 * the marks, and the broker's day change (equity against the previous close, less the day's net
 * deposits).
 */
export function renderPnl(figures: DayPnlFigures, timeZone: string): string {
  const open = figures.positions.filter((record) => !record.position.quantity.isZero());
  const marked = open.flatMap((record) =>
    record.unrealizedPnl === null ? [] : [record.unrealizedPnl],
  );
  const unrealized = sumDecimals(marked);
  const lines = [
    `<b>P&amp;L for ${escapeHtml(figures.tradingDate)}</b> (New York trading day)`,
    `Realized: ${pnl(figures.realizedToday)} from ${figures.closedToday} closed trade${
      figures.closedToday === 1 ? "" : "s"
    }${
      figures.realizedOpenToday.isZero()
        ? ""
        : ` and partial exits of open trades (${pnl(figures.realizedOpenToday)})`
    }`,
    // Since entry, not since the previous close: added to the day's realized P&L it would be no
    // day's result; the broker's day change below is the day's total.
    `Unrealized since entry: ${pnl(unrealized)} on ${open.length} open position${
      open.length === 1 ? "" : "s"
    }${marked.length < open.length ? ` (${open.length - marked.length} not marked)` : ""}`,
  ];
  const syncedEarlier =
    figures.syncedAt !== null && newYorkDateOf(figures.syncedAt) < figures.tradingDate;
  if (figures.equity !== null && syncedEarlier && figures.syncedAt !== null) {
    // The broker's figures are from an earlier day: their change is that day's, not this one's.
    lines.push(
      `Equity ${usd(figures.equity)} as of ${dateTime(
        figures.syncedAt,
        timeZone,
      )}; today's change comes with its first valuation`,
    );
  } else if (figures.equity !== null && figures.lastEquity !== null) {
    // As the daily-loss rule and the end-of-day summary count it: a transfer is no result.
    const change = figures.equity.minus(figures.lastEquity).minus(figures.netDeposits);
    const percent = figures.lastEquity.gt(ZERO)
      ? ` (${signedPercent(change.div(figures.lastEquity).times(HUNDRED))})`
      : "";
    const transfers = figures.netDeposits.isZero()
      ? ""
      : ` excluding ${usd(figures.netDeposits.abs())} ${
          figures.netDeposits.gt(ZERO) ? "deposited" : "withdrawn"
        }`;
    const synced =
      figures.syncedAt === null ? "" : `, as of ${dateTime(figures.syncedAt, timeZone)}`;
    lines.push(
      `Equity ${usd(figures.equity)} · day change ${pnl(change)}${percent}${transfers}${synced}`,
    );
  } else {
    lines.push("Equity: not synced from the broker yet");
  }
  return lines.join("\n");
}
