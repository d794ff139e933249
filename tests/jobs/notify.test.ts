import { Worker } from "bullmq";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { enqueueNotification } from "../../db/notificationOutbox";
import { notificationOutbox } from "../../db/schema";
import {
  createNotifyProcessor,
  DEFAULT_NOTIFY_SETTINGS,
  deliverDueNotifications,
  type NoticeMessage,
  type NoticeSender,
  type NoticeSendResult,
  retryDelayMs,
  scheduleNotify,
} from "../../jobs/notify";
import { closeQueues, createQueues, QUEUE_NAMES } from "../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { TEST_REDIS_URL, useTestRedis } from "../support/redis";

const T0 = new Date("2026-03-02T15:00:00Z");
const logger = pino({ level: "silent" });
const testRedis = useTestRedis("jobs-notify");

/**
 * A sender that records what it was given and answers from a script: each entry is used once,
 * in order, then every send succeeds. (A port implementation, not a stand-in for Telegram.)
 */
class RecordingSender implements NoticeSender {
  readonly sent: NoticeMessage[] = [];
  readonly attempts: NoticeMessage[] = [];
  #nextMessageId = 1000;
  constructor(private readonly script: (NoticeSendResult | "throw")[] = []) {}
  async send(message: NoticeMessage): Promise<NoticeSendResult> {
    this.attempts.push(message);
    const scripted = this.script.shift();
    if (scripted === "throw") throw new Error("socket hang up");
    if (scripted !== undefined && !scripted.ok) return scripted;
    this.sent.push(message);
    this.#nextMessageId += 1;
    return { ok: true, telegramMessageId: this.#nextMessageId };
  }
}

describe("notify: outbox delivery", () => {
  let t: TestDatabase;
  let now: Date;
  beforeAll(async () => {
    t = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.truncate();
    now = T0;
  });

  const deps = (sender: NoticeSender, settings = {}) => ({
    db: t.db,
    sender,
    now: () => now,
    logger,
    settings,
  });

  async function queue(key: string, chatId = 42, kind = "ORDER_FILLED") {
    await enqueueNotification(t.db, { dedupeKey: key, chatId, kind, payload: { key } }, now);
  }

  async function row(key: string) {
    const [r] = await t.db
      .select()
      .from(notificationOutbox)
      .where(eq(notificationOutbox.dedupeKey, key));
    if (!r) throw new Error(`no outbox row ${key}`);
    return r;
  }

  it("delivers due messages in the order written, marks them sent, and sends nothing twice", async () => {
    await queue("a", 1);
    await queue("b", 2, "TRADE_CLOSED");
    await queue("c", 1);
    const sender = new RecordingSender();
    const process = createNotifyProcessor(deps(sender));
    expect(await process({ data: { reason: "test" } })).toEqual({
      sent: 3,
      retrying: 0,
      gaveUp: 0,
    });
    expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["a", "b", "c"]);
    expect(sender.sent[1]).toEqual({
      chatId: 2,
      kind: "TRADE_CLOSED",
      payload: { key: "b" },
      dedupeKey: "b",
    });
    const b = await row("b");
    expect(b.status).toBe("sent");
    expect(b.telegramMessageId).toBe(1002);
    expect(b.sentAt?.toISOString()).toBe(T0.toISOString());
    expect(await process({ data: {} })).toEqual({ sent: 0, retrying: 0, gaveUp: 0 });
    expect(sender.attempts).toHaveLength(3);
  });

  it("retries a failed delivery after its backoff and sends it once", async () => {
    await queue("flaky");
    const sender = new RecordingSender([
      { ok: false, retryable: true, error: "429 Too Many Requests" },
      "throw",
    ]);
    const d = deps(sender, { baseBackoffMs: 1000 });

    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 1, gaveUp: 0 });
    let r = await row("flaky");
    expect(r.status).toBe("pending");
    expect(r.lastError).toBe("429 Too Many Requests");
    expect(r.nextAttemptAt.getTime()).toBe(T0.getTime() + 1000);

    // Not due yet: nothing is tried.
    now = new Date(T0.getTime() + 999);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 0, gaveUp: 0 });

    // Second try: the sender throws (failed I/O), retried after twice the delay.
    now = new Date(T0.getTime() + 1000);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 1, gaveUp: 0 });
    r = await row("flaky");
    expect(r.lastError).toBe("socket hang up");
    expect(r.nextAttemptAt.getTime()).toBe(now.getTime() + 2000);

    now = new Date(now.getTime() + 2000);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    now = new Date(now.getTime() + 3_600_000);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 0, gaveUp: 0 });
    expect(sender.attempts).toHaveLength(3);
    expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["flaky"]);
    r = await row("flaky");
    expect(r.status).toBe("sent");
    expect(r.attempts).toBe(3);
    expect(r.lastError).toBeNull();
  });

  it("gives up at once on a refusal no retry can fix, and after the last attempt otherwise", async () => {
    await queue("blocked");
    await queue("doomed");
    const sender = new RecordingSender([
      { ok: false, retryable: false, error: "403 Forbidden: bot was blocked by the user" },
      { ok: false, retryable: true, error: "502" },
      { ok: false, retryable: true, error: "502" },
      { ok: false, retryable: true, error: "502" },
    ]);
    const d = deps(sender, { maxAttempts: 3, baseBackoffMs: 10 });
    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 1, gaveUp: 1 });
    expect((await row("blocked")).status).toBe("failed");
    for (let i = 0; i < 5; i++) {
      now = new Date(now.getTime() + 60_000);
      await deliverDueNotifications(d);
    }
    const doomed = await row("doomed");
    expect(doomed.status).toBe("failed");
    expect(doomed.attempts).toBe(3);
    expect(sender.attempts.map((m) => m.dedupeKey)).toEqual([
      "blocked",
      "doomed",
      "doomed",
      "doomed",
    ]);
    expect(sender.sent).toEqual([]);
  });

  it("lets two senders work side by side without sending a message twice", async () => {
    for (let i = 0; i < 40; i++) await queue(`m${String(i).padStart(2, "0")}`, i % 3);
    const a = new RecordingSender();
    const b = new RecordingSender();
    const settings = { batchSize: 5 };
    const [ra, rb] = await Promise.all([
      deliverDueNotifications(deps(a, settings)),
      deliverDueNotifications(deps(b, settings)),
    ]);
    expect(ra.sent + rb.sent).toBe(40);
    const keys = [...a.sent, ...b.sent].map((m) => m.dedupeKey).sort();
    expect(new Set(keys).size).toBe(40);
  });

  it("stops after its round limit while rows keep coming, leaving the rest for the next run", async () => {
    for (let i = 0; i < 12; i++) await queue(`r${i}`);
    const sender = new RecordingSender();
    expect(await deliverDueNotifications(deps(sender, { batchSize: 5, maxRounds: 2 }))).toEqual({
      sent: 10,
      retrying: 0,
      gaveUp: 0,
    });
    expect(await deliverDueNotifications(deps(sender, { batchSize: 5, maxRounds: 2 }))).toEqual({
      sent: 2,
      retrying: 0,
      gaveUp: 0,
    });
  });

  it("doubles the retry delay per attempt up to the cap", () => {
    const s = { ...DEFAULT_NOTIFY_SETTINGS, baseBackoffMs: 1000, maxBackoffMs: 5000 };
    expect([1, 2, 3, 4, 50].map((n) => retryDelayMs(n, s))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it("runs on its schedule through BullMQ and delivers what writers queue", async () => {
    const redis = testRedis.current;
    const queues = createQueues({ connection: redis.redis, prefix: redis.prefix });
    const sender = new RecordingSender([{ ok: false, retryable: true, error: "flaky" }]);
    const processor = createNotifyProcessor({
      db: t.db,
      sender,
      now: () => new Date(),
      logger,
      settings: { baseBackoffMs: 50 },
    });
    const workerConnection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(QUEUE_NAMES.notify, processor, {
      connection: workerConnection,
      prefix: redis.prefix,
    });
    try {
      await enqueueNotification(
        t.db,
        { dedupeKey: "scheduled", chatId: 7, kind: "DAILY_SUMMARY", payload: {} },
        new Date(),
      );
      await scheduleNotify(queues.notify, { everyMs: 100 });
      await scheduleNotify(queues.notify, { everyMs: 100 });
      expect(await queues.notify.getJobSchedulersCount()).toBe(1);
      const deadline = Date.now() + 10_000;
      while (sender.sent.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["scheduled"]);
      expect(sender.attempts).toHaveLength(2);
      expect((await row("scheduled")).status).toBe("sent");
    } finally {
      await worker.close();
      await queues.notify.removeJobScheduler("notify-every");
      await closeQueues(queues);
      await workerConnection.quit();
    }
  });
});
