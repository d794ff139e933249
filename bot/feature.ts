/**
 * The contract between createBot and the features: what the bot is given (BotDeps) and what a
 * feature declares (its commands and button actions) so /help, the command menu and the access
 * gate stay right as features are added.
 */
import type { ConversationData, ConversationStorage } from "@grammyjs/conversations";
import type { Composer } from "grammy";
import type { Logger } from "pino";
import type { UserRole } from "../app/config";
import type { Database } from "../db/database";
import type { ExecutionWindow } from "../jobs/context";
import type { CommandName } from "./commands";
import type { BotContext } from "./context";
import type { DailyLossAllowsResume, TradingRequests } from "./features/deskPorts";
import type { DecisionSubmitter, MarketFacts, PlanningSettings } from "./features/planPorts";
import type { CallbackAction } from "./keyboards/callbackData";
import type { StartHook } from "./startHooks";

/** Everything the bot needs from outside. Later features add their stores and queues here. */
export interface BotDeps {
  readonly token: string;
  /** Bot API root without a trailing slash, e.g. https://api.telegram.org or an emulator. */
  readonly apiRoot: string;
  /** TELEGRAM_ALLOWED_USERS by Telegram user id (not chat id). */
  readonly allowedUsers: ReadonlyMap<number, UserRole>;
  readonly logger: Logger;
  /** The clock: expiries and rate windows use it, never the system clock directly. */
  readonly now: () => Date;
  /** How long one update may hold its chat (default 60 s; see inOrderPerChat). */
  readonly updateTimeoutMs?: number;
  /**
   * Where open conversations (forms) are kept between updates, keyed by chat. Default: memory,
   * so a restart forgets forms in progress. With Redis, use a prefix of its own.
   */
  readonly conversationStorage?: ConversationStorage<BotContext, ConversationData>;
  /**
   * The desk's database. Commands that read or change trading data answer that they are
   * unavailable without it (bare bots in tests of the foundation run without one).
   */
  readonly db?: Database;
  /** Cancels, closes and flattens handed to the jobs (the bot never calls the broker). */
  readonly trading?: TradingRequests;
  /** The daily-loss check of /resume (default: allowed). */
  readonly dailyLossAllowsResume?: DailyLossAllowsResume;
  /** Read-only broker facts for /plan and alerts: the bot's one read path to the broker. */
  readonly market?: MarketFacts;
  /** Where confirmed plans and approved alerts go (the execute job). */
  readonly decisions?: DecisionSubmitter;
  /** Plan confirmation and alert timings (defaults in planPorts.ts). */
  readonly planning?: PlanningSettings;
  /** When the workers send entries (EXECUTION_WINDOW); a plan's message says when it waits. */
  readonly executionWindow?: ExecutionWindow;
}

/** What every feature's composer is built from. */
export interface FeatureSetup {
  readonly deps: BotDeps;
  /** Commands some feature handles; the rest of the catalogue answers "not available yet". */
  readonly availableCommands: ReadonlySet<CommandName>;
  /** Every button action of every feature, for the access gate. */
  readonly callbackActions: readonly CallbackAction[];
  /** Registers work to do once the bot starts (startBot), with its API client. */
  readonly onStart?: (hook: StartHook) => void;
}

/** One feature: a composer plus what it declares. */
export interface BotFeature {
  readonly name: string;
  /** Catalogue commands this feature handles (each command belongs to one feature). */
  readonly commands: readonly CommandName[];
  /** Actions of the buttons this feature sends; a press of any other action is refused. */
  readonly callbackActions: readonly CallbackAction[];
  create(setup: FeatureSetup): Composer<BotContext>;
}
