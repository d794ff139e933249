/**
 * Composition of the desk: one function starts the roles a process runs (`all`, `bot`,
 * `worker`) with everything they need, and returns one `stop()` that takes it all down in
 * reverse order. In sandbox mode (no broker credentials) it also starts the simulator, queues on
 * an embedded database when no Redis was configured, a local Bot API and the chat in the terminal.
 */
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { Queue } from "bullmq";
import { sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { commandMenusFor, createBot } from "../bot/createBot";
import {
  type AlertNotifier,
  createAlertNotifier,
  settleExpiredAlerts,
} from "../bot/features/alerts";
import { redisConversationStorage } from "../bot/features/planStorage";
import { type BotRunner, startBot } from "../bot/runner";
import { createWebhookHandler, registerBotWebhook } from "../bot/webhook";
import { alpacaUrls, createAlpacaBroker } from "../broker/alpaca/client";
import {
  createLocalRateLimiter,
  createRedisRateLimiter,
  rateLimitBucketFor,
} from "../broker/rateLimiter";
import type { Alert } from "../db/alerts";
import {
  ensureBrokerAccount,
  listBrokerAccounts,
  storeEncryptedCredentials,
} from "../db/brokerAccounts";
import { type OpenDatabase, openDatabase } from "../db/database";
import { demoteUsersNotIn, upsertUser } from "../db/users";
import type { Broker } from "../domain/broker";
import { createJobClient, type JobClient } from "../jobs/client";
import { createKillSwitchClient, createKillSwitchQueue } from "../jobs/killSwitchQueue";
import { claimQueuePrefix, databaseIdentity, prefixOwnerKey } from "../jobs/prefixClaim";
import { pingQueueStore, type QueueConnection } from "../jobs/queueConnection";
import { closeQueues, createQueues, type Queues } from "../jobs/queues";
import { type RunningSimulator, startSimulator } from "../sim/server";
import { maskKeyId, openCredentials, sealCredentials } from "./brokerCredentials";
import {
  type AlpacaCredentials,
  type AppConfig,
  DEFAULT_REDIS_PREFIX,
  type UserRole,
} from "./config";
import { EmbeddedDatabaseInUse, lockEmbeddedDatabase } from "./embeddedLock";
import { createExecutionService } from "./execution/service";
import type { HealthCheck } from "./http/health";
import { createHttpServer, type HttpServerDeps } from "./http/server";
import { instrumentBroker } from "./instrumentedBroker";
import { createMarketFacts } from "./marketFacts";
import { createMetrics, type DeskMetrics } from "./metrics";
import { maskUrl } from "./redact";
import { openMainRedis, openWorkerRedis } from "./redisConnection";
import { createDailyLossResumeCheck } from "./resumeCheck";
import { type LocalBotApi, type SandboxUser, startLocalBotApi } from "./sandbox/botApi";
import { openEmbeddedQueues } from "./sandbox/embeddedQueues";
import { openSimulatedSession, restoreSimulatedPositions } from "./sandbox/simulatorSession";
import { startTerminalChat, TERMINAL_HELP, type TerminalChat } from "./sandbox/terminalChat";
import { createSecretBox, type SecretBox, SecretsError } from "./secrets";
import { configurationRefusal, sandboxSplitRefusal } from "./startRefusal";
import { createTradingRequests } from "./tradingRequests";
import { startLifecycleWorkers } from "./workers";

/** The sandbox's one user: the person at the terminal, an admin. */
export const SANDBOX_USER: SandboxUser = { id: 1_000_001, firstName: "Sandbox", username: "you" };
/** Key pair the sandbox uses with its own simulator (it accepts any pair). */
const SANDBOX_KEYS = { keyId: "sandbox-key", secretKey: "sandbox-secret" } as const;
const SANDBOX_ACCOUNT_ID = "sandbox-simulator";
/** How often alerts past their expiry are marked expired in every copy sent. */
const ALERT_EXPIRY_SWEEP_MS = 30_000;

/** How long the entry point lets a graceful stop take before it exits anyway. */
export { STOP_LIMIT_MS } from "./stopLimit";
/** BullMQ and rate-limit key prefix (REDIS_PREFIX; RuntimeOptions.queuePrefix overrides it). */
export const DEFAULT_QUEUE_PREFIX = DEFAULT_REDIS_PREFIX;

/** What the job workers get from the runtime (jobs/ builds the processors from it). */
export interface WorkerContext {
  readonly db: OpenDatabase["db"];
  readonly broker: Broker;
  readonly accountId: number;
  readonly queues: Queues;
  readonly jobs: JobClient;
  /** Where the jobs are kept: Redis for workers (maxRetriesPerRequest: null) or a store. */
  readonly connection: QueueConnection;
  readonly queuePrefix: string;
  readonly logger: Logger;
  readonly metrics: DeskMetrics;
  readonly now: () => Date;
  readonly telegram: { readonly token: string; readonly apiRoot: string } | null;
  /** When and how entries are sent (EXECUTION_WINDOW, NATIVE_BRACKETS). */
  readonly execution: AppConfig["execution"];
}

/** Running workers: how to stop them and how their trade stream is doing. */
export interface RunningWorkers {
  stop(): Promise<void>;
  /** How the account's trade stream is doing; null: up elsewhere (another worker holds it). */
  streamStatus?():
    | { readonly ok: boolean; readonly detail: string }
    | null
    | Promise<{ readonly ok: boolean; readonly detail: string } | null>;
}

export type WorkerFactory = (context: WorkerContext) => Promise<RunningWorkers>;

export interface RuntimeOptions {
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Where the sandbox chat reads and writes; without it the sandbox has no terminal chat. */
  readonly terminal?: { readonly input: Readable; readonly output: Writable };
  /** The terminal user typed :quit. */
  readonly onQuitRequested?: () => void;
  /**
   * The bot stopped polling for good (e.g. 409: another process polls with the token). The
   * process then has no bot: the entry point stops it for its supervisor to start it again.
   */
  readonly onBotCrashed?: () => void;
  /** Starts the job workers (roles `all` and `worker`). */
  readonly workers?: WorkerFactory;
  /** The fan-out of accepted alerts to traders (the bot's). Default: logged only. */
  readonly onAlertAccepted?: (alert: Alert) => Promise<void>;
  /** Redis key prefix of the queues and the rate limiter (default: REDIS_PREFIX's). */
  readonly queuePrefix?: string;
  /** Interface the HTTP server binds (default 127.0.0.1 in the sandbox, 0.0.0.0 otherwise). */
  readonly httpHost?: string;
}

export interface Runtime {
  /** Base URL of the HTTP server. */
  readonly httpUrl: string;
  /** Lines for the start banner about what was started. */
  readonly summary: readonly string[];
  stop(): Promise<void>;
}

/** A start-up failure with a message for the operator (no stack trace needed). */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** Starts the roles of `config.role`; on any failure, stops what was started and rethrows. */
export async function startRuntime(config: AppConfig, options: RuntimeOptions): Promise<Runtime> {
  const logger = options.logger;
  const wallClock = options.now ?? (() => new Date());
  // With the simulator in this process the whole desk runs on its clock, so `:time +30m` moves
  // sessions, expiries and schedules for everyone alike.
  let now = wallClock;
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const summary: string[] = [];
  const onStop = (name: string, stop: () => Promise<void>) => stops.push({ name, stop });
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.error({ err: error, component: name }, "stopping a component failed");
      }
    }
    stops.length = 0;
  };
  const queuePrefix = options.queuePrefix ?? config.redis.prefix;
  const runsBot = config.role === "all" || config.role === "bot";
  const runsWorkers = config.role === "all" || config.role === "worker";

  try {
    // A split desk on the embedded database is refused on the configuration alone, before
    // anything is opened.
    const refusal = configurationRefusal(config);
    if (refusal !== null) throw new StartupError(refusal);
    if (config.database.kind === "embedded") {
      const release = await lockEmbeddedDatabase(config.database.directory).catch((error) => {
        throw error instanceof EmbeddedDatabaseInUse ? new StartupError(error.message) : error;
      });
      onStop("embedded database lock", release);
    }
    const opened = await openDatabase(
      config.database.kind === "postgres"
        ? { url: config.database.url }
        : { dataDir: join(config.database.directory, "db") },
    );
    onStop("database", () => opened.close());
    const db = opened.db;

    // Broker credentials: the environment's, else the ones stored with `npm run credentials`.
    let credentials = config.alpaca.credentials;
    let environment: "paper" | "live" = config.mode === "live" ? "live" : "paper";
    let endpoints = {
      tradingUrl: config.alpaca.tradingUrl,
      dataUrl: config.alpaca.dataUrl,
      streamUrl: config.alpaca.streamUrl,
    };
    const box = config.secretsKey === null ? null : createSecretBox(config.secretsKey);
    if (credentials === null && box === null) {
      // Without the key stored credentials cannot be opened; the simulator must not quietly
      // stand in for the account they were stored for.
      const holders = (await listBrokerAccounts(db)).filter((a) => a.encryptedCredentials !== null);
      if (holders.length > 0) {
        throw new StartupError(
          `${holders.length === 1 ? "Account" : "Accounts"} ${holders.map((a) => a.id).join(", ")} ${holders.length === 1 ? "holds" : "hold"} stored broker credentials, but SECRETS_KEY is not set to open them: set SECRETS_KEY to the key they were stored with, or set ALPACA_KEY_ID and ALPACA_SECRET_KEY`,
        );
      }
    }
    if (credentials === null && box !== null) {
      const stored = await storedCredentials(db, box);
      if (stored !== null) {
        credentials = stored.credentials;
        environment = "paper";
        // Alpaca's paper hosts, unless ALPACA_*_URL point elsewhere (e.g. `npm run sim`).
        const paper = alpacaUrls(true);
        endpoints = {
          tradingUrl: endpoints.tradingUrl ?? paper.tradingUrl,
          dataUrl: endpoints.dataUrl ?? paper.dataUrl,
          streamUrl: endpoints.streamUrl ?? paper.streamUrl,
        };
        summary.push(
          `broker: stored credentials of account ${stored.accountId} (paper, key id ${maskKeyId(stored.credentials.keyId)}); orders go to ${maskUrl(endpoints.tradingUrl ?? paper.tradingUrl)}`,
        );
      }
    }
    const sandbox = credentials === null;

    // Broker endpoints: the simulator in this process when none are configured.
    let simulator: RunningSimulator | null = null;
    let { tradingUrl, dataUrl, streamUrl } = endpoints;
    if (tradingUrl === null || dataUrl === null || streamUrl === null) {
      if (config.role !== "all") {
        // Each process would get an exchange of its own: the bot's orders would never reach the worker's.
        throw new StartupError(sandboxSplitRefusal(config.role));
      }
      simulator = await startSimulator({ clockRunning: true });
      const running = simulator;
      onStop("simulator", () => running.close());
      tradingUrl ??= simulator.url;
      dataUrl ??= simulator.url;
      streamUrl ??= simulator.streamUrl;
      const simulatedClock = simulator.clock;
      now = () => simulatedClock.now();
      const opened = await openSimulatedSession(db, simulator.url, SANDBOX_KEYS);
      summary.push(
        opened === null
          ? `simulator: ${simulator.url} (the market is open)`
          : `simulator: ${simulator.url} (its clock starts in an open session, at ${opened}; :time moves it)`,
      );
    }

    // Queues: Redis when configured; the sandbox without REDIS_URL keeps them in an embedded
    // database of their own, so a newcomer needs nothing but Node and npm.
    let redis: Redis | null = null;
    let queueConnection: QueueConnection;
    if (sandbox && config.redis.isDefault) {
      const embedded = await openEmbeddedQueues();
      onStop("embedded queues", () => embedded.close());
      queueConnection = embedded.store;
      summary.push(`queues: ${embedded.store.description}; set REDIS_URL to use Redis`);
    } else {
      const connected = await connectRedis(config.redis.url);
      onStop("redis", async () => {
        connected.disconnect();
      });
      redis = connected;
      queueConnection = connected;
      // Another desk's workers on this prefix would take our jobs (and we theirs): account ids
      // repeat across databases, so its orders would go to our broker account.
      const claim = await claimQueuePrefix(connected, queuePrefix, await databaseIdentity(db));
      if (!claim.ok) {
        throw new StartupError(
          `Redis key prefix '${queuePrefix}' belongs to the desk of another database: set REDIS_PREFIX to a prefix of this desk's own (e.g. desk-live), so the two desks do not take each other's jobs. If this database replaces that one, delete the key ${prefixOwnerKey(queuePrefix)} once the old desk is stopped`,
        );
      }
    }

    const keys = credentials ?? SANDBOX_KEYS;
    const metrics = createMetrics();
    const alpaca = createAlpacaBroker({
      keyId: keys.keyId,
      secretKey: keys.secretKey,
      tradingUrl,
      dataUrl,
      streamUrl,
      // Without Redis there is one process (the sandbox), so its own count is the whole budget.
      rateLimiter:
        redis === null
          ? createLocalRateLimiter()
          : createRedisRateLimiter({
              redis,
              keyPrefix: `${queuePrefix}:`,
              // The sandbox's simulator is its own, whatever key: its budget is the prefix's.
              bucket: credentials === null ? "sandbox" : rateLimitBucketFor(keys.keyId),
            }),
      logger: logger.child({ component: "broker" }),
    });
    const broker = instrumentBroker(alpaca, metrics, db, logger.child({ component: "metrics" }));
    const brokerAccount = await broker.getAccount();
    if (!brokerAccount.ok) {
      throw new StartupError(
        `The broker refused the account request (${brokerAccount.code}: ${brokerAccount.message}); check ALPACA_KEY_ID, ALPACA_SECRET_KEY and ALPACA_PAPER`,
      );
    }
    const account = await ensureBrokerAccount(
      db,
      {
        environment,
        brokerAccountId: sandbox ? SANDBOX_ACCOUNT_ID : brokerAccount.value.accountId,
        label: sandbox ? "sandbox (simulator)" : `alpaca ${environment}`,
      },
      now(),
    );
    // Keys given in the environment are kept with their account too, sealed with SECRETS_KEY.
    if (config.alpaca.credentials !== null && box !== null) {
      await storeEncryptedCredentials(
        db,
        account.id,
        sealCredentials(box, account.id, config.alpaca.credentials),
        now(),
      );
    }

    if (simulator !== null) {
      const restored = await restoreSimulatedPositions({
        db,
        accountId: account.id,
        simulatorUrl: simulator.url,
        keys,
      });
      if (restored.length > 0) {
        summary.push(
          `simulator: the last run's positions opened again (${restored.map((p) => `${p.symbol} ${p.quantity}`).join(", ")}); reconciliation re-places their stops`,
        );
      }
    }

    const allowedUsers = new Map<number, UserRole>(
      config.telegram.allowedUsers.map((u) => [u.telegramUserId, u.role] as const),
    );
    if (config.telegram.botToken === null) allowedUsers.set(SANDBOX_USER.id, "admin");
    // The stored users follow the list of whoever has one: the bot's (a token), or the sandbox
    // chat's. A process with neither (a worker without a token) leaves them alone.
    if (config.telegram.botToken !== null || runsBot) {
      for (const [telegramUserId, role] of allowedUsers) {
        await upsertUser(db, { telegramUserId, role }, now());
      }
      // Admins and traders get the account's notices: someone taken off the list must not.
      // Only the bot's own list says so (a sandbox chat on a shared database does not).
      const demoted =
        config.telegram.botToken === null
          ? []
          : await demoteUsersNotIn(db, [...allowedUsers.keys()], now());
      if (demoted.length > 0) {
        logger.info(
          { telegramUserIds: demoted },
          "users no longer in TELEGRAM_ALLOWED_USERS are viewers now",
        );
      }
    }

    const queues = createQueues({ connection: queueConnection, prefix: queuePrefix });
    onStop("queues", () => closeQueues(queues));
    const jobs = createJobClient(queues);
    const killSwitchQueue = createKillSwitchQueue({
      connection: queueConnection,
      prefix: queuePrefix,
    });
    onStop("kill-switch queue", () => killSwitchQueue.close());
    const killSwitch = createKillSwitchClient(killSwitchQueue);
    // Without a listener BullMQ prints each connection error raw on stderr, every reconnection
    // attempt while Redis is down. Debug: the health check and the workers report the outage.
    for (const queue of [...Object.values(queues), killSwitchQueue] as Queue[]) {
      queue.on("error", (error) =>
        logger.debug({ queue: queue.name, err: error }, "queue connection error"),
      );
    }

    metrics.setSources({
      async queueDepths() {
        const depths: Record<string, Record<string, number>> = {};
        // The kill-switch queue too: a /flatten or /close that failed for good is counted there.
        for (const queue of [...Object.values(queues), killSwitchQueue] as Queue[]) {
          depths[queue.name] = await queue.getJobCounts("waiting", "active", "delayed", "failed");
        }
        return depths;
      },
      async tradingStates() {
        return (await listBrokerAccounts(db)).map((a) => ({
          accountId: a.id,
          mode: a.tradingState,
        }));
      },
    });

    // Telegram: the real Bot API, or the sandbox's own with the chat in this terminal.
    let telegram: { token: string; apiRoot: string } | null = null;
    let localApi: LocalBotApi | null = null;
    if (config.telegram.botToken !== null) {
      telegram = { token: config.telegram.botToken, apiRoot: config.telegram.apiRoot };
    } else if (runsBot) {
      const api = await startLocalBotApi();
      localApi = api;
      onStop("local bot api", () => api.close());
      telegram = { token: api.token, apiRoot: api.apiRoot };
    }

    const health: HealthCheck[] = [
      {
        name: "database",
        required: true,
        async check() {
          await db.execute(sql`select 1`);
          return { ok: true, detail: opened.driver };
        },
      },
      {
        name: "queues",
        required: true,
        async check() {
          const answer = await pingQueueStore(queueConnection);
          return redis === null ? answer : { ...answer, detail: maskUrl(config.redis.url) };
        },
      },
      {
        name: "broker",
        required: true,
        async check() {
          const clock = await broker.getClock();
          return clock.ok
            ? { ok: true, detail: `market ${clock.value.isOpen ? "open" : "closed"}` }
            : { ok: false, detail: clock.code };
        },
      },
    ];

    if (!runsWorkers && redis !== null) {
      // A bot alone queues the trades it confirms: without a worker nothing is ever sent.
      const execute = queues.execute;
      health.push({
        name: "workers",
        required: true,
        async check() {
          let count: number;
          try {
            count = await execute.getWorkersCount();
          } catch {
            // Some managed Redis refuse CLIENT LIST; Redis itself down is the queues check's.
            return { ok: true, detail: "not known (Redis refused CLIENT LIST)" };
          }
          return count > 0
            ? { ok: true, detail: `${count} taking execute jobs` }
            : { ok: false, detail: "no worker takes execute jobs; start a ROLE=worker process" };
        },
      });
    }

    let workers: RunningWorkers | null = null;
    if (runsWorkers) {
      const startWorkers = options.workers ?? startLifecycleWorkers;
      let workerConnection = queueConnection;
      if (redis !== null) {
        const duplicate = openWorkerRedis(redis);
        onStop("worker redis", async () => {
          duplicate.disconnect();
        });
        workerConnection = duplicate;
      }
      workers = await startWorkers({
        db,
        broker,
        accountId: account.id,
        queues,
        jobs,
        connection: workerConnection,
        queuePrefix: queuePrefix,
        logger: logger.child({ component: "jobs" }),
        metrics,
        now,
        telegram,
        execution: config.execution,
      });
      const running = workers;
      onStop("workers", () => running.stop());
      summary.push("workers: running");
      health.push({
        name: "stream",
        required: true,
        async check() {
          const status = (await running.streamStatus?.()) ?? null;
          return status ?? { ok: true, detail: "held by another worker" };
        },
      });
    }

    let runner: BotRunner | null = null;
    let alertNotifier: AlertNotifier | null = null;
    let telegramWebhook: HttpServerDeps["telegramWebhook"];
    let registerWebhook: (() => Promise<void>) | null = null;
    if (runsBot && telegram !== null) {
      const botDeps = {
        token: telegram.token,
        apiRoot: telegram.apiRoot,
        allowedUsers,
        logger: logger.child({ component: "bot" }),
        now,
        db,
        market: createMarketFacts({ broker, db, now, logger }),
        decisions: { submit: (decisionId: number) => jobs.executeDecision(decisionId) },
        trading: createTradingRequests(jobs, killSwitch),
        dailyLossAllowsResume: createDailyLossResumeCheck({ db, now, broker, logger }),
        executionWindow: config.execution.window,
        // Open /plan forms survive a restart of the bot when they are kept in Redis; the sandbox
        // without Redis keeps them in memory.
        ...(redis === null
          ? {}
          : {
              conversationStorage: redisConversationStorage(redis, `${queuePrefix}:conversation:`),
            }),
        // Read by features that act on the desk's account.
        jobs,
        accountId: account.id,
      };
      const bot = createBot(botDeps);
      alertNotifier = createAlertNotifier(bot.api, botDeps);
      // Alerts nobody decided in time say so in every copy, without waiting for a press.
      const alertExpiry = setInterval(() => {
        settleExpiredAlerts(bot.api, botDeps).catch((error: unknown) =>
          logger.warn({ err: error }, "expired alerts not settled"),
        );
      }, ALERT_EXPIRY_SWEEP_MS);
      alertExpiry.unref();
      onStop("alert expiry", async () => clearInterval(alertExpiry));
      // The sandbox's local Bot API has no webhook: a webhook needs a bot token (see config).
      const webhook = localApi === null ? config.telegram.webhook : null;
      if (webhook !== null) {
        telegramWebhook = {
          path: webhook.path,
          handle: createWebhookHandler(bot, { secret: webhook.secret }),
        };
        let registered = false;
        // Registered once the HTTP server listens, so Telegram's first post finds the route.
        registerWebhook = async () => {
          await registerBotWebhook(bot, {
            url: webhook.url,
            secret: webhook.secret,
            logger: botDeps.logger,
            commandMenus: commandMenusFor(botDeps),
          });
          registered = true;
          summary.push(`bot: webhook at ${webhook.path}`);
        };
        health.push({
          name: "telegram",
          required: true,
          async check() {
            return registered
              ? { ok: true, detail: "webhook" }
              : { ok: false, detail: "webhook not registered" };
          },
        });
      } else {
        const started = await startBot(bot, {
          logger: botDeps.logger,
          commandMenus: commandMenusFor(botDeps),
        });
        runner = started;
        onStop("bot", () => started.stop());
        void started.ended().then((outcome) => {
          if (outcome === "crashed") options.onBotCrashed?.();
        });
        health.push({
          name: "telegram",
          required: true,
          async check() {
            return started.isRunning()
              ? { ok: true, detail: "polling" }
              : { ok: false, detail: "not polling" };
          },
        });
      }
    }

    const app = createHttpServer({
      logger,
      metrics,
      health,
      ...(telegramWebhook === undefined ? {} : { telegramWebhook }),
      ...(runsBot
        ? {
            alerts: {
              db,
              now,
              // Scanners sign with real time, whatever the simulated clock says.
              signatureClock: wallClock,
              secret: config.http.alertWebhookSecret,
              onAlertAccepted:
                options.onAlertAccepted ??
                (async (alert) => {
                  const delivery = await alertNotifier?.onAlertAccepted(alert);
                  logger.info(
                    { alertId: alert.externalId, delivery },
                    "alert handed to the traders",
                  );
                }),
            },
            execution: {
              apiToken: config.http.apiToken,
              service: createExecutionService({
                db,
                broker,
                jobs,
                accountId: account.id,
                logger: logger.child({ component: "execution-api" }),
                metrics,
                now,
              }),
            },
          }
        : {}),
    });
    const host = options.httpHost ?? (sandbox ? "127.0.0.1" : "0.0.0.0");
    try {
      await app.listen({ port: config.http.port, host });
    } catch (error) {
      throw new StartupError(
        `HTTP_PORT ${config.http.port} cannot be used (${error instanceof Error ? error.message : String(error)}); set HTTP_PORT to a free port`,
      );
    }
    onStop("http", () => app.close());
    if (registerWebhook !== null) await registerWebhook();
    const httpUrl = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${config.http.port}`;
    summary.push(
      `http: ${httpUrl} (/healthz, /metrics${runsBot ? ", /api/alerts, /api/execution" : ""})`,
    );

    if (localApi !== null && runner !== null && options.terminal !== undefined) {
      const chat: TerminalChat = startTerminalChat({
        api: localApi,
        user: SANDBOX_USER,
        input: options.terminal.input,
        output: options.terminal.output,
        simulatorUrl: simulator?.url ?? null,
        onQuit: options.onQuitRequested ?? (() => {}),
      });
      onStop("terminal chat", async () => chat.close());
      summary.push(
        `chat: this terminal; you are Telegram user ${SANDBOX_USER.id} (admin). Type /start.`,
      );
      options.terminal.output.write(`${TERMINAL_HELP}\n`);
    }

    let stopping: Promise<void> | null = null;
    return {
      httpUrl,
      summary,
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * A newcomer should be able to trade at once: when the real market is closed, the simulated
 * clock jumps to a minute after the next session open (calendar and clock then agree, unlike a
 * forced-open market). Answers the new time, or null when the market was open.
 */
/** The one account holding stored paper credentials, if any; refuses ambiguity and live ones. */
async function storedCredentials(
  db: OpenDatabase["db"],
  box: SecretBox,
): Promise<{ accountId: number; credentials: AlpacaCredentials } | null> {
  const holders = (await listBrokerAccounts(db)).filter((a) => a.encryptedCredentials !== null);
  const live = holders.filter((a) => a.environment === "live");
  const paper = holders.filter((a) => a.environment === "paper");
  if (paper.length === 0) {
    if (live.length > 0) {
      throw new StartupError(
        `Account ${live.map((a) => a.id).join(", ")} holds live credentials, which are never used implicitly. Trade live with ALPACA_PAPER=false, LIVE_TRADING=true and the keys in ALPACA_KEY_ID / ALPACA_SECRET_KEY`,
      );
    }
    return null;
  }
  if (paper.length > 1) {
    throw new StartupError(
      `Accounts ${paper.map((a) => a.id).join(", ")} all hold stored paper credentials; one process trades one account. Set ALPACA_KEY_ID and ALPACA_SECRET_KEY to choose`,
    );
  }
  const [account] = paper;
  if (account === undefined) return null;
  try {
    const credentials = openCredentials(box, account);
    return credentials === null ? null : { accountId: account.id, credentials };
  } catch (error) {
    throw new StartupError(
      `The credentials stored on account ${account.id} cannot be opened (${error instanceof SecretsError ? error.code : "unreadable"}): was SECRETS_KEY changed? Store them again with npm run credentials -- add`,
    );
  }
}

/** Connects to Redis and checks it answers, or fails with a sentence for the operator. */
async function connectRedis(url: string): Promise<Redis> {
  const redis = openMainRedis(url);
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error("no answer within 6 s")), 6_000);
    });
    try {
      await Promise.race([redis.connect().then(() => redis.ping()), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new StartupError(
      `Redis at ${maskUrl(url)} is not reachable (${error instanceof Error ? error.message : String(error)}); start Redis or set REDIS_URL`,
    );
  }
}
