/**
 * Long polling with @grammyjs/runner: updates of different chats are handled concurrently, one
 * chat's in order; a handler stuck past its timeout is logged and no longer holds its chat.
 */
import { type RunnerHandle, run, sequentialize } from "@grammyjs/runner";
import { type Bot, Composer, type Context } from "grammy";
import type { Logger } from "pino";
import { type CommandMenu, publishCommandMenus } from "./features/commandMenu";
import { runStartHooks } from "./startHooks";

/** How long one update may hold its chat before the chat's next updates go ahead anyway. */
export const DEFAULT_UPDATE_TIMEOUT_MS = 60_000;

/**
 * Keeps one chat's updates in order (button presses included: they carry their message's chat),
 * and releases the chat when a handler runs past `timeoutMs`: a hung handler (a lost API reply,
 * a known conversations bug) must not silence that chat for good. The late handler keeps running
 * in the background and its error, if any, is logged.
 */
export function inOrderPerChat<C extends Context>(options: {
  readonly timeoutMs: number;
  readonly logger: Logger;
}): Composer<C> {
  const { timeoutMs, logger } = options;
  const composer = new Composer<C>();
  composer.use(
    sequentialize<C>((ctx) => {
      const key = ctx.chat?.id ?? ctx.from?.id;
      return key === undefined ? undefined : String(key);
    }),
  );
  composer.use(async (ctx, next) => {
    let timer: NodeJS.Timeout | undefined;
    const handled = next();
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([handled.then(() => "handled" as const), timedOut]);
      if (outcome === "timeout") {
        logger.error(
          { updateId: ctx.update.update_id, chatId: ctx.chat?.id, timeoutMs },
          "update handling timed out; chat released",
        );
        handled.catch((error: unknown) =>
          logger.error(
            { updateId: ctx.update.update_id, err: error },
            "late update handling failed",
          ),
        );
      }
    } finally {
      clearTimeout(timer);
    }
  });
  return composer;
}

export interface BotRunnerOptions {
  readonly logger: Logger;
  /** Published after the bot identifies itself and before it starts polling. */
  readonly commandMenus?: readonly CommandMenu[];
  /**
   * The runner stops counting an update still running after this (the bot's own per-chat timeout,
   * inOrderPerChat, normally fires first). Default 90 s.
   */
  readonly sinkTimeoutMs?: number;
  /** Long-polling timeout of each getUpdates call. Default 30 s. */
  readonly pollTimeoutSeconds?: number;
  /** How long stop() waits for handlers in progress before giving up on them. Default 10 s. */
  readonly stopTimeoutMs?: number;
}

export interface BotRunner {
  /** Stops polling and waits (bounded) for the handlers in progress. Safe to call twice. */
  stop(): Promise<void>;
  isRunning(): boolean;
  /** Settles when polling ends: "stopped" after stop(), "crashed" if the runner failed (logged). */
  ended(): Promise<"stopped" | "crashed">;
}

/**
 * Identifies the bot (getMe: fails fast on a bad token), removes any webhook, publishes the
 * menus, starts the features' start work (in the background), starts polling.
 */
export async function startBot<C extends Context>(
  bot: Bot<C>,
  options: BotRunnerOptions,
): Promise<BotRunner> {
  const { logger } = options;
  await bot.init();
  // getUpdates is refused while a webhook is set (a previous start in webhook mode): drop it,
  // keeping the updates Telegram holds for us.
  await bot.api.deleteWebhook({ drop_pending_updates: false });
  if (options.commandMenus !== undefined) {
    const outcome = await publishCommandMenus(bot.api, options.commandMenus, logger);
    logger.info(outcome, "command menus published");
  }
  // The runner retries failed getUpdates calls itself; this keeps a trace of them in our logs.
  bot.api.config.use(async (previous, method, payload, signal) => {
    try {
      return await previous(method, payload, signal);
    } catch (error) {
      if (method === "getUpdates" && signal?.aborted !== true) {
        logger.warn({ err: error }, "getUpdates failed; retrying");
      }
      throw error;
    }
  });
  runStartHooks(bot, logger);
  const handle = run(bot, {
    runner: { fetch: { timeout: options.pollTimeoutSeconds ?? 30 }, silent: true },
    sink: {
      timeout: {
        milliseconds: options.sinkTimeoutMs ?? 90_000,
        handler: (update) => {
          logger.error(
            { updateId: update.update_id },
            "update still running past the sink timeout",
          );
        },
      },
    },
  });
  logger.info({ username: bot.botInfo.username }, "bot polling");
  // A crash is e.g. 409 Conflict: another process polls with the same token.
  const ended = (handle.task() ?? Promise.resolve()).then(
    () => "stopped" as const,
    (error: unknown) => {
      logger.error({ err: error }, "bot runner crashed");
      return "crashed" as const;
    },
  );
  let stopping: Promise<void> | null = null;
  return {
    isRunning: () => handle.isRunning(),
    ended: () => ended,
    stop() {
      stopping ??= stopGracefully(handle, options.stopTimeoutMs ?? 10_000, logger);
      return stopping;
    },
  };
}

/** Stops fetching, then waits (bounded) until the updates already fetched are handled. */
async function stopGracefully(
  handle: RunnerHandle,
  timeoutMs: number,
  logger: Logger,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await handle.stop();
  // The runner's stop ends polling but does not wait for handlers; its sink size counts them.
  while (handle.size() > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const running = handle.size();
  if (running > 0) logger.warn({ running, timeoutMs }, "bot stopped with handlers still running");
  else logger.info("bot stopped");
}
