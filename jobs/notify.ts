/**
 * The `notify` processor: delivers what is due in the notification outbox. Rows are claimed with
 * a lease (concurrent senders skip each other's rows; a sender that dies lets its lease lapse),
 * handed one by one, in the order they were written, to a `NoticeSender`, and marked sent, or
 * failed with a backoff, or given up after the last attempt or a refusal that no retry can fix.
 * The outbox row is the message's only copy until Telegram accepted it, so a crash anywhere means
 * "sent again later", never "lost": at least once, and the sender sees each row's dedupe key.
 */
import type { Job, Queue } from "bullmq";
import type { Logger } from "pino";
import type { Database } from "../db/database";
import {
  claimDueNotifications,
  markNotificationFailed,
  markNotificationSent,
  type OutboxMessage,
} from "../db/notificationOutbox";
import { jobIdOf, type NotifyPayload, notifyPayloadSchema } from "./queues";

/** One message as the sender gets it: the notice payload is rendered by the sender. */
export interface NoticeMessage {
  readonly chatId: number;
  readonly kind: string;
  readonly payload: Record<string, unknown>;
  readonly dedupeKey: string;
}

/** What a delivery attempt ended with. `retryable: false` gives the message up (e.g. the chat blocked the bot). */
export type NoticeSendResult =
  | { readonly ok: true; readonly telegramMessageId: number | null }
  | { readonly ok: false; readonly retryable: boolean; readonly error: string };

/** The port through which notices leave the desk (Telegram in production). */
export interface NoticeSender {
  send(message: NoticeMessage): Promise<NoticeSendResult>;
}

export interface NotifySettings {
  /** Rows claimed per round (default 50). */
  readonly batchSize: number;
  /** How long a claimed row is held before another sender may retry it (default 60 s). */
  readonly leaseMs: number;
  /** Attempts before a message is given up (default 10). */
  readonly maxAttempts: number;
  /** First retry delay, doubled per attempt (default 5 s), capped at `maxBackoffMs` (default 15 min). */
  readonly baseBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Rounds per job at most, so one job never runs unbounded while rows keep arriving (default 20). */
  readonly maxRounds: number;
  /** How often the scheduler runs the processor (default 5 s); writers also ask for a run. */
  readonly everyMs: number;
}

export const DEFAULT_NOTIFY_SETTINGS: NotifySettings = {
  batchSize: 50,
  leaseMs: 60_000,
  maxAttempts: 10,
  baseBackoffMs: 5_000,
  maxBackoffMs: 15 * 60_000,
  maxRounds: 20,
  everyMs: 5_000,
};

export interface NotifyDeps {
  readonly db: Database;
  readonly sender: NoticeSender;
  now(): Date;
  readonly logger: Logger;
  readonly settings?: Partial<NotifySettings>;
}

/** What one delivery pass did. */
export interface NotifyResult {
  readonly sent: number;
  /** Failed this time, to be retried. */
  readonly retrying: number;
  /** Given up: refused for good, or out of attempts. */
  readonly gaveUp: number;
}

/** The delay before the next attempt after `attempts` tries: doubling from the base, capped. */
export function retryDelayMs(attempts: number, settings: NotifySettings): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 30));
  return Math.min(settings.maxBackoffMs, settings.baseBackoffMs * 2 ** exponent);
}

function messageOf(row: OutboxMessage): NoticeMessage {
  return { chatId: row.chatId, kind: row.kind, payload: row.payload, dedupeKey: row.dedupeKey };
}

/** Claims and delivers due outbox rows until none are due (or `maxRounds` rounds ran). */
export async function deliverDueNotifications(deps: NotifyDeps): Promise<NotifyResult> {
  const settings = { ...DEFAULT_NOTIFY_SETTINGS, ...deps.settings };
  let sent = 0;
  let retrying = 0;
  let gaveUp = 0;
  for (let round = 0; round < settings.maxRounds; round++) {
    const rows = await claimDueNotifications(
      deps.db,
      settings.batchSize,
      settings.leaseMs,
      deps.now(),
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      let result: NoticeSendResult;
      try {
        result = await deps.sender.send(messageOf(row));
      } catch (error) {
        // A sender that throws failed at I/O: worth another try.
        result = {
          ok: false,
          retryable: true,
          error: error instanceof Error ? error.message : String(error),
        };
      }
      const at = deps.now();
      if (result.ok) {
        await markNotificationSent(deps.db, row.id, result.telegramMessageId, at);
        sent += 1;
        continue;
      }
      // `attempts` already counts this try (the claim counted it).
      const giveUp = !result.retryable || row.attempts >= settings.maxAttempts;
      const retryAt = giveUp ? null : new Date(at.getTime() + retryDelayMs(row.attempts, settings));
      await markNotificationFailed(deps.db, row.id, result.error, retryAt);
      deps.logger[giveUp ? "error" : "warn"](
        {
          outboxId: row.id,
          kind: row.kind,
          chatId: row.chatId,
          attempts: row.attempts,
          retryAt: retryAt?.toISOString() ?? null,
          error: result.error,
        },
        giveUp ? "notice given up" : "notice delivery failed, will retry",
      );
      if (giveUp) gaveUp += 1;
      else retrying += 1;
    }
    if (rows.length < settings.batchSize) break;
  }
  return { sent, retrying, gaveUp };
}

/** Builds the `notify` processor. */
export function createNotifyProcessor(deps: NotifyDeps) {
  return async function processNotify(job: Pick<Job, "data">): Promise<NotifyResult> {
    const payload: NotifyPayload = notifyPayloadSchema.parse(job.data);
    const result = await deliverDueNotifications(deps);
    if (result.sent + result.retrying + result.gaveUp > 0) {
      deps.logger.debug({ reason: payload.reason, ...result }, "outbox delivered");
    }
    return result;
  };
}

/** Schedules the outbox pass every `everyMs` (idempotent: the scheduler id is fixed). */
export async function scheduleNotify(
  queue: Queue<NotifyPayload>,
  settings: Partial<NotifySettings> = {},
): Promise<void> {
  const everyMs = settings.everyMs ?? DEFAULT_NOTIFY_SETTINGS.everyMs;
  await queue.upsertJobScheduler(
    jobIdOf("notify", "every"),
    { every: everyMs },
    { name: "notify", data: { reason: "scheduled" } },
  );
}
