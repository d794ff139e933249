/**
 * The floors the lifecycle figures stand beside, measured in the same run: the least work a fill's
 * protection or a decision's execution could take on this machine, and what the parts of a
 * decision that are not the desk's own database work cost.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Queue, Worker } from "bullmq";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import type { Database } from "../db/database";
import type { Broker } from "../domain/broker";
import { dec } from "../domain/money";

/** A loopback HTTP server answering every request with `{}`, until closed. */
async function startLoopbackServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One PostgreSQL commit (a one-row insert) followed by one loopback HTTP round trip. */
async function commitThenRoundTrip(db: Database, url: string, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into bench_floor values (${id})`);
  });
  const res = await fetch(url);
  await res.arrayBuffer();
}

/** The latency floor, sampled on demand: one commit followed by one round trip, in ms. */
export interface FloorSampler {
  sample(): Promise<number>;
  close(): Promise<void>;
}

/** Opens a floor sampler (its loopback server runs until `close`). */
export async function openFloorSampler(db: Database): Promise<FloorSampler> {
  await db.execute(sql`create table if not exists bench_floor (id bigint)`);
  const server = await startLoopbackServer();
  let next = 0;
  return {
    async sample() {
      const start = performance.now();
      await commitThenRoundTrip(db, server.url, next++);
      return performance.now() - start;
    },
    close: () => server.close(),
  };
}

/** Latency floor: `samples` commits each followed by a round trip, one at a time, in ms, sorted. */
export async function measureLatencyFloor(db: Database, samples: number): Promise<number[]> {
  const sampler = await openFloorSampler(db);
  try {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) times.push(await sampler.sample());
    return times.sort((a, b) => a - b);
  } finally {
    await sampler.close();
  }
}

/**
 * Rate floor: commits each followed by a round trip, `inFlight` at once, per second. A decision
 * stores its entry and sends it: at least this much, on the same cores.
 */
export async function measureRateFloor(
  db: Database,
  inFlight: number,
  count: number,
): Promise<number> {
  await db.execute(sql`create table if not exists bench_floor (id bigint)`);
  const server = await startLoopbackServer();
  try {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) await commitThenRoundTrip(db, server.url, next++);
      }),
    );
    return count / ((performance.now() - start) / 1000);
  } finally {
    await server.close();
  }
}

/** CPU time (ms) the Redis server has used, from its own account of it. */
async function redisCpuMillis(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const used = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (used("used_cpu_user") + used("used_cpu_sys")) * 1000;
}

/** This process's CPU time in ms. */
function processCpuMillis(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** What one unit of a part of a decision costs: the rate alone, and CPU time per unit. */
export interface PartCost {
  readonly perSecond: number;
  /** This process's CPU per unit, in ms. */
  readonly cpuMs: number;
  /** The other service's (Redis, the simulator) CPU per unit, in ms. */
  readonly serviceCpuMs: number;
}

/**
 * A queue job that does nothing, added, taken and completed (every decision is one `execute`
 * job), `inFlight` at once in this process.
 */
export async function measureQueueJob(
  redisUrl: string,
  inFlight: number,
  count: number,
): Promise<PartCost> {
  const prefix = `bench-floor-${randomUUID().slice(0, 8)}`;
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const consumer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue("floor", { connection: producer, prefix });
  let done = 0;
  const worker = new Worker("floor", async () => void done++, {
    connection: consumer,
    prefix,
    concurrency: inFlight,
  });
  try {
    await worker.waitUntilReady();
    const [cpu, redisCpu, start] = [processCpuMillis(), await redisCpuMillis(producer), Date.now()];
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        queue.add("job", { i }, { jobId: `job-${i}`, removeOnComplete: true }),
      ),
    );
    while (done < count) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (Date.now() - start) / 1000;
    return {
      perSecond: count / seconds,
      cpuMs: (processCpuMillis() - cpu) / count,
      serviceCpuMs: ((await redisCpuMillis(producer)) - redisCpu) / count,
    };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await Promise.all([producer.quit(), consumer.quit()]);
  }
}

/**
 * An entry sent through the Alpaca adapter (rate limiter, POST, answer) to a simulator and its
 * trade stream event received, `inFlight` at once: every decision sends one. The entries are
 * brackets resting below the market in `symbols`, which must be quoted around $1,000.
 */
export async function measureEntrySubmit(
  broker: Broker,
  simulatorCpuMicros: () => Promise<number>,
  symbols: readonly string[],
  inFlight: number,
  count: number,
): Promise<PartCost> {
  let events = 0;
  const stream = await broker.subscribeTradeUpdates({
    onTradeUpdate: () => void events++,
    onResyncNeeded: () => {},
  });
  if (!stream.ok) throw new Error(stream.message);
  const run = randomUUID().slice(0, 8);
  const submit = async (i: number) => {
    const sent = await broker.submitOrder({
      clientOrderId: `floor-${run}-${i}`,
      symbol: symbols[i % symbols.length] ?? "B00",
      side: "buy",
      qty: dec(1),
      timeInForce: "day",
      orderClass: "bracket",
      entry: { type: "limit", limitPrice: dec("970.00") },
      takeProfit: { limitPrice: dec("1300.00") },
      stopLoss: { stopPrice: dec("900.00") },
    });
    if (!sent.ok) throw new Error(`floor entry refused: ${sent.message}`);
  };
  try {
    const [cpu, simCpu, start] = [processCpuMillis(), await simulatorCpuMicros(), Date.now()];
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) await submit(next++);
      }),
    );
    // Each entry's acknowledgement on the stream (as the stream holder receives it).
    const deadline = Date.now() + 10_000;
    while (events < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const seconds = (Date.now() - start) / 1000;
    return {
      perSecond: count / seconds,
      cpuMs: (processCpuMillis() - cpu) / count,
      serviceCpuMs: ((await simulatorCpuMicros()) - simCpu) / 1000 / count,
    };
  } finally {
    await stream.value.close();
  }
}
