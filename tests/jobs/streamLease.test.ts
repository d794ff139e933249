/** One trade stream per account: the lease in Redis, and a second process taking the stream over. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLease } from "../../jobs/leases";
import { startStreamSupervisor, streamLeaseKey } from "../../jobs/streamLease";
import { type Lifecycle, openLifecycle, waitFor } from "./harness";

let t: Lifecycle;

beforeAll(async () => {
  t = await openLifecycle("stream-lease");
});
afterAll(async () => {
  await t?.close();
});

describe("stream lease", () => {
  it("has one holder at a time; a holder that stops renewing loses it to the next", async () => {
    const key = `${t.redis.prefix}lease-test`;
    const a = createLease(t.redis.redis, key, "holder-a", 300);
    const b = createLease(t.redis.redis, key, "holder-b", 300);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.renew()).toBe(true);
    expect(await b.renew()).toBe(false);
    // A dies: no renewal; the lease lapses and B takes it. A's late renewal fails.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await b.acquire()).toBe(true);
    expect(await a.renew()).toBe(false);
    // Releasing is compare-and-delete: A cannot release B's lease.
    await a.release();
    expect(await t.redis.redis.get(key)).toBe("holder-b");
    await b.release();
    expect(await t.redis.redis.get(key)).toBeNull();
  });

  it("lets a second process take the account's stream over when the first stops holding it", async () => {
    const deps = { ...t.deps, settings: { ...t.deps.settings, streamLeaseMs: 600 } };
    const options = {
      connection: t.redis.redis,
      keyPrefix: t.redis.prefix,
      accountIds: [t.accountId],
    };
    const first = startStreamSupervisor(deps, options);
    await waitFor(async () => first.held().length === 1, 10_000, "first holder");
    const second = startStreamSupervisor(deps, options);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(second.held()).toEqual([]);
    expect(await t.redis.redis.get(streamLeaseKey(t.redis.prefix, t.accountId))).not.toBeNull();
    await first.stop();
    await waitFor(async () => second.held().length === 1, 10_000, "second holder");
    // The new holder asked for a poll and a reconciliation when its stream started listening.
    const polls = await t.queues.orderEvents.getJobs(["waiting", "active", "completed"]);
    expect(polls.some((j) => j.data.kind === "poll" && j.data.reason === "stream-connected")).toBe(
      true,
    );
    await second.stop();
  });
});
