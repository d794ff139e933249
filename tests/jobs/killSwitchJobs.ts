/**
 * The kill-switch queue and a worker running its jobs beside a lifecycle's runtime, as a worker
 * process runs them: /halt sweeps, /close and /flatten.
 */
import { Redis } from "ioredis";
import { createKillSwitchQueue, startKillSwitchWorker } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { TEST_REDIS_URL } from "../support/redis";
import type { Lifecycle } from "./harness";

export interface KillSwitchJobs {
  readonly queue: ReturnType<typeof createKillSwitchQueue>;
  close(): Promise<void>;
}

/** Opens the queue and starts its worker on a connection of its own. */
export function startKillSwitchJobs(t: Lifecycle): KillSwitchJobs {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createKillSwitchQueue({ connection: t.redis.redis, prefix: t.prefix });
  const worker = startKillSwitchWorker({
    deps: t.deps,
    handler: createOrderReportHandler(t.deps),
    connection,
    prefix: t.prefix,
  });
  return {
    queue,
    async close() {
      await worker.close();
      await queue.close();
      await connection.quit();
    },
  };
}
