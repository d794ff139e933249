/**
 * The desk's bot with everything /plan and alerts need, for end-to-end tests: the Bot API
 * emulator, the simulator behind the real Alpaca adapter (read-only market facts as the runtime
 * wires them, app/marketFacts.ts), a fresh
 * PostgreSQL database, the lifecycle queues and the conversation storage on Redis under the test's
 * own prefix, and a clock the test moves.
 */
import { Writable } from "node:stream";
import type { Bot } from "grammy";
import { Redis } from "ioredis";
import type { UserRole } from "../../app/config";
import { createLogger } from "../../app/logger";
import { createMarketFacts } from "../../app/marketFacts";
import type { BotContext } from "../../bot/context";
import { assembleBot, commandMenusFor, DESK_FEATURES } from "../../bot/createBot";
import type { BotDeps, BotFeature } from "../../bot/feature";
import type { PlanningSettings } from "../../bot/features/planPorts";
import { redisConversationStorage } from "../../bot/features/planStorage";
import { type BotRunner, startBot } from "../../bot/runner";
import { createAlpacaBroker } from "../../broker/alpaca/client";
import { createRedisRateLimiter } from "../../broker/rateLimiter";
import { ensureBrokerAccount } from "../../db/brokerAccounts";
import { upsertUser } from "../../db/users";
import type { Broker } from "../../domain/broker";
import { createJobClient } from "../../jobs/client";
import { createJobDeps } from "../../jobs/context";
import { closeQueues, createQueues, type Queues } from "../../jobs/queues";
import { createWorkerRuntime, type WorkerRuntime } from "../../jobs/worker";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from "../support/redis";
import { MARKET_OPEN_TIME, startTestSimulator, type TestSimulator } from "../support/simulator";
import { startTelegramEmulator, type TelegramEmulator } from "../support/telegram";
import { createUpdateTracking } from "./updateTracking";

export interface PlanDesk {
  readonly emulator: TelegramEmulator;
  readonly database: TestDatabase;
  readonly sim: TestSimulator;
  readonly redis: TestRedis;
  readonly queues: Queues;
  readonly broker: Broker;
  readonly deps: BotDeps;
  readonly bot: Bot<BotContext>;
  readonly accountId: number;
  /** Moves the bot's clock. */
  advanceClock(milliseconds: number): void;
  /** Stops the bot and starts a new one on the same deps (a process restart, Redis kept). */
  restartBot(): Promise<void>;
  logs(): Record<string, unknown>[];
  /**
   * Resolves once the bot has taken every update users sent and finished handling them, a
   * handler the chat's timeout released included (see updateTracking.ts); fails after
   * `timeoutMs` (default 10 s).
   */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface PlanDeskOptions {
  readonly name: string;
  readonly users: Readonly<Record<number, UserRole>>;
  readonly features?: readonly BotFeature[];
  readonly planning?: PlanningSettings;
  /** Run the lifecycle workers (execute, order events, protect) with the trade stream. */
  readonly workers?: boolean;
  /** How long one update may hold its chat (default 15 s). */
  readonly updateTimeoutMs?: number;
}

export async function startPlanDesk(options: PlanDeskOptions): Promise<PlanDesk> {
  const emulator = await startTelegramEmulator();
  const sim = await startTestSimulator();
  const redis = createTestRedis(options.name);
  const database = await createTestDatabase("postgres");
  let clock = new Date(MARKET_OPEN_TIME).getTime();
  const now = () => new Date(clock);

  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: "debug", destination });

  const account = await ensureBrokerAccount(
    database.db,
    { environment: "paper", brokerAccountId: "PA-PLAN-DESK" },
    now(),
  );
  for (const [id, role] of Object.entries(options.users)) {
    await upsertUser(
      database.db,
      { telegramUserId: Number(id), role, displayName: `user ${id}` },
      now(),
    );
  }
  const broker = createAlpacaBroker({
    keyId: "plan-desk-key",
    secretKey: "plan-desk-secret",
    tradingUrl: sim.url,
    dataUrl: sim.url,
    streamUrl: sim.streamUrl,
    rateLimiter: createRedisRateLimiter({
      redis: redis.redis,
      keyPrefix: redis.prefix,
      bucket: "plan-desk",
    }),
  });
  const queueConnection: Redis = redis.connect();
  const queuePrefix = `${redis.prefix}queues`;
  const queues = createQueues({ connection: queueConnection, prefix: queuePrefix });
  const jobs = createJobClient(queues);

  const deps: BotDeps = {
    token: emulator.token,
    apiRoot: emulator.apiRoot,
    allowedUsers: new Map(
      Object.entries(options.users).map(([id, role]) => [Number(id), role] as const),
    ),
    logger,
    now,
    updateTimeoutMs: options.updateTimeoutMs ?? 15_000,
    conversationStorage: redisConversationStorage(redis.redis, `${redis.prefix}conversation:`),
    db: database.db,
    market: createMarketFacts({ broker, db: database.db, now }),
    decisions: { submit: (decisionId) => jobs.executeDecision(decisionId) },
    ...(options.planning === undefined ? {} : { planning: options.planning }),
  };
  let workers: WorkerRuntime | null = null;
  if (options.workers === true) {
    workers = await createWorkerRuntime({
      deps: createJobDeps({ db: database.db, brokerFor: () => broker, logger, jobs, now }),
      connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }),
      prefix: queuePrefix,
      queues: createQueues({ connection: redis.connect(), prefix: queuePrefix }),
      accountIds: [account.id],
      streams: true,
      schedules: false,
    });
  }
  const features = options.features ?? DESK_FEATURES;
  const tracking = createUpdateTracking();
  const launch = async (): Promise<{ bot: Bot<BotContext>; runner: BotRunner }> => {
    const bot = assembleBot(deps, [tracking.feature, ...features]);
    tracking.watch(bot);
    const runner = await startBot(bot, {
      logger,
      commandMenus: commandMenusFor(deps, features),
      pollTimeoutSeconds: 5,
      sinkTimeoutMs: 20_000,
    });
    return { bot, runner };
  };
  let running = await launch();
  return {
    emulator,
    database,
    sim,
    redis,
    queues,
    broker,
    deps,
    get bot() {
      return running.bot;
    },
    accountId: account.id,
    async restartBot() {
      await running.runner.stop();
      running = await launch();
    },
    advanceClock(milliseconds) {
      clock += milliseconds;
    },
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    idle: (timeoutMs) => tracking.idle(emulator, timeoutMs),
    async stop() {
      await running.runner.stop();
      await workers?.stop();
      await emulator.stop();
      await closeQueues(queues);
      await sim.close();
      await database.close();
      await redis.cleanup();
    },
  };
}
