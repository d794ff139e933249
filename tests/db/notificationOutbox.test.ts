import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  claimDueNotifications,
  enqueueNotification,
  markNotificationFailed,
  markNotificationSent,
} from "../../db/notificationOutbox";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, T0 } from "./fixtures";

describe.each(TEST_DRIVERS)("notification outbox on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("queues a message once per dedupe key", async () => {
    const message = { dedupeKey: "fill:x-1:100", chatId: 100, kind: "fill", payload: { q: "10" } };
    const queued = await Promise.all([1, 2, 3].map(() => enqueueNotification(t.db, message, T0)));
    expect(queued.filter(Boolean)).toHaveLength(1);
  });

  it("hands each due message to one sender, and again after a lapsed lease or a failure", async () => {
    for (let i = 0; i < 6; i++) {
      await enqueueNotification(
        t.db,
        { dedupeKey: `batch:${i}`, chatId: 200 + i, kind: "order", payload: { i } },
        at(10),
      );
    }
    const [first, second] = await Promise.all([
      claimDueNotifications(t.db, 4, 30_000, at(20)),
      claimDueNotifications(t.db, 4, 30_000, at(20)),
    ]);
    const ids = [...(first ?? []), ...(second ?? [])].map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Everything due (the earlier message included) is handed out exactly once.
    expect(ids).toHaveLength(7);

    expect(await claimDueNotifications(t.db, 10, 30_000, at(21))).toHaveLength(0);
    const [sent, failed, ...rest] = ids;
    if (sent === undefined || failed === undefined) throw new Error("nothing claimed");
    await markNotificationSent(t.db, sent, 555, at(22));
    await markNotificationFailed(t.db, failed, "429 Too Many Requests", at(25));
    const retried = await claimDueNotifications(t.db, 10, 30_000, at(26));
    expect(retried.map((m) => m.id)).toEqual([failed]);
    expect(retried[0]?.attempts).toBe(2);
    const lapsed = await claimDueNotifications(t.db, 10, 30_000, at(51));
    expect(lapsed.map((m) => m.id).sort()).toEqual([...rest].sort());
    expect(lapsed.map((m) => m.id)).not.toContain(sent);
  });

  it("hands a chat's messages to one sender at a time, none past an earlier one waiting", async () => {
    const chat = 300;
    // What earlier tests left stays out of the way (leased for an hour).
    await claimDueNotifications(t.db, 100, 3_600_000, at(100));
    for (let i = 0; i < 4; i++) {
      await enqueueNotification(
        t.db,
        { dedupeKey: `chat:${i}`, chatId: chat, kind: "order", payload: { i } },
        at(100),
      );
    }
    const claims = await Promise.all([
      claimDueNotifications(t.db, 2, 30_000, at(110)),
      claimDueNotifications(t.db, 2, 30_000, at(110)),
    ]);
    const taken = claims.flat().filter((m) => m.chatId === chat);
    // The first two, to one sender; the later two wait while those are out.
    expect(taken.map((m) => m.dedupeKey)).toEqual(["chat:0", "chat:1"]);
    expect(claims.filter((claim) => claim.some((m) => m.chatId === chat))).toHaveLength(1);
    const [first, second] = taken;
    if (first === undefined || second === undefined) throw new Error("nothing claimed");
    await markNotificationFailed(t.db, first.id, "502", at(120));
    await markNotificationSent(t.db, second.id, 556, at(111));
    expect(await claimDueNotifications(t.db, 10, 30_000, at(112))).toEqual([]);
    const next = await claimDueNotifications(t.db, 10, 30_000, at(120));
    expect(next.map((m) => m.dedupeKey)).toEqual(["chat:0", "chat:2", "chat:3"]);
  });
});
