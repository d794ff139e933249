/**
 * Webhook mode: Telegram posts each update to the desk's HTTP server instead of the bot polling.
 * One chat's updates stay in order as with long polling: inOrderPerChat is the bot's own first
 * middleware, so it holds whichever way updates arrive.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Bot, type Context, webhookCallback } from "grammy";
import type { Logger } from "pino";
import { type CommandMenu, publishCommandMenus } from "./features/commandMenu";
import { runStartHooks } from "./startHooks";

/** How long a request waits for its update's handler before answering Telegram anyway. */
export const DEFAULT_WEBHOOK_ANSWER_MS = 9_000;

export type WebhookHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * The route handler for the bot's webhook path. A request without Telegram's secret header, or
 * with another secret, is answered 401 and never reaches the bot. A slow handler keeps running
 * after the answer: answering late would make Telegram send the update again.
 */
export function createWebhookHandler<C extends Context>(
  bot: Bot<C>,
  options: { readonly secret: string; readonly answerWithinMs?: number },
): WebhookHandler {
  return webhookCallback(bot, "fastify", {
    secretToken: options.secret,
    onTimeout: "return",
    timeoutMilliseconds: options.answerWithinMs ?? DEFAULT_WEBHOOK_ANSWER_MS,
  });
}

/**
 * Identifies the bot (getMe: fails fast on a bad token), publishes the menus and tells Telegram
 * where to post updates, with the secret it must send back, then starts the features' start work
 * (in the background). Call it once the route is served.
 */
export async function registerBotWebhook<C extends Context>(
  bot: Bot<C>,
  options: {
    readonly url: string;
    readonly secret: string;
    readonly logger: Logger;
    readonly commandMenus?: readonly CommandMenu[];
  },
): Promise<void> {
  const { logger } = options;
  await bot.init();
  if (options.commandMenus !== undefined) {
    const outcome = await publishCommandMenus(bot.api, options.commandMenus, logger);
    logger.info(outcome, "command menus published");
  }
  await bot.api.setWebhook(options.url, { secret_token: options.secret });
  logger.info({ username: bot.botInfo.username, url: options.url }, "bot webhook registered");
  runStartHooks(bot, logger);
}
