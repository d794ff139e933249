import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import type { OrderSide, OrderType, TimeInForce } from "../domain/order";
import { compileStatement, type Database, runCompiled } from "./database";
import { appendLog } from "./executionLog";
import { parseJsonNumbersAsText, rowOfJson } from "./jsonRows";
import { type DecisionSource, type DecisionStatus, decisions, executionLog } from "./schema";

/** A sized trade plan and where it stands. */
export type Decision = typeof decisions.$inferSelect;

export interface DecisionDraft {
  readonly accountId: number;
  readonly source: DecisionSource;
  readonly alertId?: number | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly entryType: Extract<OrderType, "market" | "limit">;
  readonly entryPrice: Decimal | null;
  readonly stopPrice: Decimal;
  readonly targetPrice: Decimal | null;
  readonly quantity: Decimal;
  readonly riskAmount: Decimal;
  readonly timeInForce?: TimeInForce;
  /** `user:<telegram id>`, `alert:<external id>`, `api`. */
  readonly createdBy: string;
  /**
   * A decision made at creation: approved (a trader's own plan confirmed in the conversation) or
   * rejected (a plan card cancelled, holding its key so the card's Confirm makes nothing).
   */
  readonly status?: Extract<DecisionStatus, "pending" | "approved" | "rejected">;
  /** Why it was decided so, for a decision rejected at creation. */
  readonly statusReason?: string | null;
  readonly decidedByUserId?: number | null;
  readonly scheduledFor?: Date | null;
  readonly expiresAt?: Date | null;
  /** The trader's own words on the plan (the execution API's `notes`). */
  readonly notes?: string | null;
}

function decisionLog(
  d: Decision,
  event: string,
  before: DecisionStatus | null,
  source: string,
  at: Date,
  details: Record<string, unknown> = {},
) {
  return {
    entity: "decision" as const,
    entityId: d.id,
    event,
    statusBefore: before,
    statusAfter: d.status,
    details,
    source,
    accountId: d.accountId,
    decisionId: d.id,
    occurredAt: at,
  };
}

/** Keeps the plan card a decision was confirmed on, so its notices can answer that message. */
export async function recordDecisionMessage(
  db: Database,
  decisionId: number,
  card: { readonly chatId: number; readonly messageId: number },
): Promise<void> {
  await db
    .update(decisions)
    .set({ planChatId: card.chatId, planMessageId: card.messageId })
    .where(eq(decisions.id, decisionId));
}

/** Records a new decision (pending, or approved or rejected when decided on creation). */
export async function createDecision(
  db: Database,
  draft: DecisionDraft,
  at: Date,
): Promise<Decision> {
  const row = await insertDecision(db, draft, null, at);
  if (!row) throw new Error("insert of a decision returned no row");
  return row;
}

/** What makes an API submit idempotent: the client's key, the request's hash and its answer. */
export interface DecisionIdempotency {
  readonly key: string;
  readonly requestHash: string;
  readonly submitAnswer: Record<string, unknown>;
}

/**
 * Records a new decision under an idempotency key, once per account and key: when the key is
 * taken (by an earlier request, or by one racing this one: the unique index decides), nothing is
 * written and the decision holding it is answered with `created: false`.
 */
export async function createDecisionOnce(
  db: Database,
  draft: DecisionDraft,
  idempotency: DecisionIdempotency,
  at: Date,
): Promise<{ readonly created: boolean; readonly decision: Decision }> {
  const row = await insertDecision(db, draft, idempotency, at);
  if (row) return { created: true, decision: row };
  // The conflict waited for the holder's commit, so this read finds it.
  const holder = await findDecisionByIdempotencyKey(db, draft.accountId, idempotency.key);
  if (!holder) throw new Error(`idempotency key ${idempotency.key} conflicts with no decision`);
  return { created: false, decision: holder };
}

/** The decision an account's idempotency key made, or null. */
export async function findDecisionByIdempotencyKey(
  db: Database,
  accountId: number,
  key: string,
): Promise<Decision | null> {
  const [row] = await db
    .select()
    .from(decisions)
    .where(and(eq(decisions.accountId, accountId), eq(decisions.idempotencyKey, key)));
  return row ?? null;
}

/** The insert and its log row; null when the idempotency key is taken (nothing written). */
async function insertDecision(
  db: Database,
  draft: DecisionDraft,
  idempotency: DecisionIdempotency | null,
  at: Date,
): Promise<Decision | null> {
  return db.transaction(async (tx) => {
    const status = draft.status ?? "pending";
    const insert = tx.insert(decisions).values({
      accountId: draft.accountId,
      source: draft.source,
      alertId: draft.alertId ?? null,
      symbol: draft.symbol,
      side: draft.side,
      entryType: draft.entryType,
      entryPrice: draft.entryPrice,
      stopPrice: draft.stopPrice,
      targetPrice: draft.targetPrice,
      quantity: draft.quantity,
      riskAmount: draft.riskAmount,
      timeInForce: draft.timeInForce ?? "day",
      status,
      statusReason: draft.statusReason ?? null,
      createdBy: draft.createdBy,
      decidedByUserId: draft.decidedByUserId ?? null,
      decidedAt: status === "pending" ? null : at,
      scheduledFor: draft.scheduledFor ?? null,
      expiresAt: draft.expiresAt ?? null,
      notes: draft.notes ?? null,
      idempotencyKey: idempotency?.key ?? null,
      requestHash: idempotency?.requestHash ?? null,
      submitAnswer: idempotency?.submitAnswer ?? null,
      createdAt: at,
      updatedAt: at,
    });
    const [row] = await (idempotency === null
      ? insert
      : insert.onConflictDoNothing({
          // The partial unique index decisions_account_idempotency_key.
          target: [decisions.accountId, decisions.idempotencyKey],
          where: sql`${sql.identifier("idempotency_key")} is not null`,
        })
    ).returning();
    if (!row) return null;
    await appendLog(
      tx,
      decisionLog(row, "CREATED", null, draft.createdBy, at, {
        symbol: row.symbol,
        side: row.side,
        entryType: row.entryType,
        entryPrice: row.entryPrice,
        stopPrice: row.stopPrice,
        targetPrice: row.targetPrice,
        quantity: row.quantity,
        riskAmount: row.riskAmount,
        alertId: row.alertId,
        ...(row.notes === null ? {} : { notes: row.notes }),
        ...(idempotency === null ? {} : { idempotencyKey: idempotency.key }),
      }),
    );
    return row;
  });
}

/** The decision with this id, or null. */
export async function findDecision(db: Database, id: number): Promise<Decision | null> {
  const [row] = await db.select().from(decisions).where(eq(decisions.id, id));
  return row ?? null;
}

/**
 * Moves a decision from one of `from` to `to` with one conditional update, logging it in the same
 * transaction. Null when the decision is not in any of `from` (someone else moved it first).
 */
async function moveDecision(
  db: Database,
  id: number,
  from: readonly DecisionStatus[],
  to: DecisionStatus,
  fields: Partial<typeof decisions.$inferInsert>,
  source: string,
  at: Date,
  details: Record<string, unknown> = {},
): Promise<Decision | null> {
  return db.transaction(async (tx) => {
    // From one status, the update's condition says what it was; from several, it is read first.
    let before = from.length === 1 ? from[0] : undefined;
    if (before === undefined) {
      const [read] = await tx
        .select({ status: decisions.status })
        .from(decisions)
        .where(eq(decisions.id, id))
        .for("update");
      if (!read || !from.includes(read.status)) return null;
      before = read.status;
    }
    const [row] = await tx
      .update(decisions)
      .set({ ...fields, status: to, updatedAt: at })
      .where(and(eq(decisions.id, id), inArray(decisions.status, [...from])))
      .returning();
    if (!row) return null;
    await appendLog(
      tx,
      decisionLog(row, `STATUS_${to.toUpperCase()}`, before, source, at, details),
    );
    return row;
  });
}

/**
 * A trader approves or rejects a pending decision. Null if it is no longer pending (already
 * decided, or expired): the second tap on a button changes nothing.
 */
export async function decideDecision(
  db: Database,
  id: number,
  decision: { readonly approve: boolean; readonly userId: number; readonly reason?: string },
  source: string,
  at: Date,
): Promise<Decision | null> {
  return moveDecision(
    db,
    id,
    ["pending"],
    decision.approve ? "approved" : "rejected",
    { decidedByUserId: decision.userId, decidedAt: at, statusReason: decision.reason ?? null },
    source,
    at,
  );
}

/**
 * Claims an approved decision for execution (approved -> executing) if it is due. Exactly one of
 * any number of concurrent callers gets the decision; the others get null. The claim commits
 * without waiting for the disk (a claim lost in a crash is made again by the job's retry): the
 * caller makes it durable (`awaitEarlierCommits`) before anything it decides leaves the database.
 */
export async function claimDecisionForExecution(
  db: Database,
  id: number,
  source: string,
  at: Date,
): Promise<Decision | null> {
  const [row] = await runCompiled<{ row: string }>(db, claimStatement, {
    id,
    at: at.toISOString(),
    source,
  });
  return row ? decisionOfJson(row.row) : null;
}

/**
 * The claim and its log row in one statement (one round trip, atomic on its own). Its commit does
 * not wait for the disk (`set_config(..., true)` is the statement's own `set local`): nothing is
 * sent on the claim's word until a later flush (execute makes the entry durable before sending).
 */
const claimStatement = compileStatement(
  sql`with d as (
    update ${decisions} set status = 'executing', updated_at = ${sql.placeholder("at")}::timestamptz
    where id = ${sql.placeholder("id")}::bigint and status = 'approved'
      and (scheduled_for is null or scheduled_for <= ${sql.placeholder("at")}::timestamptz)
      and (expires_at is null or expires_at > ${sql.placeholder("at")}::timestamptz)
    returning *
  ), l as (
    insert into ${executionLog} (entity, entity_id, event, status_before, status_after, details,
      source, account_id, decision_id, occurred_at)
    select 'decision', d.id::text, 'STATUS_EXECUTING', 'approved', d.status::text, '{}'::jsonb,
      ${sql.placeholder("source")}::text, d.account_id, d.id,
      ${sql.placeholder("at")}::timestamptz
    from d
  )
  select set_config('synchronous_commit', 'off', true) as async_commit,
    row_to_json(d)::text as row
  from d`,
);

/**
 * Ends an execution (`executing` to `executed` or `failed`) and logs it, in one statement: it
 * runs inside the transaction that stores the broker's answer, one round trip and no savepoint.
 */
const finishStatement = compileStatement(
  sql`with d as (
    update ${decisions} set status = ${sql.placeholder("to")}::decision_status,
      updated_at = ${sql.placeholder("at")}::timestamptz,
      executed_at = coalesce(${sql.placeholder("executedAt")}::timestamptz, executed_at),
      status_reason = coalesce(${sql.placeholder("reason")}::text, status_reason)
    where id = ${sql.placeholder("id")}::bigint and status = 'executing'
    returning *
  ), l as (
    insert into ${executionLog} (entity, entity_id, event, status_before, status_after, details,
      source, account_id, decision_id, occurred_at)
    select 'decision', d.id::text, ${sql.placeholder("event")}::text, 'executing', d.status::text,
      ${sql.placeholder("details")}::jsonb, ${sql.placeholder("source")}::text, d.account_id,
      d.id, ${sql.placeholder("at")}::timestamptz
    from d
  )
  select row_to_json(d)::text as row from d`,
);

function decisionOfJson(text: string): Decision {
  return rowOfJson<Decision>(decisions, parseJsonNumbersAsText(text) as Record<string, unknown>);
}

/** Ends an execution: executed (the entry is at the broker) or failed with the reason. */
export async function finishDecisionExecution(
  db: Database,
  id: number,
  result: { readonly executed: true } | { readonly executed: false; readonly reason: string },
  source: string,
  at: Date,
): Promise<Decision | null> {
  const to: DecisionStatus = result.executed ? "executed" : "failed";
  const [row] = await runCompiled<{ row: string }>(db, finishStatement, {
    id,
    to,
    at: at.toISOString(),
    executedAt: result.executed ? at.toISOString() : null,
    reason: result.executed ? null : result.reason,
    event: `STATUS_${to.toUpperCase()}`,
    details: JSON.stringify(result.executed ? {} : { reason: result.reason }),
    source,
  });
  return row ? decisionOfJson(row.row) : null;
}

/**
 * Fails an approved decision that was never claimed (`approved` to `failed`) with the reason, and
 * logs it. Null when it is no longer approved (claimed, decided otherwise meanwhile).
 */
export async function failApprovedDecision(
  db: Database,
  id: number,
  reason: string,
  source: string,
  at: Date,
): Promise<Decision | null> {
  return moveDecision(db, id, ["approved"], "failed", { statusReason: reason }, source, at, {
    reason,
  });
}

/** Approved decisions due for execution at `at`, oldest first. */
export async function listDueDecisions(db: Database, at: Date): Promise<Decision[]> {
  return db
    .select()
    .from(decisions)
    .where(
      and(
        eq(decisions.status, "approved"),
        or(isNull(decisions.scheduledFor), lte(decisions.scheduledFor, at)),
      ),
    )
    .orderBy(asc(decisions.id));
}

/** Expires pending and approved decisions whose expiry has passed; returns them. */
export async function expireDecisions(db: Database, at: Date): Promise<Decision[]> {
  return db.transaction(async (tx) => {
    const due = await tx
      .select({ id: decisions.id, status: decisions.status })
      .from(decisions)
      .where(and(inArray(decisions.status, ["pending", "approved"]), lte(decisions.expiresAt, at)))
      .for("update", { skipLocked: true });
    if (due.length === 0) return [];
    const rows = await tx
      .update(decisions)
      .set({ status: "expired", updatedAt: at })
      .where(
        and(
          inArray(
            decisions.id,
            due.map((d) => d.id),
          ),
          inArray(decisions.status, ["pending", "approved"]),
        ),
      )
      .returning();
    const before = new Map(due.map((d) => [d.id, d.status]));
    await appendLog(
      tx,
      rows.map((r) =>
        decisionLog(r, "STATUS_EXPIRED", before.get(r.id) ?? null, "system:expiry", at),
      ),
    );
    return rows;
  });
}
