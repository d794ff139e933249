/** Rows the repository tests start from: an account, a decision and a journalled trade entry. */
import { sql } from "drizzle-orm";
import { ensureBrokerAccount } from "../../db/brokerAccounts";
import type { Database } from "../../db/database";
import { createDecision } from "../../db/decisions";
import { recordTradeEntry, type TradeEntryRecorded } from "../../db/trades";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";

export const T0 = new Date("2026-03-02T14:35:00Z");

/** Seconds after T0, as a Date. */
export function at(seconds: number): Date {
  return new Date(T0.getTime() + seconds * 1000);
}

let accounts = 0;

/** A fresh paper account with a unique broker account id. */
export async function createAccount(db: Database): Promise<number> {
  accounts += 1;
  const account = await ensureBrokerAccount(
    db,
    { environment: "paper", brokerAccountId: `PA-${process.pid}-${accounts}-${Date.now()}` },
    T0,
  );
  return account.id;
}

export interface EntryOptions {
  readonly symbol?: string;
  readonly quantity?: string;
  readonly entry?: string;
  readonly stop?: string;
  readonly target?: string;
  /** Send stop and target as bracket legs (held until the entry fills). */
  readonly bracket?: boolean;
}

/** An approved decision for a long limit entry and its journalled trade with the entry order. */
export async function enterLong(
  db: Database,
  accountId: number,
  options: EntryOptions = {},
): Promise<TradeEntryRecorded> {
  const symbol = options.symbol ?? "AAPL";
  const quantity = dec(options.quantity ?? "100");
  const entry = dec(options.entry ?? "190.10");
  const stop = dec(options.stop ?? "184.50");
  const target = dec(options.target ?? "205.00");
  const risk = entry.minus(stop).times(quantity);
  const decision = await createDecision(
    db,
    {
      accountId,
      source: "manual",
      symbol,
      side: "buy",
      entryType: "limit",
      entryPrice: entry,
      stopPrice: stop,
      targetPrice: target,
      quantity,
      riskAmount: risk,
      createdBy: "user:1",
      status: "approved",
    },
    T0,
  );
  const base = { symbol, timeInForce: "day" as const, limitPrice: null, stopPrice: null };
  const orderClass = options.bracket ? ("bracket" as const) : ("simple" as const);
  return recordTradeEntry(
    db,
    {
      accountId,
      decisionId: decision.id,
      plan: {
        symbol,
        side: "long",
        plannedEntryPrice: entry,
        plannedStopPrice: stop,
        plannedTargetPrice: target,
        plannedQuantity: quantity,
        plannedRisk: risk,
      },
      entry: {
        order: createOrder(
          {
            ...base,
            clientOrderId: `dec-${decision.id}-entry`,
            side: "buy",
            type: "limit",
            orderClass,
            role: "ENTRY",
            quantity,
            limitPrice: entry,
          },
          T0.toISOString(),
        ),
        expectedPrice: entry,
      },
      legs: options.bracket
        ? [
            {
              order: createOrder(
                {
                  ...base,
                  clientOrderId: `dec-${decision.id}-sl`,
                  side: "sell",
                  type: "stop",
                  orderClass,
                  role: "STOP_LOSS",
                  quantity,
                  stopPrice: stop,
                },
                T0.toISOString(),
                "held",
              ),
              expectedPrice: stop,
            },
            {
              order: createOrder(
                {
                  ...base,
                  clientOrderId: `dec-${decision.id}-tp`,
                  side: "sell",
                  type: "limit",
                  orderClass,
                  role: "TAKE_PROFIT",
                  quantity,
                  limitPrice: target,
                },
                T0.toISOString(),
                "held",
              ),
              expectedPrice: target,
            },
          ]
        : [],
    },
    "user:1",
    T0,
  );
}

/**
 * `count` filled entries of history for an account, over 30 symbols, created one a minute before
 * now and last changed `changedMinutesAgo` minutes ago (statistics taken): the books of a desk
 * that has traded for a while, for the reads that must not grow with them.
 */
export async function insertEndedOrderHistory(
  db: Database,
  accountId: number,
  count: number,
  changedMinutesAgo = 0,
): Promise<void> {
  await db.execute(sql`insert into orders (client_order_id, broker_order_id, symbol, side, type,
      time_in_force, order_class, role, quantity, filled_quantity, filled_notional, status,
      last_event_at, account_id, created_at, updated_at)
    select 'history-' || ${accountId} || '-' || g, 'b-history-' || ${accountId} || '-' || g,
      'H' || (g % 30), 'buy', 'limit', 'day', 'simple', 'ENTRY', 1, 1, 100, 'filled', now(),
      ${accountId}, now() - make_interval(mins => g),
      now() - make_interval(mins => ${changedMinutesAgo})
    from generate_series(1, ${count}) g`);
  await db.execute(sql`analyze orders`);
}

/**
 * `count` closed trades for an account, over 30 symbols, each a $1 loss stopped out, closed a
 * minute apart from `closedMinutesAgo` + 1 minutes before now back (statistics taken): the
 * journal of a desk that has traded for a while.
 */
export async function insertClosedTradeHistory(
  db: Database,
  accountId: number,
  count: number,
  closedMinutesAgo: number,
): Promise<void> {
  await db.execute(sql`insert into trades (account_id, symbol, side, status, planned_entry,
      planned_stop, planned_quantity, planned_risk, exit_reason, realized_pnl, opened_at,
      closed_at, last_event_at, created_at, updated_at)
    select ${accountId}, 'H' || (g % 30), 'long', 'CLOSED', 100, 99, 1, 1, 'STOPPED_OUT', -1,
      now() - make_interval(mins => ${closedMinutesAgo} + g + 5),
      now() - make_interval(mins => ${closedMinutesAgo} + g),
      now(), now(), now()
    from generate_series(1, ${count}) g`);
  await db.execute(sql`analyze trades`);
}
