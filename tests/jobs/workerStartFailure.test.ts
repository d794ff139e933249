/**
 * A worker runtime whose start fails after its workers were opened closes them: they took jobs
 * in a process whose start had failed, and whose caller had no runtime to stop them by.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeQueues, createQueues } from "../../jobs/queues";
import { createWorkerRuntime } from "../../jobs/worker";
import { TEST_REDIS_URL } from "../support/redis";
import { type Lifecycle, openLifecycle } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("worker-start-failure");
});
afterAll(async () => {
  await t?.close();
});

describe("a worker runtime whose start fails", () => {
  it("leaves no worker taking jobs", async () => {
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues({ connection, prefix: t.prefix });
    let taken = 0;
    try {
      const start = createWorkerRuntime({
        deps: {
          ...t.deps,
          jobs: {
            ...t.deps.jobs,
            requestPoll: async () => {
              throw new Error("Redis went away");
            },
          },
        },
        connection,
        prefix: t.prefix,
        queues,
        accountIds: [t.accountId],
        schedules: false,
        streams: false,
        processors: {
          value: async () => {
            taken += 1;
          },
        },
      });
      await expect(start).rejects.toThrow("Redis went away");
      await queues.value.add("value", { accountId: t.accountId } as never);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(taken).toBe(0);
      expect(await queues.value.getWaitingCount()).toBe(1);
    } finally {
      await queues.value.obliterate({ force: true }).catch(() => {});
      await closeQueues(queues).catch(() => {});
      connection.disconnect();
    }
  }, 30_000);
});
