/**
 * The recurring jobs, in America/New_York: polling every minute of the session and once after
 * the close, valuation every minute of the session and every 2 minutes of the extended sessions
 * (pre-market from 04:00, after hours to 20:00: the broker triggers no stop then, so the
 * valuation's loss checks are the only guard of a position held through them), reconciliation
 * every 10 minutes of the session and after the close, the session-open reset and the
 * end-of-day summary, and outbox delivery every few seconds. Cron patterns are minute hour
 * day-of-month month day-of-week; the processors ask the broker's calendar whether a session is
 * actually on (holidays, and an early close's after hours, which the 09:00-15:59 pattern covers).
 */
import type { QueueKey, QueuePayloads } from "./queues";

export const NEW_YORK = "America/New_York";

/**
 * The name of the scheduled valuation of the extended sessions: the value processor values the
 * account only on a trading day between 04:00 and 20:00 New York (pre-market, after hours), and
 * only while the books hold positions. Valuations asked for otherwise (the session's schedule,
 * exit fills, streamed quotes) always run.
 */
export const EXTENDED_HOURS_VALUATION = "value-extended";

export interface Schedule<K extends QueueKey = QueueKey> {
  readonly queue: K;
  /** The scheduler id: one scheduler per id, however many processes upsert it. */
  readonly id: string;
  readonly repeat: { readonly pattern: string; readonly tz: string } | { readonly every: number };
  readonly name: string;
  readonly data: QueuePayloads[K];
}

type AnySchedule = { [K in QueueKey]: Schedule<K> }[QueueKey];

/** Every recurring job for these accounts. */
export function lifecycleSchedules(accountIds: readonly number[]): AnySchedule[] {
  const schedules: AnySchedule[] = [];
  for (const accountId of accountIds) {
    schedules.push(
      {
        queue: "orderEvents",
        id: `poll-session-${accountId}`,
        repeat: { pattern: "* 9-15 * * 1-5", tz: NEW_YORK },
        name: "poll",
        data: { kind: "poll", accountId, reason: "scheduled" },
      },
      {
        queue: "orderEvents",
        id: `poll-after-close-${accountId}`,
        repeat: { pattern: "5 16 * * 1-5", tz: NEW_YORK },
        name: "poll",
        data: { kind: "poll", accountId, reason: "after-close" },
      },
      {
        queue: "value",
        id: `value-session-${accountId}`,
        repeat: { pattern: "* 9-15 * * 1-5", tz: NEW_YORK },
        name: "value",
        data: { accountId },
      },
      // Skipped by the processor off a trading day's 04:00-20:00 and without positions.
      {
        queue: "value",
        id: `value-pre-market-${accountId}`,
        repeat: { pattern: "*/2 4-8 * * 1-5", tz: NEW_YORK },
        name: EXTENDED_HOURS_VALUATION,
        data: { accountId },
      },
      {
        queue: "value",
        id: `value-after-hours-${accountId}`,
        repeat: { pattern: "*/2 16-19 * * 1-5", tz: NEW_YORK },
        name: EXTENDED_HOURS_VALUATION,
        data: { accountId },
      },
      {
        queue: "reconcile",
        id: `reconcile-session-${accountId}`,
        repeat: { pattern: "*/10 9-15 * * 1-5", tz: NEW_YORK },
        name: "reconcile",
        data: { accountId, reason: "scheduled" },
      },
      {
        queue: "reconcile",
        id: `reconcile-after-close-${accountId}`,
        repeat: { pattern: "15 16 * * 1-5", tz: NEW_YORK },
        name: "reconcile",
        data: { accountId, reason: "after-close" },
      },
    );
  }
  schedules.push(
    {
      queue: "daily",
      id: "session-open",
      repeat: { pattern: "30 9 * * 1-5", tz: NEW_YORK },
      name: "session-open",
      data: { kind: "session-open" },
    },
    {
      queue: "daily",
      id: "end-of-day",
      repeat: { pattern: "20 16 * * 1-5", tz: NEW_YORK },
      name: "end-of-day",
      data: { kind: "end-of-day" },
    },
    {
      queue: "notify",
      id: "notify",
      repeat: { every: 5_000 },
      name: "notify",
      data: { reason: "scheduled" },
    },
  );
  return schedules;
}
