/**
 * The desk's bot against the Bot API emulator and a fresh PostgreSQL database, with the
 * trading requests going to the lifecycle queues on Redis (cancels, through the job client) or
 * recorded (closes and flattens, which the runtime wires to the jobs), and a clock the test moves.
 */
import { Writable } from "node:stream";
import type { UserRole } from "../../app/config";
import { createLogger } from "../../app/logger";
import { assembleBot, commandMenusFor } from "../../bot/createBot";
import type { BotDeps, BotFeature } from "../../bot/feature";
import { closePositionFeature } from "../../bot/features/closePosition";
import type { DailyLossAllowsResume, TradingRequests } from "../../bot/features/deskPorts";
import { limitsFeature } from "../../bot/features/limits";
import { portfolioFeature } from "../../bot/features/portfolio";
import { settingsFeature } from "../../bot/features/settings";
import { startFeature } from "../../bot/features/start";
import { tradingSwitchesFeature } from "../../bot/features/tradingSwitches";
import { type BotRunner, startBot } from "../../bot/runner";
import { ensureBrokerAccount } from "../../db/brokerAccounts";
import { upsertUser } from "../../db/users";
import { createJobClient } from "../../jobs/client";
import { closeQueues, createQueues, type Queues } from "../../jobs/queues";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { createTestRedis, type TestRedis } from "../support/redis";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";

/** The desk features under test (the /plan and alert features have their own harness). */
export const DESK_COMMAND_FEATURES: readonly BotFeature[] = [
  startFeature,
  portfolioFeature,
  closePositionFeature,
  tradingSwitchesFeature,
  limitsFeature,
  settingsFeature,
];

export type TradingRequest =
  | { readonly kind: "close"; readonly request: Parameters<TradingRequests["closePosition"]>[0] }
  | { readonly kind: "flatten"; readonly request: Parameters<TradingRequests["flatten"]>[0] }
  | {
      readonly kind: "cancel-entries";
      readonly request: Parameters<TradingRequests["cancelWorkingEntries"]>[0];
    };

export interface DeskBot {
  readonly emulator: TelegramEmulator;
  readonly database: TestDatabase;
  readonly redis: TestRedis;
  readonly queues: Queues;
  readonly accountId: number;
  /** Closes and flattens handed over so far. */
  readonly requests: TradingRequest[];
  /** When true, closes and flattens fail as a runtime without a close job does. */
  tradingFails: boolean;
  /** Warnings and errors the bot logged. */
  readonly logLines: string[];
  /** The daily-loss check /resume asks (allowed until a test changes it). */
  resumeCheck: DailyLossAllowsResume;
  advanceClock(milliseconds: number): void;
  now(): Date;
  stop(): Promise<void>;
}

export async function startDeskBot(options: {
  readonly name: string;
  readonly users: Readonly<Record<number, UserRole>>;
  readonly startAt?: Date;
}): Promise<DeskBot> {
  const database = await createTestDatabase("postgres");
  const redis = createTestRedis(options.name);
  const queues = createQueues({ connection: redis.redis, prefix: `${redis.prefix}bull` });
  const jobs = createJobClient(queues);
  const emulator = await startTelegramEmulator();
  let clock = (options.startAt ?? new Date("2026-03-02T15:30:00Z")).getTime();
  const now = () => new Date(clock);
  const account = await ensureBrokerAccount(
    database.db,
    { environment: "paper", brokerAccountId: `PA-${options.name}` },
    now(),
  );
  for (const [id, role] of Object.entries(options.users)) {
    await upsertUser(database.db, { telegramUserId: Number(id), role }, now());
  }
  const requests: TradingRequest[] = [];
  const logLines: string[] = [];
  const handle: { resumeCheck: DailyLossAllowsResume; tradingFails: boolean } = {
    resumeCheck: async () => ({ allowed: true }),
    tradingFails: false,
  };
  const deps: BotDeps = {
    token: emulator.token,
    apiRoot: emulator.apiRoot,
    allowedUsers: new Map(
      Object.entries(options.users).map(([id, role]) => [Number(id), role] as const),
    ),
    logger: createLogger({
      level: "warn",
      destination: new Writable({
        write: (chunk, _encoding, done) => {
          logLines.push(String(chunk));
          done();
        },
      }),
    }),
    now,
    updateTimeoutMs: 10_000,
    db: database.db,
    trading: {
      cancelEntry: ({ accountId, tradeId, reason, requestedBy }) =>
        jobs.cancelTrade(accountId, tradeId, reason, requestedBy),
      async closePosition(request) {
        if (handle.tradingFails) throw new Error("the jobs have no close step");
        requests.push({ kind: "close", request });
      },
      async flatten(request) {
        if (handle.tradingFails) throw new Error("the jobs have no close step");
        requests.push({ kind: "flatten", request });
      },
      async cancelWorkingEntries(request) {
        if (handle.tradingFails) throw new Error("the jobs are not answering");
        requests.push({ kind: "cancel-entries", request });
      },
    },
    dailyLossAllowsResume: (request) => handle.resumeCheck(request),
  };
  const bot = assembleBot(deps, DESK_COMMAND_FEATURES);
  let runner: BotRunner;
  try {
    runner = await startBot(bot, {
      logger: deps.logger,
      commandMenus: commandMenusFor(deps, DESK_COMMAND_FEATURES),
      pollTimeoutSeconds: 5,
      sinkTimeoutMs: 20_000,
    });
  } catch (error) {
    await emulator.stop();
    throw error;
  }
  return {
    emulator,
    database,
    redis,
    queues,
    accountId: account.id,
    requests,
    logLines,
    get tradingFails() {
      return handle.tradingFails;
    },
    set tradingFails(fails) {
      handle.tradingFails = fails;
    },
    get resumeCheck() {
      return handle.resumeCheck;
    },
    set resumeCheck(check) {
      handle.resumeCheck = check;
    },
    advanceClock(milliseconds) {
      clock += milliseconds;
    },
    now,
    async stop() {
      await runner.stop();
      await emulator.stop();
      await closeQueues(queues);
      await redis.cleanup();
      await database.close();
    },
  };
}
