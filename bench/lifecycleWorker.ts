/**
 * One worker runtime of the lifecycle bench, in a process of its own (forked by the bench), as a
 * worker is deployed: its own database pool, Redis connections and brokers. Configured by
 * BENCH_WORKER_CONFIG (JSON, `WorkerProcessConfig`); answers `{ kind: "ready" }` once its
 * workers run (and its streams are held, when it holds them) and stops on `{ kind: "stop" }`.
 */
import { Redis } from "ioredis";
import pino from "pino";
import { openDatabase } from "../db/database";
import type { Broker } from "../domain/broker";
import { createJobClient } from "../jobs/client";
import { createJobDeps, type JobSettings } from "../jobs/context";
import { createQueues } from "../jobs/queues";
import { createWorkerRuntime } from "../jobs/worker";
import { serveBenchRequests } from "./childProcess";
import { type BenchSimulatorUrls, createBenchBroker } from "./lifecycleBroker";

/** What the bench tells a worker process. */
export interface WorkerProcessConfig {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  /** The bench clock: `origin` plus the wall time elapsed since `wallStart` (ms). */
  readonly clock: { readonly origin: number; readonly wallStart: number };
  readonly accounts: readonly ({ readonly accountId: number } & BenchSimulatorUrls)[];
  readonly streams: boolean;
  readonly settings: Partial<JobSettings>;
  readonly maxConnections: number;
}

async function start() {
  const config = JSON.parse(process.env.BENCH_WORKER_CONFIG ?? "") as WorkerProcessConfig;
  const database = await openDatabase({
    url: config.databaseUrl,
    maxConnections: config.maxConnections,
    migrate: false,
  });
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const producer = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const brokers = new Map<number, Broker>();
  for (const account of config.accounts) {
    brokers.set(account.accountId, createBenchBroker(producer, config.prefix, account));
  }
  const queues = createQueues({ connection: producer, prefix: config.prefix });
  const { origin, wallStart } = config.clock;
  const deps = createJobDeps({
    db: database.db,
    brokerFor: (accountId) => {
      const broker = brokers.get(accountId);
      if (!broker) throw new Error(`no broker for account ${accountId}`);
      return broker;
    },
    now: () => new Date(origin + (Date.now() - wallStart)),
    logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" }),
    jobs: createJobClient(queues),
    settings: { concurrency: 16, ...config.settings },
  });
  const accountIds = config.accounts.map((a) => a.accountId);
  const runtime = await createWorkerRuntime({
    deps,
    connection,
    prefix: config.prefix,
    queues,
    accountIds,
    streams: config.streams,
    schedules: false,
    closeResources: async () => {
      await database.close();
      await Promise.all([connection.quit(), producer.quit()]);
    },
  });
  return { runtime, streams: config.streams, accounts: accountIds.length };
}

const started = start();
started.catch((error: unknown) => {
  process.stderr.write(`bench worker failed: ${error instanceof Error ? error.stack : error}\n`);
  process.exit(1);
});
serveBenchRequests(
  async (request) => {
    if (request.kind !== "ready") throw new Error(`unknown request ${request.kind}`);
    const { runtime, streams, accounts } = await started;
    const deadline = Date.now() + 10_000;
    while (streams && (runtime.streams?.held().length ?? 0) < accounts) {
      if (Date.now() > deadline) throw new Error("streams not held after 10 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return null;
  },
  async () => (await started).runtime.stop(),
);
