import { and, asc, desc, eq } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import type { Database } from "./database";
import { appendLog } from "./executionLog";
import { type AlertStatus, alertMessages, alerts, executionLog } from "./schema";

/** A scanner alert as stored. */
export type Alert = typeof alerts.$inferSelect;

/** A Telegram message an alert was sent as. */
export type AlertMessage = typeof alertMessages.$inferSelect;

export interface AlertInput {
  readonly externalId: string;
  readonly accountId?: number | null;
  readonly symbol: string;
  readonly pattern?: string | null;
  readonly score?: Decimal | null;
  readonly entryPrice?: Decimal | null;
  readonly stopPrice?: Decimal | null;
  readonly targetPrice?: Decimal | null;
  readonly lastPrice?: Decimal | null;
  readonly source?: string | null;
  readonly payload: Record<string, unknown>;
  readonly expiresAt?: Date | null;
}

/**
 * Stores an alert once per external id. `created` is false when the id was seen before: the
 * stored alert is returned unchanged, so a resent webhook is one alert.
 */
export async function recordAlert(
  db: Database,
  input: AlertInput,
  at: Date,
): Promise<{ readonly alert: Alert; readonly created: boolean }> {
  return db.transaction(async (tx) => {
    const [created] = await tx
      .insert(alerts)
      .values({
        externalId: input.externalId,
        accountId: input.accountId ?? null,
        symbol: input.symbol,
        pattern: input.pattern ?? null,
        score: input.score ?? null,
        entryPrice: input.entryPrice ?? null,
        stopPrice: input.stopPrice ?? null,
        targetPrice: input.targetPrice ?? null,
        lastPrice: input.lastPrice ?? null,
        source: input.source ?? null,
        payload: input.payload,
        receivedAt: at,
        expiresAt: input.expiresAt ?? null,
        updatedAt: at,
      })
      .onConflictDoNothing({ target: alerts.externalId })
      .returning();
    if (created) {
      await appendLog(tx, {
        entity: "alert",
        entityId: created.id,
        event: "RECEIVED",
        statusAfter: created.status,
        details: { externalId: created.externalId, symbol: created.symbol, source: created.source },
        source: `alert:${created.source ?? "unknown"}`,
        accountId: created.accountId,
        occurredAt: at,
      });
      return { alert: created, created: true };
    }
    const [existing] = await tx
      .select()
      .from(alerts)
      .where(eq(alerts.externalId, input.externalId));
    if (!existing) throw new Error("alert neither inserted nor found");
    return { alert: existing, created: false };
  });
}

/** The alert with this id, or null. */
export async function findAlert(db: Database, id: number): Promise<Alert | null> {
  const [row] = await db.select().from(alerts).where(eq(alerts.id, id));
  return row ?? null;
}

/** The alert with this external id, or null. */
export async function findAlertByExternalId(
  db: Database,
  externalId: string,
): Promise<Alert | null> {
  const [row] = await db.select().from(alerts).where(eq(alerts.externalId, externalId));
  return row ?? null;
}

/**
 * Moves an alert from one of `from` to `to`, logged (with `details`, when given). Null when it is
 * in none of them (already approved, rejected or expired by someone else).
 */
export async function moveAlert(
  db: Database,
  id: number,
  from: readonly AlertStatus[],
  to: AlertStatus,
  source: string,
  at: Date,
  details?: Record<string, unknown>,
): Promise<Alert | null> {
  return db.transaction(async (tx) => {
    const [before] = await tx
      .select({ status: alerts.status })
      .from(alerts)
      .where(eq(alerts.id, id))
      .for("update");
    if (!before || !from.includes(before.status)) return null;
    const [row] = await tx
      .update(alerts)
      .set({ status: to, updatedAt: at })
      .where(eq(alerts.id, id))
      .returning();
    if (!row) return null;
    await appendLog(tx, {
      entity: "alert",
      entityId: id,
      event: `STATUS_${to.toUpperCase()}`,
      statusBefore: before.status,
      statusAfter: to,
      ...(details === undefined ? {} : { details }),
      source,
      accountId: row.accountId,
      occurredAt: at,
    });
    return row;
  });
}

/**
 * Who took the alert's latest move to `to` (approved or rejected) and the details it was logged
 * with (moveAlert's `details`), or null when it never made that move.
 */
export async function findAlertDecision(
  db: Database,
  id: number,
  to: Extract<AlertStatus, "approved" | "rejected">,
): Promise<{ readonly source: string; readonly details: Record<string, unknown> } | null> {
  const [row] = await db
    .select({ source: executionLog.source, details: executionLog.details })
    .from(executionLog)
    .where(
      and(
        eq(executionLog.entity, "alert"),
        eq(executionLog.entityId, String(id)),
        eq(executionLog.event, `STATUS_${to.toUpperCase()}`),
      ),
    )
    .orderBy(desc(executionLog.id))
    .limit(1);
  return row ?? null;
}

/**
 * Gives an approved alert back to the traders: the decision that took it was withdrawn before
 * anything was sent (the job queue did not answer), and an alert left approved could never be
 * approved again. It goes back to the status it was taken from (received while its fan-out waits
 * for a resend, else sent), logged with `reason`. Null when it is not approved.
 */
export async function reopenAlert(
  db: Database,
  id: number,
  reason: string,
  source: string,
  at: Date,
): Promise<Alert | null> {
  return db.transaction(async (tx) => {
    const [before] = await tx
      .select({ status: alerts.status })
      .from(alerts)
      .where(eq(alerts.id, id))
      .for("update");
    if (before?.status !== "approved") return null;
    const [taken] = await tx
      .select({ statusBefore: executionLog.statusBefore })
      .from(executionLog)
      .where(
        and(
          eq(executionLog.entity, "alert"),
          eq(executionLog.entityId, String(id)),
          eq(executionLog.event, "STATUS_APPROVED"),
        ),
      )
      .orderBy(desc(executionLog.id))
      .limit(1);
    const to: AlertStatus = taken?.statusBefore === "received" ? "received" : "sent";
    const [row] = await tx
      .update(alerts)
      .set({ status: to, updatedAt: at })
      .where(eq(alerts.id, id))
      .returning();
    if (!row) return null;
    await appendLog(tx, {
      entity: "alert",
      entityId: id,
      event: "REOPENED",
      statusBefore: "approved",
      statusAfter: to,
      details: { reason },
      source,
      accountId: row.accountId,
      occurredAt: at,
    });
    return row;
  });
}

/** Remembers that an alert was sent as this Telegram message (repeatable). */
export async function recordAlertMessage(
  db: Database,
  message: { readonly alertId: number; readonly chatId: number; readonly messageId: number },
  at: Date,
): Promise<void> {
  await db
    .insert(alertMessages)
    .values({ ...message, sentAt: at })
    .onConflictDoNothing();
}

/** The Telegram messages an alert was sent as, in sending order. */
export async function listAlertMessages(db: Database, alertId: number): Promise<AlertMessage[]> {
  return db
    .select()
    .from(alertMessages)
    .where(eq(alertMessages.alertId, alertId))
    .orderBy(asc(alertMessages.id));
}
