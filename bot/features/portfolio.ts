/**
 * The desk's reports: /positions, /orders (with cancel buttons for working entries), /trades [N],
 * /stats and /pnl. Reads only, except the cancel button, which records the request and hands it
 * to the jobs; the broker is never called from here.
 */
import { Composer } from "grammy";
import type { BrokerAccount } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { listEquitySnapshots } from "../../db/equitySnapshots";
import { appendLog } from "../../db/executionLog";
import { listClosedTradeSummaries } from "../../db/journalQueries";
import { findOrder, listOpenOrders } from "../../db/orders";
import { listPositions } from "../../db/positions";
import { listTrades } from "../../db/trades";
import { summarizeClosedTrades, sumOpenTradesRealized } from "../../db/valuation";
import { newYorkDateOf, newYorkLocalToEpochMs } from "../../domain/calendar";
import { ZERO } from "../../domain/money";
import { TERMINAL_ORDER_STATUSES } from "../../domain/order";
import { computeTradeStatistics } from "../../domain/statistics";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import {
  CANCEL_ORDER_ACTION,
  cancelOrdersKeyboard,
  isCancellableEntry,
  MAX_CANCEL_BUTTONS,
} from "../keyboards/orders";
import { sendHtml } from "../sendHtml";
import {
  orderLine,
  renderOrders,
  renderPnl,
  renderPositions,
  renderStats,
  renderTrades,
} from "../views/portfolio";
import { guardCommand } from "./access";
import { commandArguments, deskScopeOf } from "./deskContext";

const DAY_MS = 86_400_000;

function shiftDate(date: string, days: number): string {
  return new Date(Date.parse(`${date}T12:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function isWeekend(date: string): boolean {
  const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
  return weekday === 0 || weekday === 6;
}

/**
 * The trading day /pnl reports and the equity figures of that day. Today when it has a session;
 * on a weekend, or a weekday whose valuation wrote no snapshot (the valuation writes none on a
 * day without a session: a holiday), the last day with a snapshot and that snapshot's figures,
 * since the broker's previous close has rolled to that day's own close by then.
 */
async function pnlDayOf(db: Database, account: BrokerAccount, now: Date) {
  const today = newYorkDateOf(now);
  const current = {
    tradingDate: today,
    equity: account.equity,
    lastEquity: account.lastEquity,
    syncedAt: account.lastSyncedAt,
    netDeposits: ZERO,
  };
  const syncedToday =
    account.lastSyncedAt !== null && newYorkDateOf(account.lastSyncedAt) === today;
  // Not synced today, the day's change is not shown: nothing to take out of it.
  if (!isWeekend(today) && !syncedToday) return current;
  // Two weeks back reaches past any run of closed days.
  const snapshots = await listEquitySnapshots(db, account.id, shiftDate(today, -14), today);
  const last = snapshots.at(-1);
  if (last === undefined) return current;
  // The deposits the day's valuation found, measured from the same previous close.
  if (last.tradingDay === today) return { ...current, netDeposits: last.netDeposits };
  return {
    tradingDate: last.tradingDay,
    equity: last.equity,
    lastEquity: last.previousCloseEquity,
    syncedAt: last.takenAt,
    netDeposits: last.netDeposits,
  };
}

/** /trades without N. */
export const DEFAULT_TRADES_SHOWN = 20;
/** /trades N at most. */
export const MAX_TRADES_SHOWN = 1_000;

export const portfolioFeature: BotFeature = {
  name: "portfolio",
  commands: ["positions", "orders", "trades", "stats", "pnl"],
  callbackActions: [CANCEL_ORDER_ACTION],
  create({ deps }) {
    const composer = new Composer<BotContext>();
    const reply = (
      ctx: BotContext,
      html: string,
      keyboard?: ReturnType<typeof cancelOrdersKeyboard>,
    ) =>
      sendHtml(ctx.api, ctx.chat?.id ?? ctx.deskUser.telegramUserId, html, {
        ...(keyboard ? { reply_markup: keyboard } : {}),
      });

    composer.command("positions", ...guardCommand(commandSpec("positions")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const [positions, orders] = await Promise.all([
        listPositions(scope.db, scope.account.id),
        listOpenOrders(scope.db, scope.account.id),
      ]);
      await reply(ctx, renderPositions(positions, orders, scope.timeZone));
    });

    composer.command("orders", ...guardCommand(commandSpec("orders")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const orders = await listOpenOrders(scope.db, scope.account.id);
      const mayCancel = CANCEL_ORDER_ACTION.roles.includes(ctx.deskUser.role);
      await reply(
        ctx,
        renderOrders(orders, mayCancel ? MAX_CANCEL_BUTTONS : 0),
        mayCancel ? cancelOrdersKeyboard(orders) : null,
      );
    });

    composer.command("trades", ...guardCommand(commandSpec("trades")), async (ctx) => {
      const text = commandArguments(ctx);
      const count = text === "" ? DEFAULT_TRADES_SHOWN : Number(text);
      if (!Number.isSafeInteger(count) || count < 1 || count > MAX_TRADES_SHOWN) {
        await ctx.reply(`Usage: /trades [N], N a whole number from 1 to ${MAX_TRADES_SHOWN}.`);
        return;
      }
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const trades = await listTrades(scope.db, scope.account.id, { limit: count });
      await reply(ctx, renderTrades(trades, scope.timeZone));
    });

    composer.command("stats", ...guardCommand(commandSpec("stats")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const closed = await listClosedTradeSummaries(scope.db, scope.account.id);
      await reply(ctx, renderStats(computeTradeStatistics(closed)));
    });

    composer.command("pnl", ...guardCommand(commandSpec("pnl")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const day = await pnlDayOf(scope.db, scope.account, deps.now());
      const { tradingDate } = day;
      const dayStart = new Date(newYorkLocalToEpochMs(tradingDate, "00:00"));
      const dayEnd = new Date(newYorkLocalToEpochMs(shiftDate(tradingDate, 1), "00:00"));
      // The day's figure as the end-of-day summary counts it: a trade closed today counts what
      // it realized today, not an earlier day's partial exit again.
      const [realized, realizedOpen] = await Promise.all([
        summarizeClosedTrades(scope.db, scope.account.id, dayStart, dayEnd),
        sumOpenTradesRealized(scope.db, scope.account.id, dayStart, dayEnd),
      ]);
      const positions = await listPositions(scope.db, scope.account.id);
      await reply(
        ctx,
        renderPnl(
          {
            ...day,
            realizedToday: realized.realizedPnl,
            realizedOpenToday: realizedOpen,
            closedToday: realized.tradesClosed,
            positions,
          },
          scope.timeZone,
        ),
      );
    });

    composer.callbackQuery(CANCEL_ORDER_ACTION.pattern, async (ctx) => {
      const values = CANCEL_ORDER_ACTION.decode(ctx.callbackQuery.data);
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null || values === null) return;
      const trading = deps.trading;
      if (trading === undefined) {
        await ctx.answerCallbackQuery({
          text: "Cancelling is not connected on this desk.",
          show_alert: true,
        });
        return;
      }
      const record = await findOrder(scope.db, Number(values.order));
      if (record === null || record.accountId !== scope.account.id || !isCancellableEntry(record)) {
        await ctx.answerCallbackQuery({
          text: "That is not a working entry of yours.",
          show_alert: true,
        });
        return;
      }
      if ((TERMINAL_ORDER_STATUSES as readonly string[]).includes(record.order.status)) {
        await ctx.answerCallbackQuery({
          text: `Order #${record.id} is already ${record.order.status}.`,
          show_alert: true,
        });
        return;
      }
      const tradeId = record.tradeId;
      if (tradeId === null) return;
      try {
        await trading.cancelEntry({
          accountId: scope.account.id,
          tradeId,
          reason: "Cancelled from /orders",
          requestedBy: scope.actor,
        });
      } catch (error) {
        deps.logger.error({ err: error, orderId: record.id }, "cancel not handed to the jobs");
        await ctx.answerCallbackQuery({
          text: "The cancel could not be handed over for execution. Try again.",
          show_alert: true,
        });
        return;
      }
      await appendLog(scope.db, {
        entity: "order",
        entityId: record.id,
        event: "CANCEL_REQUESTED",
        statusBefore: record.order.status,
        details: { symbol: record.order.symbol, clientOrderId: record.order.clientOrderId },
        source: scope.actor,
        accountId: scope.account.id,
        tradeId,
        orderId: record.id,
        occurredAt: deps.now(),
      });
      await ctx.answerCallbackQuery({ text: `Cancel of #${record.id} requested.` });
      await ctx.reply(
        `<b>Cancel requested</b> for ${orderLine(record)}\nYou will get a message when the broker confirms it.`,
        { parse_mode: "HTML" },
      );
    });

    return composer;
  },
};
