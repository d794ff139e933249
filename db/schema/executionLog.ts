import { bigint, index, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { instant } from "./columns";
import { logEntity } from "./enums";

/**
 * The append-only audit trail: every change of an order, position, trade, decision or trading
 * state, written in the same transaction as the change. A trigger refuses UPDATE, DELETE and
 * TRUNCATE. The correlation columns (account, decision, trade, order) answer "why did this order go
 * out, and what happened to it?" with one indexed query.
 */
export const executionLog = pgTable(
  "execution_log",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    entity: logEntity("entity").notNull(),
    entityId: text("entity_id").notNull(),
    event: text("event").notNull(),
    statusBefore: text("status_before"),
    statusAfter: text("status_after"),
    details: jsonb("details").$type<Record<string, unknown>>().notNull().default({}),
    /** Who or what caused it: `stream`, `poll`, `reconcile`, `user:<telegram id>`, `system:<rule>`, `api`. */
    source: text("source").notNull(),
    accountId: bigint("account_id", { mode: "number" }),
    decisionId: bigint("decision_id", { mode: "number" }),
    tradeId: bigint("trade_id", { mode: "number" }),
    orderId: bigint("order_id", { mode: "number" }),
    /** When it happened (the event's time); `recorded_at` is when it was written. */
    occurredAt: instant("occurred_at").notNull(),
    recordedAt: instant("recorded_at").notNull().defaultNow(),
  },
  (t) => [
    index("execution_log_entity_idx").on(t.entity, t.entityId, t.id),
    index("execution_log_trade_idx").on(t.tradeId, t.id),
    index("execution_log_order_idx").on(t.orderId, t.id),
    index("execution_log_decision_idx").on(t.decisionId, t.id),
    index("execution_log_account_time_idx").on(t.accountId, t.occurredAt),
  ],
);
