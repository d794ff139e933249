/**
 * A worker process's job machinery: BullMQ workers for the lifecycle queues, the recurring
 * schedules (New York time), the account streams (one holder per account, by lease), and a
 * stop for SIGTERM that stops taking jobs, lets the active ones finish, and closes the stream,
 * the queues and the connections.
 */
import type { Processor, Worker } from "bullmq";
import type { JobDeps } from "./context";
import { createExecuteProcessor } from "./execute";
import { createOrderEventsProcessor, createStreamEventHandler } from "./orderEvents";
import { createOrderReportHandler } from "./orderReports";
import { createProtectProcessor } from "./protect";
import { openWorker, type QueueConnection } from "./queueConnection";
import { closeQueues, QUEUE_NAMES, type QueueKey, type Queues } from "./queues";
import { lifecycleSchedules } from "./schedules";
import { type StreamSupervisor, startStreamSupervisor } from "./streamLease";

/** Processors built elsewhere for the other queues (valuation, reconciliation, daily, delivery). */
export type ExtraProcessors = Partial<
  Record<"value" | "reconcile" | "daily" | "notify", Processor>
>;

export interface WorkerRuntimeOptions {
  readonly deps: JobDeps;
  /**
   * Where the jobs are kept: Redis (BullMQ needs `maxRetriesPerRequest: null`; duplicated for
   * blocking calls) or a PostgreSQL store. The stream leases are kept there too.
   */
  readonly connection: QueueConnection;
  readonly prefix: string;
  readonly queues: Queues;
  /** Accounts this process serves (streams, schedules, start-up poll and reconciliation). */
  readonly accountIds: readonly number[];
  readonly processors?: ExtraProcessors;
  /** Hold the account streams (default true). */
  readonly streams?: boolean;
  /** Register the recurring jobs (default true). */
  readonly schedules?: boolean;
  /** Lock and stall detection; shorter in tests so a killed worker's job moves on quickly. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** Recorded on every job this process takes (BullMQ `processedBy`), e.g. the host and pid. */
  readonly workerName?: string;
  /** Closes what the caller opened for this runtime (database pool, Redis), last in `stop`. */
  readonly closeResources?: () => Promise<void>;
  /**
   * How long `stop` waits for the active jobs (default 12 000 ms, inside the entry point's 20 s
   * limit with room for the rest); past it, it goes on without them.
   */
  readonly drainTimeoutMs?: number;
}

/** Whether `promise` settles within `ms` (it is left to settle on its own otherwise). */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const settle = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(settle, settle);
  });
}

export interface WorkerRuntime {
  readonly workers: readonly Worker[];
  readonly streams: StreamSupervisor | null;
  /** SIGTERM: stop taking jobs, finish the active ones, close the streams, queues and connections. */
  stop(): Promise<void>;
}

/** Starts the workers, schedules and streams of one process. */
export async function createWorkerRuntime(options: WorkerRuntimeOptions): Promise<WorkerRuntime> {
  const { deps, queues } = options;
  const handler = createOrderReportHandler(deps);
  const protect = createProtectProcessor(deps, { handler });
  const reportOptions = { handler, protectInline: protect.protectInline };
  const processors: Partial<Record<QueueKey, Processor>> = {
    execute: createExecuteProcessor(deps, { handler }),
    orderEvents: createOrderEventsProcessor(deps, reportOptions),
    protect,
    ...options.processors,
  };
  const workers: Worker[] = [];
  for (const [key, processor] of Object.entries(processors) as [QueueKey, Processor][]) {
    const worker = openWorker(QUEUE_NAMES[key], processor, options.connection, {
      prefix: options.prefix,
      concurrency: deps.settings.concurrency,
      ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
      ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
      maxStalledCount: 3,
      ...(options.workerName ? { name: options.workerName } : {}),
    });
    worker.on("failed", (job, error) => {
      deps.logger.warn(
        { queue: key, jobId: job?.id, attempts: job?.attemptsMade, err: error },
        "job failed",
      );
    });
    worker.on("error", (error) => deps.logger.error({ queue: key, err: error }, "worker error"));
    workers.push(worker);
  }

  const drainMs = options.drainTimeoutMs ?? 12_000;
  try {
    if (options.schedules ?? true) {
      for (const schedule of lifecycleSchedules(options.accountIds)) {
        if (!processors[schedule.queue]) continue;
        const queue = queues[schedule.queue] as Queues["notify"];
        await queue.upsertJobScheduler(schedule.id, schedule.repeat, {
          name: schedule.name,
          data: schedule.data as never,
        });
      }
    }
    for (const accountId of options.accountIds) {
      await deps.jobs.requestPoll(accountId, "start");
      if (processors.reconcile) await deps.jobs.requestReconcile(accountId, "start");
    }
  } catch (error) {
    // The workers already take jobs, and the caller gets no runtime to stop them by.
    await settlesWithin(Promise.all(workers.map((w) => w.close())), drainMs);
    throw error;
  }

  const streams =
    (options.streams ?? true)
      ? startStreamSupervisor(deps, {
          connection: options.connection,
          keyPrefix: `${options.prefix}:`,
          accountIds: options.accountIds,
          handleEvent: createStreamEventHandler(reportOptions),
          ...(options.workerName ? { holderName: options.workerName } : {}),
        })
      : null;

  let stopping: Promise<void> | null = null;
  return {
    workers,
    streams,
    stop() {
      stopping ??= (async () => {
        // Stop taking jobs and wait for the active ones; the streams keep publishing meanwhile.
        // A job that does not finish in time is left behind (its lock lapses and another worker
        // takes it up): waiting on it until the entry point's deadline kills the process would
        // leave the stream's lease held, and nobody holding the stream, until the lease lapses.
        if (!(await settlesWithin(Promise.all(workers.map((w) => w.close())), drainMs))) {
          deps.logger.warn(
            { drainTimeoutMs: drainMs },
            "active jobs did not finish in time; stopping without them",
          );
        }
        await streams?.stop();
        await closeQueues(queues);
        await options.closeResources?.();
      })();
      return stopping;
    },
  };
}
