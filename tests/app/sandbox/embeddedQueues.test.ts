/**
 * The sandbox's queues on the embedded database (BullMQ's Postgres backend): several workers
 * competing for the same jobs take each exactly once, duplicate job ids are one job, failures
 * are retried, schedulers repeat, and the stream lease has one holder at a time.
 */
import type { Job, Queue, Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedQueues, openEmbeddedQueues } from "../../../app/sandbox/embeddedQueues";
import { createLease } from "../../../jobs/leases";
import { openQueue, openWorker, pingQueueStore } from "../../../jobs/queueConnection";

let queues: EmbeddedQueues;
const opened: (Queue | Worker)[] = [];

beforeAll(async () => {
  queues = await openEmbeddedQueues();
});
afterAll(async () => {
  for (const item of opened.reverse()) await item.close();
  await queues?.close();
});

async function waitFor(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("embedded queues", () => {
  it("answers the health check", async () => {
    expect(await pingQueueStore(queues.store)).toEqual({
      ok: true,
      detail: "embedded database (in memory)",
    });
  });

  it("gives each job to exactly one of several competing workers, once", async () => {
    const queue = openQueue<{ n: number }>("compete", queues.store, {});
    opened.push(queue);
    const runs = new Map<string, string[]>();
    let active = 0;
    let mostActive = 0;
    const processor = (name: string) => async (job: Job<{ n: number }>) => {
      active += 1;
      mostActive = Math.max(mostActive, active);
      runs.set(job.id ?? "?", [...(runs.get(job.id ?? "?") ?? []), name]);
      await new Promise((resolve) => setTimeout(resolve, job.data.n % 3));
      active -= 1;
      return job.data.n;
    };
    for (const name of ["w1", "w2", "w3"]) {
      opened.push(openWorker("compete", processor(name), queues.store, { concurrency: 4 }));
    }
    const total = 150;
    // Each job is added twice at once, as two producers reporting the same event would.
    await Promise.all(
      Array.from({ length: total }, (_, n) =>
        Promise.all([
          queue.add("job", { n }, { jobId: `job-${n}` }),
          queue.add("job", { n }, { jobId: `job-${n}` }),
        ]),
      ),
    );
    await waitFor(
      async () => (await queue.getJobCounts("completed")).completed === total,
      "every job to complete",
    );
    expect(runs.size).toBe(total);
    expect([...runs.values()].filter((by) => by.length !== 1)).toEqual([]);
    // More than one worker took part, several jobs at a time.
    expect(new Set([...runs.values()].flat()).size).toBeGreaterThan(1);
    expect(mostActive).toBeGreaterThan(1);
    expect(await queue.getJobCounts("waiting", "active", "failed")).toEqual({
      waiting: 0,
      active: 0,
      failed: 0,
    });
  });

  it("retries a failing job with its backoff and repeats a scheduler", async () => {
    const queue = openQueue<{ kind: string }>("retry", queues.store, {});
    opened.push(queue);
    let attempts = 0;
    let ticks = 0;
    opened.push(
      openWorker<{ kind: string }>(
        "retry",
        async (job) => {
          if (job.data.kind === "tick") {
            ticks += 1;
            return;
          }
          attempts += 1;
          if (attempts < 3) throw new Error("broker busy");
        },
        queues.store,
        {},
      ),
    );
    const job = await queue.add(
      "flaky",
      { kind: "flaky" },
      { attempts: 5, backoff: { type: "fixed", delay: 50 } },
    );
    await queue.upsertJobScheduler(
      "tick",
      { every: 100 },
      { name: "tick", data: { kind: "tick" } },
    );
    await waitFor(
      async () => (await queue.getJob(job.id ?? ""))?.finishedOn !== undefined && ticks >= 3,
      "the retried job and three ticks",
    );
    expect(attempts).toBe(3);
    expect(await (await queue.getJob(job.id ?? ""))?.getState()).toBe("completed");
    await queue.removeJobScheduler("tick");
  });

  it("keeps the stream lease to one holder; a lapsed lease passes to the next", async () => {
    const a = createLease(queues.store, "lease-test", "holder-a", 300);
    const b = createLease(queues.store, "lease-test", "holder-b", 300);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.renew()).toBe(true);
    expect(await b.renew()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await b.acquire()).toBe(true);
    expect(await a.renew()).toBe(false);
    await a.release();
    expect(await a.acquire()).toBe(false);
    await b.release();
    expect(await a.acquire()).toBe(true);
  });
});
