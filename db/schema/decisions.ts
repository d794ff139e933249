import { sql } from "drizzle-orm";
import { bigint, check, index, jsonb, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { alerts } from "./alerts";
import { decimal, instant } from "./columns";
import { decisionSource, decisionStatus, orderSide, orderType, timeInForce } from "./enums";
import { users } from "./users";

/**
 * A sized trade plan waiting for, or carrying, a trader's yes or no. The `executing` status is
 * taken by one conditional update, so a decision is executed at most once.
 */
export const decisions = pgTable(
  "decisions",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: bigint("account_id", { mode: "number" })
      .notNull()
      .references(() => brokerAccounts.id),
    source: decisionSource("source").notNull(),
    alertId: bigint("alert_id", { mode: "number" }).references(() => alerts.id),
    symbol: text("symbol").notNull(),
    side: orderSide("side").notNull(),
    /** `market` or `limit`; a limit entry carries its price. */
    entryType: orderType("entry_type").notNull(),
    entryPrice: decimal("entry_price"),
    stopPrice: decimal("stop_price").notNull(),
    targetPrice: decimal("target_price"),
    quantity: decimal("quantity").notNull(),
    /** Dollars lost if the stop is hit at the planned entry. */
    riskAmount: decimal("risk_amount").notNull(),
    timeInForce: timeInForce("time_in_force").notNull().default("day"),
    status: decisionStatus("status").notNull().default("pending"),
    statusReason: text("status_reason"),
    createdBy: text("created_by").notNull(),
    decidedByUserId: bigint("decided_by_user_id", { mode: "number" }).references(() => users.id),
    decidedAt: instant("decided_at"),
    /** When the entry should be sent; null means as soon as it is approved. */
    scheduledFor: instant("scheduled_for"),
    expiresAt: instant("expires_at"),
    executedAt: instant("executed_at"),
    /** The plan card the decision was confirmed on: its fills answer that message. */
    planChatId: bigint("plan_chat_id", { mode: "number" }),
    planMessageId: bigint("plan_message_id", { mode: "number" }),
    /**
     * The `Idempotency-Key` an API client sent with the submit that made this decision: one
     * decision per key and account, so a retried submit answers this one instead of another.
     */
    idempotencyKey: text("idempotency_key"),
    /** SHA-256 of the submit request, to tell a retry from another request under the same key. */
    requestHash: text("request_hash"),
    /** The trader's own words on the plan (the execution API's `notes`), kept with it. */
    notes: text("notes"),
    /** The submit's answer (without id and time), sent again to a retry. */
    submitAnswer: jsonb("submit_answer").$type<Record<string, unknown>>(),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    index("decisions_status_idx").on(t.status, t.scheduledFor),
    index("decisions_alert_idx").on(t.alertId),
    uniqueIndex("decisions_account_idempotency_key")
      .on(t.accountId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    check("decisions_quantity_positive", sql`${t.quantity} > 0`),
    check(
      "decisions_limit_has_price",
      sql`${t.entryType} <> 'limit' or ${t.entryPrice} is not null`,
    ),
  ],
);
