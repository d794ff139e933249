/**
 * Where open forms (/plan conversations) are kept: Redis, under a key prefix of their own so they
 * never meet sessions or queues on the same server. The runtime passes the result as
 * `BotDeps.conversationStorage`; tests give their own prefix.
 */
import type { ConversationData, ConversationStorage } from "@grammyjs/conversations";
import { RedisAdapter } from "@grammyjs/storage-redis";
import type { Redis } from "ioredis";
import type { BotContext } from "../context";

/** The default key prefix of conversation state. */
export const CONVERSATION_KEY_PREFIX = "desk:conversation:";

/** A day: a form nobody touched for that long is dropped by Redis itself. */
const FORM_TTL_SECONDS = 24 * 60 * 60;

/** Conversation storage in Redis, keyed by chat under `prefix`. */
export function redisConversationStorage(
  redis: Redis,
  prefix: string = CONVERSATION_KEY_PREFIX,
): ConversationStorage<BotContext, ConversationData> {
  return {
    type: "key",
    prefix,
    adapter: new RedisAdapter({ instance: redis, ttl: FORM_TTL_SECONDS }),
  };
}
