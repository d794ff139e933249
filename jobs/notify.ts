/**
 * The `notify` processor: delivers what is due in the notification outbox. Rows are claimed with
 * a lease (concurrent senders skip each other's rows; a sender that dies lets its lease lapse)
 * and handed to a `NoticeSender` all at once, in the order they were written, so the sender can
 * merge what is due for one chat (a burst of fills becomes a few messages, not one a second).
 * Each row is marked by its own result as soon as it has one: sent, or failed with a backoff, or
 * given up after the last attempt or a refusal that no retry can fix. The outbox row is the
 * message's only copy until Telegram accepted it, so a crash anywhere means "sent again later",
 * never "lost": at least once, and the sender sees each row's dedupe key. A notice of a kind this
 * version does not know is never taken: it waits for a process that knows it, and is warned of.
 */
import type { Job, Queue } from "bullmq";
import { and, asc, eq, notInArray, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Database } from "../db/database";
import {
  claimDueNotifications,
  extendNotificationLeases,
  markNotificationFailed,
  markNotificationSent,
  moveChatNotifications,
  type OutboxMessage,
} from "../db/notificationOutbox";
import { notificationOutbox } from "../db/schema";
import { NOTICE_KINDS } from "../domain/notifications";
import { jobIdOf, type NotifyPayload, notifyPayloadSchema } from "./queues";

/** One message as the sender gets it: the notice payload is rendered by the sender. */
export interface NoticeMessage {
  readonly chatId: number;
  readonly kind: string;
  readonly payload: Record<string, unknown>;
  readonly dedupeKey: string;
}

/**
 * What a delivery attempt ended with. `retryable: false` gives the message up (e.g. the chat
 * blocked the bot). `retryAfterMs` is Telegram's flood wait (429 retry_after): the message is
 * tried again no sooner, and the wait does not count as one of its attempts. `movedToChatId` is
 * the chat's new id when Telegram moved it (a group upgraded to a supergroup): the chat's waiting
 * messages are moved there.
 */
export type NoticeSendResult = (
  | { readonly ok: true; readonly telegramMessageId: number | null }
  | {
      readonly ok: false;
      readonly retryable: boolean;
      readonly error: string;
      readonly retryAfterMs?: number;
    }
) & { readonly movedToChatId?: number };

/**
 * The port through which notices leave the desk (Telegram in production). The job calls `send`
 * for every claimed row without waiting between calls: an implementation keeps each chat's rows
 * in call order, may merge rows into one message, and resolves each call when that row's message
 * went out (or failed).
 */
export interface NoticeSender {
  send(message: NoticeMessage): Promise<NoticeSendResult>;
}

export interface NotifySettings {
  /** Rows claimed and handed to the sender together per round (default 200). */
  readonly batchSize: number;
  /**
   * How long a claimed row is held before another sender may retry it (default 1 min). The run
   * renews it while the row is out, so it need not outlast a round; a sender that died holds its
   * rows, and the later rows of their chats, this long.
   */
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
  /**
   * A notice of a kind this process does not know is left for one that does (a newer version
   * during a rolling deploy, or one stopped for a while), never taken: this process could only
   * give it up. Once one has waited this long, the processor warns of it, again at this interval
   * while it waits (default 1 h).
   */
  readonly unknownKindGraceMs: number;
}

export const DEFAULT_NOTIFY_SETTINGS: NotifySettings = {
  batchSize: 200,
  leaseMs: 60_000,
  maxAttempts: 10,
  baseBackoffMs: 5_000,
  maxBackoffMs: 15 * 60_000,
  maxRounds: 20,
  everyMs: 5_000,
  unknownKindGraceMs: 60 * 60_000,
};

export interface NotifyDeps {
  readonly db: Database;
  readonly sender: NoticeSender;
  now(): Date;
  readonly logger: Logger;
  readonly settings?: Partial<NotifySettings>;
  /** The notice kinds this process delivers (default: every kind of this version's notices). */
  readonly noticeKinds?: readonly string[];
  /** Where notices given up are counted, for an operator to alert on (the desk's /metrics). */
  readonly metrics?: NotifyMetrics;
}

/** Why a notice was given up: refused for good, or its attempts ran out. */
export type GiveUpReason = "refused" | "out_of_attempts";

/** The counters the notify job keeps (app/metrics.ts provides them). */
export interface NotifyMetrics {
  readonly noticesGivenUp: {
    inc(labels: { readonly kind: string; readonly reason: GiveUpReason }): void;
  };
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

/** Hands one row to the sender; a sender that throws failed at I/O, which is worth another try. */
function attemptSend(sender: NoticeSender, row: OutboxMessage): Promise<NoticeSendResult> {
  const failed = (error: unknown): NoticeSendResult => ({
    ok: false,
    retryable: true,
    error: error instanceof Error ? error.message : String(error),
  });
  try {
    return sender.send(messageOf(row)).catch(failed);
  } catch (error) {
    return Promise.resolve(failed(error));
  }
}

type RowOutcome = "sent" | "retrying" | "gaveUp";

/** Records what became of one row. */
async function settleRow(
  deps: NotifyDeps,
  settings: NotifySettings,
  row: OutboxMessage,
  result: NoticeSendResult,
): Promise<RowOutcome> {
  const at = deps.now();
  if (result.movedToChatId !== undefined && result.movedToChatId !== row.chatId) {
    // This row and the chat's others waiting go to the new id from now on (a later row written
    // for the old id is redirected by the sender and moved the same way).
    const moved = await moveChatNotifications(deps.db, row.chatId, result.movedToChatId);
    if (moved > 0) {
      deps.logger.warn(
        { chatId: row.chatId, movedToChatId: result.movedToChatId, moved },
        "chat moved: its waiting notices follow it",
      );
    }
  }
  if (result.ok) {
    await markNotificationSent(deps.db, row.id, result.telegramMessageId, at);
    return "sent";
  }
  // Flood control is Telegram pacing the desk, not the message failing: a long wait must not use
  // up its attempts (a burst would give fills up), and a retry before retry_after is refused.
  const floodWaitMs = result.retryable ? result.retryAfterMs : undefined;
  // `attempts` already counts this try (the claim counted it).
  const giveUp =
    !result.retryable || (floodWaitMs === undefined && row.attempts >= settings.maxAttempts);
  const delayMs = Math.max(floodWaitMs ?? 0, retryDelayMs(row.attempts, settings));
  const retryAt = giveUp ? null : new Date(at.getTime() + delayMs);
  await markNotificationFailed(deps.db, row.id, result.error, retryAt, {
    countAttempt: floodWaitMs === undefined,
  });
  if (giveUp) {
    deps.metrics?.noticesGivenUp.inc({
      kind: row.kind,
      reason: result.retryable ? "out_of_attempts" : "refused",
    });
  }
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
  return giveUp ? "gaveUp" : "retrying";
}

/**
 * Renews the lease of the rows still out every third of a lease: a round can outlast one (flood
 * waits, a slow group chat), and a lapsed lease would let the next run send them a second time.
 * Returns the stop.
 */
function renewLeases(
  deps: NotifyDeps,
  settings: NotifySettings,
  unsettled: ReadonlySet<number>,
): () => void {
  const timer = setInterval(
    () => {
      const until = new Date(deps.now().getTime() + settings.leaseMs);
      extendNotificationLeases(deps.db, [...unsettled], until).catch((error: unknown) => {
        deps.logger.warn({ err: error }, "outbox lease not renewed");
      });
    },
    Math.max(1, Math.floor(settings.leaseMs / 3)),
  );
  return () => clearInterval(timer);
}

/** Claims and delivers due outbox rows until none are due (or `maxRounds` rounds ran). */
export async function deliverDueNotifications(deps: NotifyDeps): Promise<NotifyResult> {
  const settings = { ...DEFAULT_NOTIFY_SETTINGS, ...deps.settings };
  const counts: Record<RowOutcome, number> = { sent: 0, retrying: 0, gaveUp: 0 };
  for (let round = 0; round < settings.maxRounds; round++) {
    const at = deps.now();
    const rows = await claimDueNotifications(deps.db, settings.batchSize, settings.leaseMs, at, {
      kinds: deps.noticeKinds ?? NOTICE_KINDS,
      // Written by no row: a notice of another kind is never taken, however old.
      othersWrittenBy: NO_ROW_WRITTEN_BY,
    });
    if (rows.length === 0) break;
    // Every row is handed over before any is awaited (in claimed order, which keeps each chat's
    // order), and marked the moment its own message is out.
    const unsettled = new Set(rows.map((row) => row.id));
    const stopRenewing = renewLeases(deps, settings, unsettled);
    const outcomes = await Promise.allSettled(
      rows.map(async (row) => {
        const result = await attemptSend(deps.sender, row);
        unsettled.delete(row.id);
        return settleRow(deps, settings, row, result);
      }),
    ).finally(stopRenewing);
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") counts[outcome.value] += 1;
    }
    // A row that could not be marked stays leased and is sent again later: the job fails loudly.
    const failedMark = outcomes.find((outcome) => outcome.status === "rejected");
    if (failedMark !== undefined) throw failedMark.reason;
    if (rows.length < settings.batchSize) break;
  }
  return { ...counts };
}

/** Before every outbox row: the claim then takes no row of a kind this process does not know. */
const NO_ROW_WRITTEN_BY = new Date(0);

/**
 * Warns, one line per kind, of the notices of kinds this process does not know that have waited
 * `unknownKindGraceMs` or longer: no process that knows them is delivering them (a newer version
 * stopped or rolled back), which an operator must see, since this process leaves them alone.
 * Returns when to look again: a grace period on, or sooner when a younger one comes of age.
 */
async function warnOfUnknownKinds(deps: NotifyDeps, settings: NotifySettings): Promise<number> {
  const at = deps.now().getTime();
  // A read of the outbox's pending rows (the due index), kept here beside the claim it mirrors.
  const waiting = await deps.db
    .select({
      kind: notificationOutbox.kind,
      waiting: sql<number>`count(*)::int`,
      oldest: sql<string>`min(${notificationOutbox.createdAt})`,
    })
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.status, "pending"),
        notInArray(notificationOutbox.kind, [...(deps.noticeKinds ?? NOTICE_KINDS)]),
      ),
    )
    .groupBy(notificationOutbox.kind)
    .orderBy(asc(notificationOutbox.kind));
  let next = at + settings.unknownKindGraceMs;
  for (const row of waiting) {
    const oldest = new Date(row.oldest);
    const ofAge = oldest.getTime() + settings.unknownKindGraceMs;
    if (ofAge > at) {
      next = Math.min(next, ofAge);
      continue;
    }
    deps.logger.warn(
      { kind: row.kind, waiting: row.waiting, oldestWrittenAt: oldest.toISOString() },
      "notices of a kind this desk does not know are waiting for a desk that knows it",
    );
  }
  return next;
}

/**
 * Builds the `notify` processor. It also warns of notices left waiting for a process that knows
 * their kind, at most once per `unknownKindGraceMs`.
 */
export function createNotifyProcessor(deps: NotifyDeps) {
  const settings = { ...DEFAULT_NOTIFY_SETTINGS, ...deps.settings };
  let nextUnknownCheck = Number.NEGATIVE_INFINITY;
  return async function processNotify(job: Pick<Job, "data">): Promise<NotifyResult> {
    const payload: NotifyPayload = notifyPayloadSchema.parse(job.data);
    const result = await deliverDueNotifications(deps);
    if (result.sent + result.retrying + result.gaveUp > 0) {
      deps.logger.debug({ reason: payload.reason, ...result }, "outbox delivered");
    }
    if (deps.now().getTime() >= nextUnknownCheck) {
      // Warning is all it is for: a failed look delivers nothing less, so it is logged, not thrown.
      await warnOfUnknownKinds(deps, settings).then(
        (next) => {
          nextUnknownCheck = next;
        },
        (error: unknown) => {
          deps.logger.warn({ err: error }, "waiting notices of unknown kinds not checked");
        },
      );
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
