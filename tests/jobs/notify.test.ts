import { Worker } from "bullmq";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createMetrics } from "../../app/metrics";
import { createDeskNoticeSender } from "../../bot/notify/deskNoticeSender";
import type { TelegramNoticeSender } from "../../bot/notify/telegramNoticeSender";
import { createTelegramApi } from "../../bot/telegramApi";
import { claimDueNotifications, enqueueNotification } from "../../db/notificationOutbox";
import { notificationOutbox } from "../../db/schema";
import { NOTICE_KINDS, type OrderFilledNotice } from "../../domain/notifications";
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
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

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

  it("keeps a chat's order: what was written after a notice waiting for its retry waits behind it", async () => {
    await queue("entry", 1, "ENTRY_SUBMITTED");
    const sender = new RecordingSender([{ ok: false, retryable: true, error: "502" }]);
    const d = deps(sender, { baseBackoffMs: 5_000 });
    expect(await deliverDueNotifications(d)).toEqual({ sent: 0, retrying: 1, gaveUp: 0 });

    now = new Date(T0.getTime() + 1_000);
    await queue("fill", 1);
    await queue("other chat", 2);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["other chat"]);
    expect((await row("fill")).attempts).toBe(0);

    now = new Date(T0.getTime() + 5_000);
    expect(await deliverDueNotifications(d)).toEqual({ sent: 2, retrying: 0, gaveUp: 0 });
    expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["other chat", "entry", "fill"]);

    // A notice given up holds nothing back.
    await queue("blocked", 3);
    await queue("after blocked", 3);
    const refusing = new RecordingSender([
      { ok: false, retryable: false, error: "403 Forbidden: bot was blocked by the user" },
    ]);
    expect(await deliverDueNotifications(deps(refusing))).toEqual({
      sent: 1,
      retrying: 0,
      gaveUp: 1,
    });
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

  /** Delivers as a newer process, one that knows the POSITION_SCALED notice: what and which. */
  async function deliverAsNewer() {
    const newer = new RecordingSender();
    const result = await deliverDueNotifications({
      ...deps(newer),
      noticeKinds: [...NOTICE_KINDS, "POSITION_SCALED"],
    });
    return { result, sent: newer.sent.map((m) => m.dedupeKey) };
  }

  it("leaves a notice of a kind it does not know to a process that does, without holding its chat back", async () => {
    // Written by a newer process during a rolling deploy; this (older) one delivers the rest.
    await queue("newer kind", 1, "POSITION_SCALED");
    await queue("fill after it", 1);
    const older = new RecordingSender();
    expect(await deliverDueNotifications(deps(older))).toEqual({
      sent: 1,
      retrying: 0,
      gaveUp: 0,
    });
    expect(older.attempts.map((m) => m.dedupeKey)).toEqual(["fill after it"]);
    const left = await row("newer kind");
    expect([left.status, left.attempts]).toEqual(["pending", 0]);

    // The newer process knows the kind and delivers it.
    expect(await deliverAsNewer()).toEqual({
      result: { sent: 1, retrying: 0, gaveUp: 0 },
      sent: ["newer kind"],
    });
  });

  it("never gives up a notice of a kind it does not know, however long it waits, and warns of it", async () => {
    // Written by a newer process that has not delivered it yet (stopped, or still rolling out).
    await queue("newer kind", 5, "POSITION_SCALED");
    // As the Telegram sender answers a kind it cannot render: were it handed over, it would be lost.
    const refusing: NoticeSender = {
      async send(message) {
        return {
          ok: false,
          retryable: false,
          error: `not a notice this desk knows: ${message.kind}`,
        };
      },
    };
    const warnings: Record<string, unknown>[] = [];
    const capture = pino(
      { level: "warn" },
      { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const older = createNotifyProcessor({ ...deps(refusing), logger: capture });
    const nothing = { sent: 0, retrying: 0, gaveUp: 0 };
    const grace = DEFAULT_NOTIFY_SETTINGS.unknownKindGraceMs;

    now = new Date(T0.getTime() + grace - 1);
    expect(await older({ data: {} })).toEqual(nothing);
    expect(warnings).toEqual([]);

    now = new Date(T0.getTime() + grace);
    expect(await older({ data: {} })).toEqual(nothing);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: 40,
      kind: "POSITION_SCALED",
      waiting: 1,
      oldestWrittenAt: T0.toISOString(),
    });
    // Warned again a grace period later (not on every run) while it still waits.
    now = new Date(T0.getTime() + grace + 1);
    expect(await older({ data: {} })).toEqual(nothing);
    now = new Date(T0.getTime() + 30 * grace);
    expect(await older({ data: {} })).toEqual(nothing);
    expect(warnings).toHaveLength(2);
    const left = await row("newer kind");
    expect([left.status, left.attempts, left.lastError]).toEqual(["pending", 0, null]);

    // A process that knows the kind delivers it, however late.
    expect(await deliverAsNewer()).toEqual({
      result: { sent: 1, retrying: 0, gaveUp: 0 },
      sent: ["newer kind"],
    });
    now = new Date(T0.getTime() + 60 * grace);
    expect(await older({ data: {} })).toEqual(nothing);
    expect(warnings).toHaveLength(2);
  });

  it("counts the notices it gives up on the metrics, by kind and why", async () => {
    await queue("blocked", 1, "TRADE_CLOSED");
    await queue("doomed", 2);
    const metrics = createMetrics();
    const sender = new RecordingSender([
      { ok: false, retryable: false, error: "403 Forbidden: bot was blocked by the user" },
      { ok: false, retryable: true, error: "502" },
      { ok: false, retryable: true, error: "502" },
    ]);
    const d = { ...deps(sender, { maxAttempts: 2, baseBackoffMs: 10 }), metrics };
    await deliverDueNotifications(d);
    now = new Date(now.getTime() + 60_000);
    await deliverDueNotifications(d);
    const text = await metrics.render();
    expect(text).toContain('desk_notices_given_up_total{kind="TRADE_CLOSED",reason="refused"} 1');
    expect(text).toContain(
      'desk_notices_given_up_total{kind="ORDER_FILLED",reason="out_of_attempts"} 1',
    );
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

  it("holds the lease of a row while its message is still going out, so no second run sends it again", async () => {
    await queue("slow");
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A message that takes longer than the lease (a flood wait, a slow group chat).
    const slow: NoticeSender = {
      async send() {
        await released;
        return { ok: true, telegramMessageId: 1 };
      },
    };
    const realNow = () => new Date();
    const settings = { leaseMs: 600 };
    const first = deliverDueNotifications({ ...deps(slow, settings), now: realNow });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = new RecordingSender();
    expect(await deliverDueNotifications({ ...deps(second, settings), now: realNow })).toEqual({
      sent: 0,
      retrying: 0,
      gaveUp: 0,
    });
    release();
    expect(await first).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    expect(second.attempts).toEqual([]);
    expect((await row("slow")).attempts).toBe(1);
  });

  it("sends again within a minute what a sender that died had claimed, and its chat's rows after it", async () => {
    await queue("claimed by the dead");
    // The sender's process dies after its claim: nothing renews the lease any more.
    await claimDueNotifications(t.db, 10, DEFAULT_NOTIFY_SETTINGS.leaseMs, now);
    await queue("written after");
    const sender = new RecordingSender();
    expect(await deliverDueNotifications(deps(sender))).toEqual({
      sent: 0,
      retrying: 0,
      gaveUp: 0,
    });
    now = new Date(T0.getTime() + 60_000);
    expect(await deliverDueNotifications(deps(sender))).toEqual({
      sent: 2,
      retrying: 0,
      gaveUp: 0,
    });
    expect(sender.sent.map((m) => m.dedupeKey)).toEqual(["claimed by the dead", "written after"]);
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
      // Done when the row is marked, which follows the send.
      while ((await row("scheduled")).status !== "sent" && Date.now() < deadline) {
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

describe("notify in production: the real processor and Telegram sender against the Bot API", () => {
  const fills = 200;
  /** A chat of its own per test: the emulator keeps what earlier tests sent. */
  let chat = 9100;
  let t: TestDatabase;
  let emulator: TelegramEmulator;
  let sender: TelegramNoticeSender;
  let now: Date;

  beforeAll(async () => {
    t = await createTestDatabase("postgres");
    emulator = await startTelegramEmulator();
  }, 30_000);
  afterAll(async () => {
    // The database is dropped even when the emulator fails to stop.
    try {
      await emulator?.stop();
    } finally {
      await t?.close();
    }
  });
  beforeEach(async () => {
    await t.truncate();
    now = T0;
    chat += 1;
    // The production client: auto-retry and throttling installed, as app/workers.ts builds it.
    sender = createDeskNoticeSender({
      api: createTelegramApi({ token: emulator.token, apiRoot: emulator.apiRoot }),
      db: t.db,
      logger,
    });
  });
  afterEach(async () => {
    await sender.close();
  });

  /** The fill notice of execution `index` of one 200-share order filled a share at a time. */
  function fillNotice(index: number): OrderFilledNotice {
    return {
      kind: "ORDER_FILLED",
      tradeId: 7,
      symbol: "AAPL",
      side: "buy",
      role: "ENTRY",
      executionId: `exec-${index}`,
      fillQuantity: "1",
      fillPrice: (190 + index / 100).toFixed(2),
      filledQuantity: String(index + 1),
      orderQuantity: String(fills),
      complete: index + 1 === fills,
      clientOrderId: "dec-7-entry",
    };
  }

  /** The line execution `index` is shown by: its price and the cumulative quantity it reached. */
  const lineOf = (index: number) =>
    `1 @ ${(190 + index / 100).toFixed(2)} · ${index + 1}/${fills}${index + 1 === fills ? " · complete" : ""}`;

  async function writeFills(): Promise<void> {
    for (let index = 0; index < fills; index++) {
      const notice = fillNotice(index);
      await enqueueNotification(
        t.db,
        {
          dedupeKey: `fill-${notice.executionId}:${chat}`,
          chatId: chat,
          kind: notice.kind,
          payload: notice as unknown as Record<string, unknown>,
        },
        T0,
      );
    }
  }

  const processor = () =>
    createNotifyProcessor({
      db: t.db,
      sender,
      now: () => now,
      logger,
      settings: { baseBackoffMs: 1_000 },
    });

  async function fillRows() {
    const rows = await t.db.select().from(notificationOutbox);
    expect(rows).toHaveLength(fills);
    return new Map(rows.map((row) => [row.dedupeKey, row]));
  }

  /** Every execution is on exactly one line of all the chat's messages, in the message its row names. */
  async function expectEveryExecutionOnce(): Promise<void> {
    const messages = emulator.messagesIn(chat);
    const rows = await fillRows();
    for (let index = 0; index < fills; index++) {
      const holding = messages.filter((message) =>
        message.text.split("\n").includes(lineOf(index)),
      );
      expect(holding, `execution ${index}`).toHaveLength(1);
      const row = rows.get(`fill-exec-${index}:${chat}`);
      expect(row?.status).toBe("sent");
      expect(row?.telegramMessageId).toBe(holding[0]?.messageId);
    }
    for (const message of messages) {
      const lines = message.text.split("\n").filter((line) => line.startsWith("1 @ "));
      expect(new Set(lines).size).toBe(lines.length);
    }
  }

  it("turns 200 fills written for one chat into a few messages, every execution in one of them", async () => {
    await writeFills();
    const started = performance.now();
    expect(await processor()({ data: { reason: "test" } })).toEqual({
      sent: fills,
      retrying: 0,
      gaveUp: 0,
    });
    const elapsedMs = performance.now() - started;
    const messages = emulator.messagesIn(chat);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.length).toBeLessThanOrEqual(4);
    await expectEveryExecutionOnce();
    expect(emulator.refusedCalls()).toEqual([]);
    // A few seconds, not 200: the rows went out together, paced a message a second.
    expect(elapsedMs).toBeLessThan(messages.length * 1_000 + 3_000);
  }, 30_000);

  it("waits out a flood wait longer than the client's own (retry_after) and never gives a notice up for it", async () => {
    const notice = fillNotice(0);
    await enqueueNotification(
      t.db,
      {
        dedupeKey: `fill-${notice.executionId}:${chat}`,
        chatId: chat,
        kind: notice.kind,
        payload: notice as unknown as Record<string, unknown>,
      },
      T0,
    );
    const flood = emulator.failNext("sendMessage", { status: 429, times: 4, retryAfter: 120 });
    const pass = () =>
      createNotifyProcessor({
        db: t.db,
        sender,
        now: () => now,
        logger,
        settings: { baseBackoffMs: 1_000, maxAttempts: 3 },
      })({ data: { reason: "test" } });
    const [row] = await t.db.select().from(notificationOutbox);
    for (let wait = 0; wait < 4; wait++) {
      expect(await pass()).toEqual({ sent: 0, retrying: 1, gaveUp: 0 });
      const [after] = await t.db.select().from(notificationOutbox);
      expect(after?.status).toBe("pending");
      // Telegram said when: not a second before.
      expect(after?.nextAttemptAt.getTime()).toBe(now.getTime() + 120_000);
      now = new Date(now.getTime() + 119_000);
      expect(await pass()).toEqual({ sent: 0, retrying: 0, gaveUp: 0 });
      now = new Date(now.getTime() + 1_000);
    }
    expect(flood.failed()).toBe(4);
    expect(await pass()).toEqual({ sent: 1, retrying: 0, gaveUp: 0 });
    const [sent] = await t.db.select().from(notificationOutbox);
    expect(sent?.id).toBe(row?.id);
    expect(sent?.status).toBe("sent");
    expect(emulator.messagesIn(chat)).toHaveLength(1);
  }, 30_000);

  it("retries a failed message later without sending again what already went out", async () => {
    await writeFills();
    const firstPass = processor()({ data: { reason: "test" } });
    // The first message goes out; Telegram refuses the next (flood control outlasting the retries).
    const deadline = performance.now() + 10_000;
    while (emulator.messagesIn(chat).length === 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    emulator.failNext("sendMessage", { status: 429, times: 4, retryAfter: 0 });
    const first = await firstPass;
    const [firstMessage] = emulator.messagesIn(chat);
    expect(emulator.messagesIn(chat)).toHaveLength(1);
    expect(first.sent).toBeGreaterThan(0);
    expect(first.retrying).toBe(fills - first.sent);
    expect(first.gaveUp).toBe(0);
    const afterFirst = await fillRows();
    const sentFirst = [...afterFirst.values()].filter((row) => row.status === "sent");
    expect(sentFirst).toHaveLength(first.sent);
    for (const row of sentFirst) expect(row.telegramMessageId).toBe(firstMessage?.messageId);
    for (const row of afterFirst.values()) {
      if (row.status === "sent") continue;
      expect(row.status).toBe("pending");
      expect(row.lastError).toContain("429");
      expect(row.nextAttemptAt.getTime()).toBe(T0.getTime() + 1_000);
    }

    // Not due yet: nothing more is sent.
    expect(await processor()({ data: {} })).toEqual({ sent: 0, retrying: 0, gaveUp: 0 });
    now = new Date(T0.getTime() + 1_000);
    expect(await processor()({ data: {} })).toEqual({
      sent: fills - first.sent,
      retrying: 0,
      gaveUp: 0,
    });
    expect(emulator.messagesIn(chat).length).toBeGreaterThanOrEqual(2);
    await expectEveryExecutionOnce();
    // The rows sent the first time were not handed over again.
    for (const row of sentFirst) expect((await fillRows()).get(row.dedupeKey)?.attempts).toBe(1);
  }, 30_000);
});
