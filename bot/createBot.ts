/**
 * The bot: grammY with auto-retry and throttling on every API call, the access gate first, then
 * one composer per feature. Add a feature by writing a BotFeature and listing it in DESK_FEATURES.
 */
import { conversations } from "@grammyjs/conversations";
import { Bot } from "grammy";
import { chatMigration } from "./chatMigration";
import { COMMANDS, type CommandName } from "./commands";
import type { BotContext, FormContext } from "./context";
import type { BotDeps, BotFeature, FeatureSetup } from "./feature";
import { createAccessGate } from "./features/access";
import { alertsFeature } from "./features/alerts";
import { cancelFeature } from "./features/cancel";
import { closePositionFeature } from "./features/closePosition";
import { buildCommandMenus, type CommandMenu } from "./features/commandMenu";
import { limitsFeature } from "./features/limits";
import { createPlanFeature } from "./features/plan";
import { portfolioFeature } from "./features/portfolio";
import { settingsFeature } from "./features/settings";
import { startFeature } from "./features/start";
import { tradingSwitchesFeature } from "./features/tradingSwitches";
import { createUnbuiltCommands } from "./features/unbuiltCommands";
import { assertDistinctCodes } from "./keyboards/callbackData";
import { DEFAULT_UPDATE_TIMEOUT_MS, inOrderPerChat } from "./runner";
import { type StartHook, setStartHooks } from "./startHooks";
import {
  conversationApiWith,
  createTelegramApiTransformers,
  useTelegramApiTransformers,
} from "./telegramApi";
import { tellUpdateFailed } from "./updateFailed";

export type { BotDeps, BotFeature } from "./feature";

/** The product's features, in the order they see updates (after the access gate). */
export const DESK_FEATURES: readonly BotFeature[] = [
  startFeature,
  // /cancel before every feature that opens a form, so a form never swallows it.
  cancelFeature,
  createPlanFeature(),
  alertsFeature,
  portfolioFeature,
  closePositionFeature,
  tradingSwitchesFeature,
  limitsFeature,
  settingsFeature,
];

/** The Telegram bot of the desk. Start it with startBot (bot/runner.ts). */
export function createBot(deps: BotDeps): Bot<BotContext> {
  return assembleBot(deps, DESK_FEATURES);
}

/** The menus to publish at start for the desk's features. */
export function commandMenusFor(
  deps: Pick<BotDeps, "allowedUsers">,
  features: readonly BotFeature[] = DESK_FEATURES,
): CommandMenu[] {
  return buildCommandMenus(deps.allowedUsers, availableCommands(features));
}

/**
 * Builds a bot from the given features: the composition createBot uses, open for a bot with an
 * extra feature (tests). Throws (a bug) if two features claim a command or a button code, or a
 * command is not in the catalogue.
 */
export function assembleBot(deps: BotDeps, features: readonly BotFeature[]): Bot<BotContext> {
  const callbackActions = features.flatMap((feature) => feature.callbackActions);
  assertDistinctCodes(callbackActions);
  const startHooks: StartHook[] = [];
  const setup: FeatureSetup = {
    deps,
    availableCommands: availableCommands(features),
    callbackActions,
    onStart: (hook) => startHooks.push(hook),
  };

  const bot = new Bot<BotContext>(deps.token, { client: { apiRoot: deps.apiRoot } });
  setStartHooks(bot, startHooks);
  const transformers = createTelegramApiTransformers();
  useTelegramApiTransformers(bot.api, transformers);
  bot.catch(async (error) => {
    deps.logger.error(
      { err: error.error, updateId: error.ctx.update.update_id },
      "update handling failed",
    );
    await tellUpdateFailed(error.ctx, deps.logger, error.error);
  });

  bot.use(
    inOrderPerChat<BotContext>({
      timeoutMs: deps.updateTimeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS,
      logger: deps.logger,
    }),
  );
  // Before the gate and the forms: a group's upgrade moves its records whoever did it.
  bot.use(chatMigration(deps));
  bot.use(createAccessGate(setup));
  // Before every feature: a feature may register an escape command (/cancel) ahead of the
  // features that create conversations, and open forms then never swallow it.
  bot.use(
    conversations<BotContext, FormContext>({
      ...(deps.conversationStorage === undefined ? {} : { storage: deps.conversationStorage }),
      plugins: [
        async (ctx, next) => {
          // Each replay builds a fresh context and API client: restore what the bot's own have,
          // beneath the replay layer so replayed calls are neither paced nor retried.
          Object.assign(ctx, { api: conversationApiWith(ctx.api, transformers) });
          const role = ctx.from === undefined ? undefined : deps.allowedUsers.get(ctx.from.id);
          if (ctx.from === undefined || role === undefined) return;
          ctx.deskUser = { telegramUserId: ctx.from.id, role };
          await next();
        },
      ],
    }),
  );
  for (const feature of features) bot.use(feature.create(setup));
  bot.use(createUnbuiltCommands(setup));
  return bot;
}

function availableCommands(features: readonly BotFeature[]): Set<CommandName> {
  const available = new Set<CommandName>();
  const catalogued = new Set<string>(COMMANDS.map((spec) => spec.command));
  for (const feature of features) {
    for (const command of feature.commands) {
      if (!catalogued.has(command))
        throw new Error(`feature ${feature.name}: /${command} is not catalogued`);
      if (available.has(command)) throw new Error(`/${command} is handled by two features`);
      available.add(command);
    }
  }
  return available;
}
