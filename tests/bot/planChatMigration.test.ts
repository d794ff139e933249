/**
 * A group Telegram upgraded to a supergroup: the service message that says so (in the group,
 * migrate_to_chat_id; in the supergroup, migrate_from_chat_id) moves the chat's records to the
 * new id, as a send refused with migrate_to_chat_id does: the notices still waiting, and a form
 * open in the group. Driven through the real bot's middleware (handleUpdate); the emulator cannot
 * post service messages.
 */
import { eq } from "drizzle-orm";
import type { Update } from "grammy/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enqueueNotification, markNotificationSent } from "../../db/notificationOutbox";
import { notificationOutbox } from "../../db/schema";
import { type PlanDesk, startPlanDesk } from "./planDesk";

const TRADER = 6401;
const STRANGER = 6499;

let desk: PlanDesk;

beforeAll(async () => {
  desk = await startPlanDesk({
    name: "bot-plan-chat-migration",
    users: { [TRADER]: "trader" },
    planning: { orderFollowMs: 0 },
  });
});
afterAll(async () => {
  await desk?.stop();
});

let updateId = 900_000;

function serviceMessage(
  chat: { id: number; type: "group" | "supergroup" },
  fields: { migrate_to_chat_id: number } | { migrate_from_chat_id: number },
  from = STRANGER,
): Update {
  updateId += 1;
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { ...chat, title: "Desk group" },
      from: { id: from, is_bot: false, first_name: "Group owner" },
      ...fields,
    },
  } as Update;
}

const formKey = (chatId: number) => `${desk.redis.prefix}conversation:${chatId}`;

async function notices(chatId: number) {
  return desk.database.db
    .select({ key: notificationOutbox.dedupeKey, status: notificationOutbox.status })
    .from(notificationOutbox)
    .where(eq(notificationOutbox.chatId, chatId));
}

describe("a group upgraded to a supergroup", () => {
  it("moves the group's waiting notices and its open form on the group's service message", async () => {
    const group = -4001;
    const supergroup = -1_004_001;
    const at = desk.deps.now();
    const db = desk.database.db;
    await enqueueNotification(
      db,
      { dedupeKey: "m1:sent", chatId: group, kind: "TEXT", payload: {} },
      at,
    );
    await enqueueNotification(
      db,
      { dedupeKey: "m1:waiting", chatId: group, kind: "TEXT", payload: {} },
      at,
    );
    const [sent] = await db
      .select({ id: notificationOutbox.id })
      .from(notificationOutbox)
      .where(eq(notificationOutbox.dedupeKey, "m1:sent"));
    await markNotificationSent(db, sent?.id ?? 0, 77, at);
    const form = JSON.stringify({ version: [0, 1], state: { plan: [] } });
    await desk.redis.redis.set(formKey(group), form, "EX", 3_600);

    // The upgrade is announced by whoever did it, a desk user or not.
    await desk.bot.handleUpdate(
      serviceMessage({ id: group, type: "group" }, { migrate_to_chat_id: supergroup }),
    );

    expect(await notices(supergroup)).toEqual([{ key: "m1:waiting", status: "pending" }]);
    // A sent notice keeps the chat its message id belongs to.
    expect(await notices(group)).toEqual([{ key: "m1:sent", status: "sent" }]);
    expect(await desk.redis.redis.get(formKey(group))).toBeNull();
    expect(await desk.redis.redis.get(formKey(supergroup))).toBe(form);
    expect(await desk.redis.redis.ttl(formKey(supergroup))).toBeGreaterThan(0);
    // Nothing was said in the group that no longer takes messages.
    expect(desk.emulator.messagesIn(group)).toEqual([]);
  });

  it("moves them on the supergroup's service message too, and twice is harmless", async () => {
    const group = -4002;
    const supergroup = -1_004_002;
    const at = desk.deps.now();
    await enqueueNotification(
      desk.database.db,
      { dedupeKey: "m2:waiting", chatId: group, kind: "TEXT", payload: {} },
      at,
    );
    await desk.redis.redis.set(formKey(group), "{}", "EX", 3_600);
    await desk.bot.handleUpdate(
      serviceMessage({ id: supergroup, type: "supergroup" }, { migrate_from_chat_id: group }),
    );
    await desk.bot.handleUpdate(
      serviceMessage({ id: group, type: "group" }, { migrate_to_chat_id: supergroup }, TRADER),
    );
    expect(await notices(supergroup)).toEqual([{ key: "m2:waiting", status: "pending" }]);
    expect(await notices(group)).toEqual([]);
    expect(await desk.redis.redis.get(formKey(supergroup))).toBe("{}");
    expect(await desk.redis.redis.get(formKey(group))).toBeNull();
    expect(desk.emulator.messagesIn(supergroup)).toEqual([]);
    expect(desk.emulator.messagesIn(group)).toEqual([]);
  });
});
