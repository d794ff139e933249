/**
 * A worker's stop with a job that does not finish: after its drain time the stop goes on
 * without it, so the trade stream is closed and its lease given up for the next worker at once
 * (not left until the entry point's deadline kills the process and the lease lapses after it).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseHolder } from "../../jobs/leases";
import { closeQueues, createQueues } from "../../jobs/queues";
import { streamLeaseKey } from "../../jobs/streamLease";
import { createWorkerRuntime } from "../../jobs/worker";
import { TEST_REDIS_URL } from "../support/redis";
import { type Lifecycle, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("worker-stop-hung");
});
afterAll(async () => {
  await t?.close();
});

describe("a worker's stop with a hung job", () => {
  it("closes the stream and gives its lease up once the drain time is over", async () => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues({ connection, prefix: t.prefix });
    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const runtime = await createWorkerRuntime({
      deps: { ...t.deps, settings: { ...t.deps.settings, streamLeaseMs: 1_500 } },
      connection,
      prefix: t.prefix,
      queues,
      accountIds: [t.accountId],
      schedules: false,
      // A valuation that never ends (a broker call waiting out a long pause, say).
      processors: {
        value: async () => {
          started = true;
          await hanging;
        },
      },
      drainTimeoutMs: 500,
    });
    const key = streamLeaseKey(`${t.prefix}:`, t.accountId);
    try {
      await waitFor(async () => runtime.streams?.held().length === 1, 10_000, "stream held");
      await queues.value.add("value", { accountId: t.accountId } as never);
      await waitFor(async () => started, 10_000, "the job to start");

      const stopping = runtime.stop().then(() => "stopped" as const);
      const outcome = await Promise.race([
        stopping,
        new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 5_000)),
      ]);
      expect(outcome).toBe("stopped");
      expect(runtime.streams?.held()).toEqual([]);
      expect(await leaseHolder(t.redis.redis, key)).toBeNull();
    } finally {
      release();
      await runtime.stop();
      await closeQueues(queues).catch(() => {});
      connection.disconnect();
    }
  }, 30_000);
});
