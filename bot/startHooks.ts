/**
 * Work a feature does once its bot starts (startBot, bot/runner.ts), with the bot's own API
 * client: bringing up to date what a stopped process left half done. Registered by features
 * through FeatureSetup.onStart while the bot is assembled.
 */
import type { Api } from "grammy";
import type { Logger } from "pino";

export type StartHook = (api: Api) => Promise<void>;

const hooksOfBot = new WeakMap<object, StartHook[]>();

/** Keeps the hooks of a bot being assembled. */
export function setStartHooks(bot: object, hooks: StartHook[]): void {
  hooksOfBot.set(bot, hooks);
}

/**
 * Runs a started bot's hooks in the background: a slow database must not hold up polling, and a
 * failure is logged, not fatal (what they redo is a convenience; the notices are the record).
 */
export function runStartHooks(bot: object & { readonly api: Api }, logger: Logger): void {
  for (const hook of hooksOfBot.get(bot) ?? []) {
    hook(bot.api).catch((error: unknown) => logger.warn({ err: error }, "start work failed"));
  }
}
