/**
 * The lifecycle queues: their names, the payload each carries (zod schemas that processors parse
 * with), and how to open and close them. Every queue lives under one BullMQ prefix, so a test
 * (or a second desk) can run beside a live instance on the same Redis.
 */
import type { JobsOptions, Queue } from "bullmq";
import { z } from "zod";
import { orderReportDataSchema } from "./brokerOrderPayload";
import { openQueue, type QueueConnection } from "./queueConnection";

/** Queue names. */
export const QUEUE_NAMES = {
  execute: "execute",
  orderEvents: "order-events",
  protect: "protect",
  value: "value",
  reconcile: "reconcile",
  daily: "daily",
  notify: "notify",
} as const;
export type QueueKey = keyof typeof QUEUE_NAMES;
export type QueueName = (typeof QUEUE_NAMES)[QueueKey];

/** The default BullMQ key prefix (BullMQ's own default is "bull"). */
export const DEFAULT_QUEUE_PREFIX = "desk";

const id = z.number().int().positive();

/**
 * `execute`: carry out a decision. NEW_TRADE sends the decision's entry; AMEND cancels the trade
 * it replaces, then sends the new decision's entry; CANCEL cancels a trade's working entry.
 */
export const executePayloadSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("NEW_TRADE"), decisionId: id }),
  z.object({ action: z.literal("AMEND"), decisionId: id, replacesTradeId: id }),
  z.object({
    action: z.literal("CANCEL"),
    accountId: id,
    tradeId: id,
    reason: z.string().min(1),
    requestedBy: z.string().min(1),
  }),
]);
export type ExecutePayload = z.infer<typeof executePayloadSchema>;

/** Where an order report came from. */
export const ORDER_REPORT_SOURCES = ["stream", "poll", "submit"] as const;
export type OrderReportSource = (typeof ORDER_REPORT_SOURCES)[number];

/**
 * `order-events`: one order report for the idempotent handler (from the stream, polling, or a
 * submit's answer), or a request to poll an account's recent orders.
 */
export const orderEventsPayloadSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("report"),
    accountId: id,
    source: z.enum(ORDER_REPORT_SOURCES),
    report: orderReportDataSchema,
    /**
     * A handling of this report already failed partway (in the stream holder's process): it may
     * have applied a fill and died before the fill's exits went out.
     */
    redelivered: z.boolean().optional(),
  }),
  z.object({ kind: z.literal("poll"), accountId: id, reason: z.string().min(1) }),
]);
export type OrderEventsPayload = z.infer<typeof orderEventsPayloadSchema>;

/** Why protection is asked for. */
export const PROTECTION_REASONS = [
  "entry_fill",
  "entry_ended",
  "exit_fill",
  "adopted",
  "repair",
  /** A kill-switch close cancelled the exits and failed or closed part: protect what is left. */
  "after_close",
] as const;
export type ProtectionReason = (typeof PROTECTION_REASONS)[number];

/**
 * `protect`: make a trade's live stop (and target) cover its open quantity: place, resize or
 * repair exits, and after the trade closes, make sure no exit is left working.
 */
export const protectPayloadSchema = z.object({
  accountId: id,
  tradeId: id,
  reason: z.enum(PROTECTION_REASONS),
  /** The entry fill that asked for it (keys the protective orders placed for it). */
  fillId: id.nullable().default(null),
});
export type ProtectPayload = z.infer<typeof protectPayloadSchema>;

/** One quote for valuation, decimals as strings. */
export const quotePayloadSchema = z.object({
  symbol: z.string().min(1),
  bid: z.string().nullable(),
  ask: z.string().nullable(),
  last: z.string().nullable(),
  at: z.string(),
});

/** `value`: mark an account's positions to market (from quotes given, or fetched). */
export const valuePayloadSchema = z.object({
  accountId: id,
  quotes: z.array(quotePayloadSchema).optional(),
});
export type ValuePayload = z.infer<typeof valuePayloadSchema>;

/** `reconcile`: compare an account's broker positions and orders with ours. */
export const reconcilePayloadSchema = z.object({
  accountId: id,
  reason: z.string().min(1),
});
export type ReconcilePayload = z.infer<typeof reconcilePayloadSchema>;

/** `daily`: the session-open reset or the end-of-day summary, for one account or all. */
export const dailyPayloadSchema = z.object({
  kind: z.enum(["session-open", "end-of-day"]),
  accountId: id.optional(),
});
export type DailyPayload = z.infer<typeof dailyPayloadSchema>;

/** `notify`: deliver what is due in the notification outbox. */
export const notifyPayloadSchema = z.object({ reason: z.string().default("scheduled") });
export type NotifyPayload = z.infer<typeof notifyPayloadSchema>;

/** The payload type of each queue. */
export interface QueuePayloads {
  execute: ExecutePayload;
  orderEvents: OrderEventsPayload;
  protect: ProtectPayload;
  value: ValuePayload;
  reconcile: ReconcilePayload;
  daily: DailyPayload;
  notify: NotifyPayload;
}

/** The schema that parses each queue's payload. */
export const PAYLOAD_SCHEMAS = {
  execute: executePayloadSchema,
  orderEvents: orderEventsPayloadSchema,
  protect: protectPayloadSchema,
  value: valuePayloadSchema,
  reconcile: reconcilePayloadSchema,
  daily: dailyPayloadSchema,
  notify: notifyPayloadSchema,
} as const satisfies { [K in QueueKey]: z.ZodType<QueuePayloads[K]> };

/** Every queue, by key. */
export type Queues = { readonly [K in QueueKey]: Queue<QueuePayloads[K]> };

export interface QueueOptions {
  /** Where the jobs are kept: a Redis connection shared by the queues, or a PostgreSQL store. */
  readonly connection: QueueConnection;
  /** BullMQ key prefix (default "desk"); tests use their own. */
  readonly prefix?: string;
}

/**
 * Retries with backoff for every job; finished jobs are kept a day (a day is longer than any
 * redelivery of the same event, and the job id then still says "done").
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 500 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Opens every lifecycle queue on one connection and prefix. */
export function createQueues(options: QueueOptions): Queues {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const open = <K extends QueueKey>(key: K): Queue<QueuePayloads[K]> =>
    openQueue<QueuePayloads[K]>(QUEUE_NAMES[key], options.connection, {
      prefix,
      defaultJobOptions: DEFAULT_JOB_OPTIONS,
    });
  return {
    execute: open("execute"),
    orderEvents: open("orderEvents"),
    protect: open("protect"),
    value: open("value"),
    reconcile: open("reconcile"),
    daily: open("daily"),
    notify: open("notify"),
  };
}

/** Closes every queue (not the shared connection, which belongs to the caller). */
export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue: Queue) => queue.close()));
}

/** Makes a string usable as a BullMQ job id: no ":" (BullMQ reserves it), never all digits. */
export function jobIdOf(...parts: readonly (string | number)[]): string {
  const joined = parts.map((p) => String(p).replace(/:/g, "_")).join("-");
  return /^\d+$/.test(joined) ? `j${joined}` : joined;
}
