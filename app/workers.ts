/**
 * The job workers of a process (roles `all` and `worker`): the lifecycle processors from jobs/,
 * with the schedules and the account's trade stream, wired to the runtime's connections.
 */
import { hostname } from "node:os";
import { createJobDeps } from "../jobs/context";
import { createWorkerRuntime } from "../jobs/worker";
import type { RunningWorkers, WorkerContext } from "./runtime";

/** Starts the lifecycle workers for the runtime's account. */
export async function startLifecycleWorkers(context: WorkerContext): Promise<RunningWorkers> {
  const deps = createJobDeps({
    db: context.db,
    brokerFor: () => context.broker,
    logger: context.logger,
    jobs: context.jobs,
    now: context.now,
  });
  const runtime = await createWorkerRuntime({
    deps,
    connection: context.connection,
    prefix: context.queuePrefix,
    queues: context.queues,
    accountIds: [context.accountId],
    workerName: `${hostname()}:${process.pid}`,
  });
  return {
    stop: () => runtime.stop(),
    streamStatus() {
      if (runtime.streams === null) return { ok: false, detail: "streams are off" };
      return runtime.streams.held().includes(context.accountId)
        ? { ok: true, detail: "trade updates stream held by this process" }
        : null;
    },
  };
}
