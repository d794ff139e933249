import { and, asc, eq } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import { marketValue, type Position, unrealizedPnl } from "../domain/position";
import type { Database } from "./database";
import { appendLog } from "./executionLog";
import { positions } from "./schema";

type PositionRow = typeof positions.$inferSelect;

/** An open position as stored: the domain `Position` plus its valuation and protection. */
export interface PositionRecord {
  readonly id: number;
  readonly accountId: number;
  readonly tradeId: number | null;
  readonly position: Position;
  readonly averageCost: Decimal;
  readonly markPrice: Decimal | null;
  readonly marketValue: Decimal | null;
  readonly unrealizedPnl: Decimal | null;
  readonly protectiveOrderIds: readonly number[];
  readonly openedAt: Date;
  readonly markedAt: Date | null;
  readonly updatedAt: Date;
}

/** The domain position held in a row. */
export function positionOfRow(row: PositionRow): Position {
  return {
    symbol: row.symbol,
    quantity: row.quantity,
    costBasis: row.costBasis,
    realizedPnl: row.realizedPnl,
    commissions: row.commissions,
  };
}

/** The record of a row. */
export function positionRecordOfRow(row: PositionRow): PositionRecord {
  return {
    id: row.id,
    accountId: row.accountId,
    tradeId: row.tradeId,
    position: positionOfRow(row),
    averageCost: row.averageCost,
    markPrice: row.markPrice,
    marketValue: row.marketValue,
    unrealizedPnl: row.unrealizedPnl,
    protectiveOrderIds: row.protectiveOrderIds,
    openedAt: row.openedAt,
    markedAt: row.markedAt,
    updatedAt: row.updatedAt,
  };
}

/** The open position of an account in a symbol, or null when flat. */
export async function findPosition(
  db: Database,
  accountId: number,
  symbol: string,
): Promise<PositionRecord | null> {
  const [row] = await db
    .select()
    .from(positions)
    .where(and(eq(positions.accountId, accountId), eq(positions.symbol, symbol)));
  return row ? positionRecordOfRow(row) : null;
}

/** Every open position of an account, by symbol. */
export async function listPositions(db: Database, accountId: number): Promise<PositionRecord[]> {
  const rows = await db
    .select()
    .from(positions)
    .where(eq(positions.accountId, accountId))
    .orderBy(asc(positions.symbol));
  return rows.map(positionRecordOfRow);
}

/**
 * Marks a position to market at a price (domain `marketValue`, `unrealizedPnl`) under a row lock;
 * a fill applied at the same moment sees the row changed and is applied again on top of it. Null when the position is flat.
 * Valuation is not a change of the position, so it is not logged.
 */
export async function markPosition(
  db: Database,
  accountId: number,
  symbol: string,
  markPrice: Decimal,
  at: Date,
): Promise<PositionRecord | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(positions)
      .where(and(eq(positions.accountId, accountId), eq(positions.symbol, symbol)))
      .for("update");
    if (!row) return null;
    const position = positionOfRow(row);
    const [updated] = await tx
      .update(positions)
      .set({
        markPrice,
        marketValue: marketValue(position, markPrice),
        unrealizedPnl: unrealizedPnl(position, markPrice),
        markedAt: at,
      })
      .where(eq(positions.id, row.id))
      .returning();
    return updated ? positionRecordOfRow(updated) : null;
  });
}

/** Replaces the list of orders protecting a position (after the protect job placed or repaired them). */
export async function setProtectiveOrders(
  db: Database,
  positionId: number,
  orderIds: readonly number[],
  source: string,
  at: Date,
): Promise<void> {
  await db.transaction(async (tx) => {
    const [row] = await tx
      .update(positions)
      .set({ protectiveOrderIds: [...orderIds], updatedAt: at })
      .where(eq(positions.id, positionId))
      .returning();
    if (!row) return;
    await appendLog(tx, {
      entity: "position",
      entityId: row.id,
      event: "PROTECTION_SET",
      details: { symbol: row.symbol, protectiveOrderIds: orderIds },
      source,
      accountId: row.accountId,
      tradeId: row.tradeId,
      occurredAt: at,
    });
  });
}
