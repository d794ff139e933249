/**
 * Journal, orders and positions for the desk's command tests, written as the lifecycle leaves
 * them: a filled bracket entry with its live stop and target and a marked position, a working
 * entry, and closed trades.
 */
import { eq } from "drizzle-orm";
import type { Database } from "../../db/database";
import { markPosition } from "../../db/positions";
import { orders, positions, trades } from "../../db/schema";
import { dec } from "../../domain/money";
import { enterLong } from "../db/fixtures";

/** A long position from a filled bracket entry, protected, marked at `mark`. */
export async function seedOpenPosition(
  db: Database,
  accountId: number,
  input: {
    symbol: string;
    quantity: string;
    entry: string;
    stop: string;
    target: string;
    mark: string;
  },
  at: Date,
) {
  const recorded = await enterLong(db, accountId, { ...input, bracket: true });
  const quantity = dec(input.quantity);
  const entry = dec(input.entry);
  await db
    .update(orders)
    .set({
      status: "filled",
      filledQuantity: quantity,
      filledNotional: quantity.times(entry),
      filledAvgPrice: entry,
      filledAt: at,
    })
    .where(eq(orders.id, recorded.entry.id));
  for (const leg of recorded.legs) {
    await db.update(orders).set({ status: "new" }).where(eq(orders.id, leg.id));
  }
  await db
    .update(trades)
    .set({
      status: "POSITION",
      quantity,
      costBasis: quantity.times(entry),
      entryQuantity: quantity,
      entryNotional: quantity.times(entry),
      entryPrice: entry,
      openedAt: at,
    })
    .where(eq(trades.id, recorded.trade.id));
  await db.insert(positions).values({
    accountId,
    tradeId: recorded.trade.id,
    symbol: input.symbol,
    quantity,
    costBasis: quantity.times(entry),
    averageCost: entry,
    realizedPnl: dec(0),
    commissions: dec(0),
    protectiveOrderIds: recorded.legs.map((leg) => leg.id),
    openedAt: at,
    updatedAt: at,
  });
  await markPosition(db, accountId, input.symbol, dec(input.mark), at);
  return recorded;
}

/** A limit entry the broker has accepted and not filled. */
export async function seedWorkingEntry(
  db: Database,
  accountId: number,
  input: { symbol: string; quantity: string; entry: string; stop: string; target: string },
) {
  const recorded = await enterLong(db, accountId, { ...input, bracket: true });
  await db
    .update(orders)
    .set({ status: "new", brokerOrderId: `broker-${recorded.entry.id}` })
    .where(eq(orders.id, recorded.entry.id));
  return recorded;
}

export interface ClosedTradeSeed {
  readonly symbol: string;
  readonly realizedPnl: string;
  readonly rMultiple: string;
  readonly closedAt: Date;
  readonly exitReason: "STOPPED_OUT" | "PROFIT_TAKEN" | "MANUAL_EXIT" | "FLATTENED";
}

/** Closed trades (adopted: no decision), in one statement. */
export async function seedClosedTrades(
  db: Database,
  accountId: number,
  seeds: readonly ClosedTradeSeed[],
): Promise<number[]> {
  const rows = await db
    .insert(trades)
    .values(
      seeds.map((seed) => ({
        accountId,
        symbol: seed.symbol,
        side: "long" as const,
        status: "CLOSED" as const,
        plannedEntry: dec("100"),
        plannedStop: dec("95"),
        plannedTarget: dec("110"),
        plannedQuantity: dec("10"),
        plannedRisk: dec("50"),
        entryQuantity: dec("10"),
        entryNotional: dec("1000"),
        entryPrice: dec("100"),
        exitQuantity: dec("10"),
        exitNotional: dec("1000").plus(dec(seed.realizedPnl)),
        exitPrice: dec("1000").plus(dec(seed.realizedPnl)).div(10),
        exitReason: seed.exitReason,
        realizedPnl: dec(seed.realizedPnl),
        rMultiple: dec(seed.rMultiple),
        openedAt: new Date(seed.closedAt.getTime() - 3_600_000),
        closedAt: seed.closedAt,
        lastEventAt: seed.closedAt,
        createdAt: seed.closedAt,
        updatedAt: seed.closedAt,
      })),
    )
    .returning({ id: trades.id });
  return rows.map((row) => row.id);
}
