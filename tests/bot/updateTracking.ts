/**
 * Knows when the bot under test has handled everything users sent it, so a test that must see
 * the end of some handling (a press held up by flood control, a double tap) waits for exactly
 * that instead of a fixed pause.
 */
import { type Bot, Composer } from "grammy";
import type { BotContext } from "../../bot/context";
import type { BotFeature } from "../../bot/feature";
import { type TelegramEmulator, waitFor } from "../support/telegram";

export interface UpdateTracking {
  /**
   * A pass-through feature to list first: it sits beneath the chat's timeout (inOrderPerChat),
   * so a handler that the timeout released and that still runs keeps counting.
   */
  readonly feature: BotFeature;
  /** Follows every update `bot` takes from the Bot API (call it on each bot started). */
  watch(bot: Bot<BotContext>): void;
  /**
   * Resolves once the bot has taken every update users sent through `emulator` and no handling
   * of any is still running; fails after `timeoutMs`. Work a handler leaves running on its own
   * (a background edit it does not await) is not waited for.
   */
  idle(emulator: TelegramEmulator, timeoutMs?: number): Promise<void>;
}

export function createUpdateTracking(): UpdateTracking {
  const taken = new Set<number>();
  const running = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    const done = () => running.delete(work);
    work.then(done, done);
    return work;
  };
  return {
    feature: {
      name: "update-tracking",
      commands: [],
      callbackActions: [],
      create() {
        const composer = new Composer<BotContext>();
        composer.use((_ctx, next) => track(next()));
        return composer;
      },
    },
    watch(bot) {
      const handleUpdate = bot.handleUpdate.bind(bot);
      bot.handleUpdate = (update, webhookReplyEnvelope) => {
        taken.add(update.update_id);
        return track(handleUpdate(update, webhookReplyEnvelope));
      };
    },
    async idle(emulator, timeoutMs = 10_000) {
      const untaken = () => emulator.userUpdateIds().filter((id) => !taken.has(id));
      await waitFor(
        () => (running.size === 0 && untaken().length === 0 ? true : undefined),
        timeoutMs,
        () =>
          `the bot is still busy: ${running.size} handling(s) running, updates not taken: ${JSON.stringify(untaken())}`,
      );
    },
  };
}
