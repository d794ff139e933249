/**
 * Long polling with @grammyjs/runner: updates of different chats are handled concurrently, one
 * chat's in order; a handler stuck past the sink timeout is logged and no longer holds its chat.
 */
import { run, sequentialize } from "@grammyjs/runner";
import type { Bot, Context } from "grammy";
import type { Logger } from "pino";
import { type CommandMenu, publishCommandMenus } from "./features/commandMenu";

/** Keeps one chat's updates in order (callback presses included: they carry their message's chat). */
export function sequentializeByChat<C extends Context>() {
  return sequentialize<C>((ctx) => {
    const key = ctx.chat?.id ?? ctx.from?.id;
    return key === undefined ? undefined : String(key);
  });
}

export interface BotRunnerOptions {
  readonly logger: Logger;
  /** Published after the bot identifies itself and before it starts polling. */
  readonly commandMenus?: readonly CommandMenu[];
  /** An update still being handled after this is logged and its chat released. Default 60 s. */
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
}

/** Identifies the bot (getMe: fails fast on a bad token), publishes the menus, starts polling. */
export async function startBot<C extends Context>(
  bot: Bot<C>,
  options: BotRunnerOptions,
): Promise<BotRunner> {
  const { logger } = options;
  await bot.init();
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
  const handle = run(bot, {
    runner: { fetch: { timeout: options.pollTimeoutSeconds ?? 30 }, silent: true },
    sink: {
      timeout: {
        milliseconds: options.sinkTimeoutMs ?? 60_000,
        handler: (update) => {
          logger.error({ updateId: update.update_id }, "update handling timed out; chat released");
        },
      },
    },
  });
  logger.info({ username: bot.botInfo.username }, "bot polling");
  const task = handle.task();
  task?.catch((error: unknown) => logger.error({ err: error }, "bot runner crashed"));
  let stopping: Promise<void> | null = null;
  return {
    isRunning: () => handle.isRunning(),
    stop() {
      stopping ??= stopWithin(handle.stop(), options.stopTimeoutMs ?? 10_000, logger);
      return stopping;
    },
  };
}

async function stopWithin(
  stopped: Promise<void>,
  timeoutMs: number,
  logger: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([stopped.then(() => "stopped" as const), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") logger.warn({ timeoutMs }, "bot stopped with handlers still running");
  else logger.info("bot stopped");
}
