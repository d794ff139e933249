/**
 * Where open forms (/plan conversations) are kept: Redis, under a key prefix of their own so they
 * never meet sessions or queues on the same server. The runtime passes the result as
 * `BotDeps.conversationStorage`; tests give their own prefix.
 *
 * A saved form is the replay of the form's code that saved it. Each saved form carries
 * FORM_STATE_VERSION; one saved under another version (an earlier release) or that cannot be read
 * is deleted and the trader told, rather than replayed through code it does not fit.
 */
import type {
  ConversationData,
  ConversationStorage,
  VersionedState,
} from "@grammyjs/conversations";
import { RedisAdapter } from "@grammyjs/storage-redis";
import type { Redis } from "ioredis";
import type { BotContext } from "../context";

/** The default key prefix of conversation state. */
export const CONVERSATION_KEY_PREFIX = "desk:conversation:";

/**
 * The version of saved forms. Raise it whenever a release changes what a form asks, in what
 * order, or what its draft holds: forms saved before are then closed instead of replayed.
 * Forms saved before versions were kept carry 0.
 */
export const FORM_STATE_VERSION = 1;

/** What the trader is told when a saved form is closed for its version. */
export const FORM_CLOSED_TEXT =
  "Your open /plan form was saved by an earlier release of the desk and cannot be continued, so it was closed. A plan you had not confirmed was not sent; /orders lists what is working. Send /plan to start again.";

/** A day: a form nobody touched for that long is dropped by Redis itself. */
const FORM_TTL_SECONDS = 24 * 60 * 60;

type Saved = VersionedState<ConversationData>;

/** Whether a stored value is a form saved under this version. */
function isCurrent(value: unknown): value is Saved {
  if (typeof value !== "object" || value === null) return false;
  const { version, state } = value as { version?: unknown; state?: unknown };
  return (
    Array.isArray(version) &&
    version[1] === FORM_STATE_VERSION &&
    typeof state === "object" &&
    state !== null
  );
}

/** How each storage built here moves a chat's saved form to another chat id. */
const formMovers = new WeakMap<object, (fromChatId: number, toChatId: number) => Promise<void>>();

/**
 * Moves a chat's saved form to its new id (a group Telegram upgraded to a supergroup), keeping its
 * expiry; a form already saved under the new id stays and the old one is dropped. Storages not
 * built here (the plugin's memory default) keep nothing across ids to move.
 */
export async function moveSavedForm(
  storage: ConversationStorage<BotContext, ConversationData> | undefined,
  fromChatId: number,
  toChatId: number,
): Promise<void> {
  const move = storage === undefined ? undefined : formMovers.get(storage);
  await move?.(fromChatId, toChatId);
}

/** Conversation storage in Redis, keyed by chat under `prefix`. */
export function redisConversationStorage(
  redis: Redis,
  prefix: string = CONVERSATION_KEY_PREFIX,
): ConversationStorage<BotContext, ConversationData> {
  const adapter = new RedisAdapter<Saved>({ instance: redis, ttl: FORM_TTL_SECONDS });
  const keyOf = (ctx: BotContext) =>
    ctx.chatId === undefined ? undefined : `${prefix}${ctx.chatId}`;
  const storage: ConversationStorage<BotContext, ConversationData> = {
    type: "context",
    version: FORM_STATE_VERSION,
    adapter: {
      async read(ctx) {
        const key = keyOf(ctx);
        if (key === undefined) return undefined;
        let saved: unknown;
        try {
          saved = await adapter.read(key);
        } catch {
          // Not JSON: an unreadable form would fail every update of the chat until it expired.
          saved = null;
        }
        if (saved === undefined) return undefined;
        if (isCurrent(saved)) return saved;
        await adapter.delete(key);
        await ctx.reply(FORM_CLOSED_TEXT);
        return undefined;
      },
      async write(ctx, state) {
        const key = keyOf(ctx);
        if (key !== undefined) await adapter.write(key, state);
      },
      async delete(ctx) {
        const key = keyOf(ctx);
        if (key !== undefined) await adapter.delete(key);
      },
    },
  };
  formMovers.set(storage, async (fromChatId, toChatId) => {
    const from = `${prefix}${fromChatId}`;
    // RENAMENX keeps the expiry; it refuses when the new id has a form of its own already.
    if ((await redis.exists(from)) === 0) return;
    const moved = await redis.renamenx(from, `${prefix}${toChatId}`).catch((error: unknown) => {
      // Moved meanwhile by the other service message of the same upgrade.
      if (error instanceof Error && /no such key/i.test(error.message)) return 1;
      throw error;
    });
    if (moved === 0) await redis.del(from);
  });
  return storage;
}
