/**
 * The real bot (createBot's composition, runner, command menus) against the Bot API emulator,
 * with a clock the test moves and the bot's log lines kept for assertions.
 */
import { Writable } from "node:stream";
import type { Bot } from "grammy";
import type { UserRole } from "../../app/config";
import { createLogger } from "../../app/logger";
import type { BotContext } from "../../bot/context";
import { assembleBot, type BotFeature, commandMenusFor, DESK_FEATURES } from "../../bot/createBot";
import { type BotRunner, startBot } from "../../bot/runner";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

export interface TestBot {
  readonly emulator: TelegramEmulator;
  readonly bot: Bot<BotContext>;
  readonly runner: BotRunner;
  /** The bot's log records so far. */
  logs(): Record<string, unknown>[];
  /** The raw log lines, to check nothing secret was written. */
  logLines(): string[];
  /** Moves the bot's clock. */
  advanceClock(milliseconds: number): void;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  readonly users: Readonly<Record<number, UserRole>>;
  /** Features in place of the desk's own (e.g. the desk's plus one a test needs). */
  readonly features?: readonly BotFeature[];
  readonly startAt?: Date;
  readonly updateTimeoutMs?: number;
}

export async function startTestBot(options: TestBotOptions): Promise<TestBot> {
  const emulator = await startTelegramEmulator();
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  let clock = (options.startAt ?? new Date("2026-03-02T14:35:00Z")).getTime();
  const deps = {
    token: emulator.token,
    apiRoot: emulator.apiRoot,
    allowedUsers: new Map(
      Object.entries(options.users).map(([id, role]) => [Number(id), role] as const),
    ),
    logger: createLogger({ level: "debug", destination }),
    now: () => new Date(clock),
    updateTimeoutMs: options.updateTimeoutMs ?? 10_000,
  };
  const features = options.features ?? DESK_FEATURES;
  const bot = assembleBot(deps, features);
  let runner: BotRunner;
  try {
    runner = await startBot(bot, {
      logger: deps.logger,
      commandMenus: commandMenusFor(deps, features),
      pollTimeoutSeconds: 5,
      sinkTimeoutMs: 20_000,
    });
  } catch (error) {
    await emulator.stop();
    throw error;
  }
  return {
    emulator,
    bot,
    runner,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    logLines: () => [...lines],
    advanceClock(milliseconds) {
      clock += milliseconds;
    },
    async stop() {
      await runner.stop();
      await emulator.stop();
    },
  };
}
