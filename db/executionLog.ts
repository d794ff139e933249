import { and, asc, desc, eq, or, type SQL } from "drizzle-orm";
import type { Database } from "./database";
import { executionLog, type LogEntity } from "./schema";

/** One audit event, as written. Decimals in `details` serialize as exact strings. */
export interface LogEntry {
  readonly entity: LogEntity;
  readonly entityId: string | number;
  readonly event: string;
  readonly statusBefore?: string | null;
  readonly statusAfter?: string | null;
  readonly details?: Record<string, unknown>;
  /** Who or what caused it: `stream`, `poll`, `reconcile`, `user:<telegram id>`, `system:<rule>`, `api`. */
  readonly source: string;
  readonly accountId?: number | null;
  readonly decisionId?: number | null;
  readonly tradeId?: number | null;
  readonly orderId?: number | null;
  readonly occurredAt: Date;
}

/** One audit event, as read back. */
export interface LoggedEvent {
  readonly id: number;
  readonly entity: LogEntity;
  readonly entityId: string;
  readonly event: string;
  readonly statusBefore: string | null;
  readonly statusAfter: string | null;
  readonly details: Record<string, unknown>;
  readonly source: string;
  readonly accountId: number | null;
  readonly decisionId: number | null;
  readonly tradeId: number | null;
  readonly orderId: number | null;
  readonly occurredAt: Date;
  readonly recordedAt: Date;
}

/**
 * Appends audit events. Call it with the transaction that makes the change, so the change and its
 * record commit together or not at all.
 */
export async function appendLog(
  db: Database,
  entries: LogEntry | readonly LogEntry[],
): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries as LogEntry];
  if (list.length === 0) return;
  await db.insert(executionLog).values(logRows(list));
}

/** The rows to insert for audit events (for callers that fold the insert into a larger statement). */
export function logRows(entries: readonly LogEntry[]): (typeof executionLog.$inferInsert)[] {
  return entries.map((e) => ({
    entity: e.entity,
    entityId: String(e.entityId),
    event: e.event,
    statusBefore: e.statusBefore ?? null,
    statusAfter: e.statusAfter ?? null,
    // Round trip through JSON so Decimals and Dates become their exact string forms.
    details: JSON.parse(JSON.stringify(e.details ?? {})) as Record<string, unknown>,
    source: e.source,
    accountId: e.accountId ?? null,
    decisionId: e.decisionId ?? null,
    tradeId: e.tradeId ?? null,
    orderId: e.orderId ?? null,
    occurredAt: e.occurredAt,
  }));
}

/**
 * Audit events as one JSON value (for `apply_order_writes` and the exit-group statement): one
 * parameter instead of fourteen per event keeps a many-part statement cheap to build and to send.
 * The rows are the same as `appendLog` writes.
 */
export function logRowsJson(entries: readonly LogEntry[]): string {
  return JSON.stringify(
    entries.map((e) => ({
      entity: e.entity,
      entity_id: String(e.entityId),
      event: e.event,
      status_before: e.statusBefore ?? null,
      status_after: e.statusAfter ?? null,
      details: e.details ?? {},
      source: e.source,
      account_id: e.accountId ?? null,
      decision_id: e.decisionId ?? null,
      trade_id: e.tradeId ?? null,
      order_id: e.orderId ?? null,
      occurred_at: e.occurredAt.toISOString(),
    })),
  );
}

/** Which events to read: any combination, joined with OR (a trade's story spans its orders). */
export interface LogFilter {
  readonly entity?: { readonly type: LogEntity; readonly id: string | number };
  readonly accountId?: number;
  readonly decisionId?: number;
  readonly tradeId?: number;
  readonly orderId?: number;
}

/** Reads audit events in the order they were written. An empty filter reads nothing. */
export async function readLog(db: Database, filter: LogFilter): Promise<LoggedEvent[]> {
  const conditions: SQL[] = [];
  if (filter.entity) {
    const byEntity = and(
      eq(executionLog.entity, filter.entity.type),
      eq(executionLog.entityId, String(filter.entity.id)),
    );
    if (byEntity) conditions.push(byEntity);
  }
  if (filter.accountId !== undefined) conditions.push(eq(executionLog.accountId, filter.accountId));
  if (filter.decisionId !== undefined) {
    conditions.push(eq(executionLog.decisionId, filter.decisionId));
  }
  if (filter.tradeId !== undefined) conditions.push(eq(executionLog.tradeId, filter.tradeId));
  if (filter.orderId !== undefined) conditions.push(eq(executionLog.orderId, filter.orderId));
  if (conditions.length === 0) return [];
  return db
    .select()
    .from(executionLog)
    .where(or(...conditions))
    .orderBy(asc(executionLog.id));
}

/** When the latest entry of the log happened (any account), or null for an empty log. */
export async function lastLoggedAt(db: Database): Promise<Date | null> {
  const [row] = await db
    .select({ at: executionLog.occurredAt })
    .from(executionLog)
    .orderBy(desc(executionLog.occurredAt))
    .limit(1);
  return row?.at ?? null;
}
