/**
 * Order lifecycle figures, each beside its floor measured in the same run, on a scratch
 * PostgreSQL database (BENCH_DATABASE_URL or TEST_DATABASE_URL's server), Redis (BENCH_REDIS_URL
 * or TEST_REDIS_URL, own key prefix) and the simulators in a process of their own (the broker is
 * another service in a deployment). BENCH_LIFECYCLE_ONLY=latency or throughput runs one part.
 *
 * 1. Entry fill to protective stop accepted at the broker, for OCO-protected entries: from the
 *    entry's fill on the trade stream to the `new` event of its OCO, p50 and p99 over at least
 *    500 fills, in waves of 10 fills at once (BENCH_LIFECYCLE_WAVES, default 50; the waves stack
 *    50 trades in each of 10 symbols) and one at a time (BENCH_LIFECYCLE_SINGLE_FILLS, default
 *    500), each in a symbol of its own as most of a desk's fills are. With
 *    BENCH_LIFECYCLE_SINGLE_SYMBOLS=k the single fills take turns in k symbols instead, stacking
 *    trades there: at k=1, every fill also meets the hundreds of working orders and protective
 *    order ids of the trades before it. Floor: one PostgreSQL commit plus one loopback HTTP round
 *    trip, sampled once between each two rounds, right before the next round's fills: in the
 *    conditions they meet (the worker process running, earlier fills' safety-net jobs coming
 *    due). The floor measured before any worker runs is printed too, with the ratio to it.
 *    Target: p99 at most 10 times the floor.
 * 2. Decisions executed per second end to end (decision to entry acknowledged by the broker and
 *    stored), with one and with two worker processes (each a worker runtime with its own database
 *    pool and connections, as deployed). Target: at least 300 per second. Each run uses accounts
 *    of its own (a simulator each), so entries left resting by earlier runs do not weigh on it:
 *    once on one account (entries of one account are checked one at a time, under its entry
 *    lock) and once spread over several accounts (BENCH_LIFECYCLE_ACCOUNTS, default 4), each
 *    after an untimed warm-up batch (BENCH_LIFECYCLE_WARM_UP, default 100). Each figure comes with
 *    the CPU time per decision of the workers, the simulators and PostgreSQL: on a shared machine
 *    the rate moves with everything else running, the CPU time much less. Floor: commits each
 *    followed by a loopback HTTP round trip, 16 at once, per second; beside it the CPU time of the
 *    parts of a decision that are not the desk's database work (its queue job, its entry sent
 *    and acknowledged), which bound the rate on this machine's cores before any database work.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import postgres from "postgres";
import { ensureBrokerAccount } from "../db/brokerAccounts";
import { type OpenDatabase, openDatabase, queryRows } from "../db/database";
import { createDecision, type Decision } from "../db/decisions";
import { saveRiskLimits } from "../db/riskLimits";
import { upsertUser } from "../db/users";
import type { Broker } from "../domain/broker";
import { dec } from "../domain/money";
import { DEFAULT_RISK_LIMITS } from "../domain/riskLimits";
import { createJobClient } from "../jobs/client";
import type { JobSettings } from "../jobs/context";
import { closeQueues, createQueues, type Queues } from "../jobs/queues";
import { type BenchChild, forkBenchChild } from "./childProcess";
import {
  BENCH_KEY,
  BENCH_SECRET,
  type BenchSimulatorUrls,
  createBenchBroker,
} from "./lifecycleBroker";
import {
  type FloorSampler,
  measureEntrySubmit,
  measureLatencyFloor,
  measureQueueJob,
  measureRateFloor,
  openFloorSampler,
} from "./lifecycleFloors";
import type { WorkerProcessConfig } from "./lifecycleWorker";

const DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/test";
const START = "2026-03-02T14:35:00Z";
const SYMBOLS = Array.from({ length: 10 }, (_, i) => `B${String(i).padStart(2, "0")}`);
/**
 * The symbols of the one-fill-at-a-time run: one per fill, unless BENCH_LIFECYCLE_SINGLE_SYMBOLS
 * says fewer.
 */
function singleSymbols(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `S${String(i).padStart(3, "0")}`);
}

/**
 * A price from whole cents. The entries step down a cent at a time from just under the market,
 * and at $1,000 a 5% price collar leaves room for 5,000 of them.
 */
function fromCents(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** A figure's verdict against its target, for the reader of the output. */
function verdict(pass: boolean): string {
  return pass ? "PASS" : "FAIL";
}

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One broker account of the bench: its row, its simulator and the broker talking to it. */
interface BenchAccount {
  readonly accountId: number;
  readonly broker: Broker;
  readonly sim: BenchSimulatorUrls;
}

interface Bench {
  readonly database: OpenDatabase;
  readonly databaseUrl: string;
  /** The process the simulators run in. */
  readonly simulators: BenchChild;
  /** Every account's broker, by account id (the first account's is `broker`). */
  readonly brokers: Map<number, Broker>;
  addAccount(): Promise<BenchAccount>;
  readonly broker: Broker;
  readonly accountId: number;
  readonly ownerId: number;
  readonly sim: BenchSimulatorUrls;
  readonly prefix: string;
  readonly redisUrl: string;
  readonly connections: Redis[];
  /** The bench clock (START, moving with the wall clock), for the worker processes too. */
  readonly clock: WorkerProcessConfig["clock"];
  now(): Date;
  control(path: string, body: unknown): Promise<void>;
}

async function openBench(
  scratchUrl: string,
  simulators: BenchChild,
  singles: readonly string[],
): Promise<Bench> {
  const redisUrl =
    process.env.BENCH_REDIS_URL || process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";
  const database = await openDatabase({ url: scratchUrl, maxConnections: 20 });
  const prefix = `bench-lifecycle-${randomUUID().slice(0, 8)}`;
  const limiterRedis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const at = new Date(START);
  const owner = await upsertUser(database.db, { telegramUserId: 9_000_001, role: "trader" }, at);
  const brokers = new Map<number, Broker>();
  let index = 0;
  async function addAccount(): Promise<BenchAccount> {
    const sim = await simulators.request<BenchSimulatorUrls>({
      kind: "start",
      options: {
        keyId: BENCH_KEY,
        secretKey: BENCH_SECRET,
        time: START,
        cash: "100000000",
        rateLimitPerMinute: 100_000_000,
        symbols: Object.fromEntries([...SYMBOLS, ...singles].map((s) => [s, { price: "1000.00" }])),
      },
    });
    const broker = createBenchBroker(limiterRedis, prefix, sim);
    const account = await ensureBrokerAccount(
      database.db,
      {
        environment: "paper",
        brokerAccountId: index === 0 ? "PA-BENCH" : `PA-BENCH-${index}`,
        ownerUserId: owner.id,
      },
      at,
    );
    await saveRiskLimits(
      database.db,
      account.id,
      {
        ...DEFAULT_RISK_LIMITS,
        maxOpenPositions: 1_000,
        maxPositionPercent: dec("50"),
        maxSectorExposurePercent: dec("100"),
        maxTotalExposurePercent: dec("100"),
        maxOrdersPerMinute: 1_000_000,
        duplicateWindowMs: 0,
        minRewardToRisk: dec("1"),
      },
      "bench",
      at,
    );
    index += 1;
    brokers.set(account.id, broker);
    return { accountId: account.id, broker, sim };
  }
  const first = await addAccount();
  const sim = first.sim;
  const origin = Date.parse(START);
  const wallStart = Date.now();
  return {
    database,
    databaseUrl: scratchUrl,
    simulators,
    brokers,
    addAccount,
    broker: first.broker,
    accountId: first.accountId,
    ownerId: owner.id,
    sim,
    prefix,
    redisUrl,
    connections: [limiterRedis],
    clock: { origin, wallStart },
    now: () => new Date(origin + (Date.now() - wallStart)),
    async control(path, body) {
      await controlSim(sim, path, body);
    },
  };
}

async function controlSim(sim: BenchSimulatorUrls, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  await res.arrayBuffer();
}

/**
 * Starts `count` worker processes over `accounts` (the first holds the streams) and answers once
 * every one runs; `stop` ends them all.
 */
async function startWorkerProcesses(
  bench: Bench,
  count: number,
  settings: Partial<JobSettings>,
  accounts: readonly BenchAccount[],
): Promise<{ readonly children: readonly BenchChild[]; stop(): Promise<void> }> {
  const children: BenchChild[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const config: WorkerProcessConfig = {
        databaseUrl: bench.databaseUrl,
        redisUrl: bench.redisUrl,
        prefix: bench.prefix,
        clock: bench.clock,
        accounts: accounts.map((a) => ({ accountId: a.accountId, ...a.sim })),
        streams: i === 0,
        settings,
        maxConnections: 16,
      };
      children.push(
        forkBenchChild("lifecycleWorker.ts", { BENCH_WORKER_CONFIG: JSON.stringify(config) }),
      );
    }
    await Promise.all(children.map((c) => c.request({ kind: "ready" })));
  } catch (error) {
    await stop();
    throw error;
  }
  return { children, stop };
}

/**
 * CPU time (ms) of the PostgreSQL sessions on the bench database, summed, when this machine runs
 * the server (read from /proc; null elsewhere). Sessions that ended are not counted.
 */
async function databaseCpuMillis(bench: Bench): Promise<number | null> {
  const sessions = await queryRows<{ pid: number }>(
    bench.database.db,
    sql`select pid from pg_stat_activity where datname = current_database()`,
  );
  let ticks = 0;
  for (const { pid } of sessions) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }
  // Linux counts in clock ticks of 10 ms.
  return ticks * 10;
}

/** CPU time (ms) of each process in `children`, summed. */
async function cpuMillis(children: readonly BenchChild[]): Promise<number> {
  const micros = await Promise.all(children.map((c) => c.cpuMicros()));
  return micros.reduce((a, b) => a + b, 0) / 1000;
}

async function decide(
  bench: Bench,
  symbol: string,
  entry: string,
  quantity = "1",
  accountId = bench.accountId,
): Promise<Decision> {
  const entryPrice = dec(entry);
  const stop = dec("900.00");
  return createDecision(
    bench.database.db,
    {
      accountId,
      source: "api",
      symbol,
      side: "buy",
      entryType: "limit",
      entryPrice,
      stopPrice: stop,
      targetPrice: dec("1300.00"),
      quantity: dec(quantity),
      riskAmount: entryPrice.minus(stop).times(quantity),
      createdBy: "api",
      status: "approved",
      decidedByUserId: bench.ownerId,
    },
    bench.now(),
  );
}

async function executedCount(bench: Bench, ids: readonly number[]): Promise<number> {
  const rows = await queryRows<{ n: string }>(
    bench.database.db,
    sql`select count(*)::text as n from decisions where status = 'executed' and id = any(${sql.raw(
      `array[${ids.join(",")}]::bigint[]`,
    )})`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Prints where the bench's decisions stand and what the database sessions wait on (a timeout). */
async function reportDecisions(bench: Bench): Promise<void> {
  const rows = await queryRows<{ status: string; reason: string | null; n: string }>(
    bench.database.db,
    sql`select status::text, status_reason as reason, count(*)::text as n from decisions group by 1, 2`,
  );
  const activity = await queryRows<{ state: string; wait: string | null; n: string }>(
    bench.database.db,
    sql`select state, wait_event_type || ':' || wait_event as wait, count(*)::text as n
        from pg_stat_activity where datname = current_database() group by 1, 2`,
  );
  process.stderr.write(`${JSON.stringify(rows)}\n${JSON.stringify(activity)}\n`);
}

/** Whether the order-event and protect queues have nothing waiting or running. */
async function idle(queues: Queues): Promise<boolean> {
  const counts = await Promise.all(
    [queues.orderEvents, queues.protect].map((q) =>
      q.getJobCounts("active", "wait", "prioritized"),
    ),
  );
  return counts.every((c) => (c.active ?? 0) + (c.wait ?? 0) + (c.prioritized ?? 0) === 0);
}

/**
 * Whether every exit the worker placed has its broker's answer and acknowledgement stored: the
 * stream holder handles those itself, so the queues being idle does not say so.
 */
async function exitsSettled(bench: Bench): Promise<boolean> {
  const rows = await queryRows<{ n: string }>(
    bench.database.db,
    sql`select count(*)::text as n from orders
        where role in ('TAKE_PROFIT', 'STOP_LOSS')
          and (broker_order_id is null or status = 'pending_new')`,
  );
  return Number(rows[0]?.n ?? 0) === 0;
}

/**
 * Figure 1: entry fill to OCO accepted, over rounds of fills: each round fills one entry in each of
 * its symbols at once, and starts once the previous round has settled. A symbol's entries rest a
 * cent apart below the market, one per round it is in, and each round's quote fills its next one.
 */
async function measureProtection(
  bench: Bench,
  rounds: readonly (readonly string[])[],
  floor: FloorSampler,
): Promise<{ readonly latencies: number[]; readonly floors: number[] }> {
  // The worker runs in a process of its own, as deployed: this process only listens and times.
  const runtimes = await startWorkerProcesses(bench, 1, { nativeBrackets: false }, [
    { accountId: bench.accountId, broker: bench.broker, sim: bench.sim },
  ]);
  const fills = new Map<string, number>();
  const stops = new Map<string, number>();
  const floors: number[] = [];
  const watch = await bench.broker.subscribeTradeUpdates({
    onTradeUpdate: (update) => {
      const t = performance.now();
      const id = update.order.clientOrderId;
      if (update.event === "fill" && id.endsWith("-entry")) fills.set(id, t);
      if (update.event === "new" && /^t\d+-x1$/.test(id)) stops.set(id, t);
    },
    onResyncNeeded: () => {},
  });
  if (!watch.ok) throw new Error(watch.message);
  const queues = createQueues({ connection: bench.connections[0] as Redis, prefix: bench.prefix });
  const jobs = createJobClient(queues);
  try {
    for (const symbol of new Set(rounds.flat())) {
      await bench.control("/sim/quotes", { symbol, bid: "1000.20", ask: "1000.22" });
    }
    // Each round's price (in cents) in each of its symbols: a cent below the symbol's last one.
    const taken = new Map<string, number>();
    const prices = rounds.map((symbols) =>
      symbols.map((symbol) => {
        const earlier = taken.get(symbol) ?? 0;
        taken.set(symbol, earlier + 1);
        return { symbol, cents: 99_950 - earlier };
      }),
    );
    const decisions: Decision[][] = [];
    for (const round of prices) {
      const placed = await Promise.all(
        round.map(({ symbol, cents }) => decide(bench, symbol, fromCents(cents))),
      );
      decisions.push(placed);
      await Promise.all(placed.map((d) => jobs.executeDecision(d.id)));
    }
    const all = decisions.flat();
    await waitUntil(
      async () =>
        (await executedCount(
          bench,
          all.map((d) => d.id),
        )) === all.length,
      120_000,
      "entries resting",
    ).catch(async (error: unknown) => {
      await reportDecisions(bench);
      throw error;
    });
    // Statistics as on a running database (see measureThroughput).
    await bench.database.db.execute(sql`analyze`);
    for (const [r, round] of prices.entries()) {
      const before = stops.size;
      await Promise.all(
        round.map(({ symbol, cents }) =>
          bench.control("/sim/quotes", {
            symbol,
            bid: fromCents(cents - 2),
            ask: fromCents(cents),
          }),
        ),
      );
      await waitUntil(async () => stops.size >= before + round.length, 30_000, `round ${r}`);
      // Each round on its own: the next fills come once the worker has stored what this round's
      // stops brought back (the broker's answers and acknowledgements), not in the middle of it.
      await waitUntil(
        async () => (await idle(queues)) && (await exitsSettled(bench)),
        30_000,
        `round ${r} settled`,
      );
      // The floor in the conditions the next round's fills meet: right before they come.
      floors.push(await floor.sample());
    }
    const trades = await queryRows<{ id: string; decision_id: string }>(
      bench.database.db,
      sql`select id::text, decision_id::text from trades where decision_id is not null`,
    );
    if (process.env.BENCH_LIFECYCLE_DIAGNOSE) {
      for (const key of ["orderEvents", "protect"] as const) {
        const done = await queues[key].getJobs(["completed"], 0, 200);
        const wait = done.map((j) => (j.processedOn ?? 0) - j.timestamp).sort((a, b) => a - b);
        const work = done
          .map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0))
          .sort((a, b) => a - b);
        process.stdout.write(
          `${key}: ${done.length} jobs, wait p50 ${percentile(wait, 50)} p99 ${percentile(wait, 99)}, work p50 ${percentile(work, 50)} p99 ${percentile(work, 99)}\n`,
        );
      }
    }
    const latencies: number[] = [];
    for (const row of trades) {
      const filled = fills.get(`d${row.decision_id}-entry`);
      const stopped = stops.get(`t${row.id}-x1`);
      if (filled !== undefined && stopped !== undefined) latencies.push(stopped - filled);
    }
    return { latencies: latencies.sort((a, b) => a - b), floors: floors.sort((a, b) => a - b) };
  } finally {
    await watch.value.close();
    await runtimes.stop();
    await closeQueues(queues);
  }
}

/** A throughput run's figures. */
interface ThroughputFigures {
  readonly perSecond: number;
  /** CPU time per decision of the worker processes and of the simulators' process, in ms. */
  readonly workerCpuMs: number;
  readonly simulatorCpuMs: number;
  /** The bench database's sessions, when measurable. */
  readonly databaseCpuMs: number | null;
}

/**
 * Figure 2: decisions executed per second with `workers` worker processes, spread evenly over
 * `accounts` fresh accounts (with nothing resting from earlier runs). A first batch of `warmUp`
 * decisions runs untimed, so the figure is the workers' steady rate (a deployed worker is warm),
 * not their start. The CPU time the processes spent per decision comes with it: unlike the rate,
 * the machine's other load hardly moves it.
 */
async function measureThroughput(
  bench: Bench,
  workers: number,
  count: number,
  accounts: number,
  warmUp: number,
): Promise<ThroughputFigures> {
  const fresh: BenchAccount[] = [];
  for (let a = 0; a < accounts; a++) fresh.push(await bench.addAccount());
  for (const account of fresh) {
    for (const symbol of SYMBOLS) {
      await controlSim(account.sim, "/sim/quotes", { symbol, bid: "1000.20", ask: "1000.22" });
    }
  }
  const decisions: Decision[] = [];
  for (let i = 0; i < warmUp + count; i++) {
    const account = fresh[i % fresh.length];
    if (!account) throw new Error("no account");
    // Resting entries: acknowledged and stored, not filled.
    decisions.push(
      await decide(bench, SYMBOLS[i % SYMBOLS.length] ?? "B00", "970.00", "1", account.accountId),
    );
  }
  // Statistics as autovacuum keeps them on a running database: a scratch one that just grew by
  // hundreds of rows has none yet, and its plans would be a fresh database's, not the desk's.
  await bench.database.db.execute(sql`analyze`);
  const producer = bench.connections[0] as Redis;
  const queues = createQueues({ connection: producer, prefix: bench.prefix });
  const jobs = createJobClient(queues);
  const runtimes = await startWorkerProcesses(bench, workers, { nativeBrackets: true }, fresh);
  const executeAll = async (ids: readonly number[]) => {
    await Promise.all(ids.map((id) => jobs.executeDecision(id)));
    await waitUntil(
      async () => (await executedCount(bench, ids)) === ids.length,
      300_000,
      "decisions",
    ).catch(async (error: unknown) => {
      await reportDecisions(bench);
      throw error;
    });
  };
  const ids = decisions.map((d) => d.id);
  try {
    await executeAll(ids.slice(0, warmUp));
    const cpuBefore = await Promise.all([
      cpuMillis(runtimes.children),
      cpuMillis([bench.simulators]),
      databaseCpuMillis(bench),
    ]);
    const start = performance.now();
    await executeAll(ids.slice(warmUp));
    const seconds = (performance.now() - start) / 1000;
    const cpuAfter = await Promise.all([
      cpuMillis(runtimes.children),
      cpuMillis([bench.simulators]),
      databaseCpuMillis(bench),
    ]);
    return {
      perSecond: count / seconds,
      workerCpuMs: (cpuAfter[0] - cpuBefore[0]) / count,
      simulatorCpuMs: (cpuAfter[1] - cpuBefore[1]) / count,
      databaseCpuMs:
        cpuAfter[2] === null || cpuBefore[2] === null ? null : (cpuAfter[2] - cpuBefore[2]) / count,
    };
  } finally {
    await runtimes.stop();
    await closeQueues(queues);
  }
}

/** Figure 1 and its floor. */
async function measureLatency(
  bench: Bench,
  waves: number,
  singles: readonly string[],
): Promise<void> {
  const quiet = await measureLatencyFloor(bench.database.db, 300);
  const quietP50 = percentile(quiet, 50);
  process.stdout.write(
    `floor before the fills (1 PostgreSQL commit + 1 loopback HTTP round trip, ${quiet.length} ` +
      `samples, no worker running): p50 ${ms(quietP50)}, p99 ${ms(percentile(quiet, 99))}\n`,
  );
  const sampler = await openFloorSampler(bench.database.db);
  try {
    const stacked = Math.max(
      1,
      Number(process.env.BENCH_LIFECYCLE_SINGLE_SYMBOLS || singles.length),
    );
    for (const [label, rounds] of [
      [`waves of ${SYMBOLS.length}`, Array.from({ length: waves }, () => SYMBOLS)],
      [
        stacked === singles.length ? "one at a time" : `one at a time over ${stacked} symbol(s)`,
        singles.map((_, i) => [singles[i % stacked] ?? "S000"]),
      ],
    ] as const) {
      // BENCH_LIFECYCLE_WAVES=0 (or no single fills) leaves a part out: nothing to print.
      if (rounds.length === 0) continue;
      const { latencies, floors } = await measureProtection(bench, rounds, sampler);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const floorP50 = percentile(floors, 50);
      const ratio = p99 / floorP50;
      process.stdout.write(
        `fill -> OCO stop accepted (${latencies.length} fills, ${label}): ` +
          `p50 ${ms(p50)}, p99 ${ms(p99)}; floor between the rounds p50 ${ms(floorP50)} ` +
          `(${floors.length} samples); p99 = ${ratio.toFixed(1)}x that floor ` +
          `(${(p99 / quietP50).toFixed(1)}x the floor before the fills) ` +
          `(target <= 10x, i.e. p99 <= ${ms(10 * floorP50)}): ${verdict(ratio <= 10)}\n`,
      );
    }
  } finally {
    await sampler.close();
  }
}

/**
 * Figure 2's floor: commits each followed by a loopback round trip, as many at once as two worker
 * processes take decisions. Then the parts of a decision that are not the desk's own database
 * work, with their CPU time: its queue job and its entry sent and acknowledged. Their CPU time
 * bounds the rate on this machine's cores even with no database work at all.
 */
async function printThroughputFloors(bench: Bench): Promise<void> {
  const inFlight = 16;
  const floor = await measureRateFloor(bench.database.db, inFlight, 2_000);
  const job = await measureQueueJob(bench.redisUrl, inFlight / 2, 2_000);
  const account = await bench.addAccount();
  for (const symbol of SYMBOLS) {
    await controlSim(account.sim, "/sim/quotes", { symbol, bid: "1000.20", ask: "1000.22" });
  }
  const entry = await measureEntrySubmit(
    account.broker,
    () => bench.simulators.cpuMicros(),
    SYMBOLS,
    inFlight,
    1_000,
  );
  const cores = availableParallelism();
  const partsCpu = job.cpuMs + job.serviceCpuMs + entry.cpuMs + entry.serviceCpuMs;
  process.stdout.write(
    `floor (1 PostgreSQL commit + 1 loopback HTTP round trip per decision, ${inFlight} at once): ` +
      `${floor.toFixed(0)}/s\n` +
      `parts of a decision besides the desk's database work: a queue job ${job.perSecond.toFixed(0)}/s ` +
      `(CPU ${job.cpuMs.toFixed(2)} ms worker + ${job.serviceCpuMs.toFixed(2)} ms Redis); an entry ` +
      `sent through the adapter and acknowledged on the stream ${entry.perSecond.toFixed(0)}/s ` +
      `(CPU ${entry.cpuMs.toFixed(2)} ms worker + ${entry.serviceCpuMs.toFixed(2)} ms simulator); ` +
      `together ${partsCpu.toFixed(2)} ms of CPU per decision, at most ` +
      `${((cores * 1000) / partsCpu).toFixed(0)}/s on ${cores} cores before any database work\n`,
  );
}

/** Figure 2, on one account and spread over several, with one and two worker processes. */
async function measureThroughputs(bench: Bench, count: number): Promise<void> {
  const spread = Number(process.env.BENCH_LIFECYCLE_ACCOUNTS || 4);
  const warmUp = Number(process.env.BENCH_LIFECYCLE_WARM_UP || 100);
  await printThroughputFloors(bench);
  for (const accounts of [1, spread]) {
    for (const workers of [1, 2]) {
      const figures = await measureThroughput(bench, workers, count, accounts, warmUp);
      const rate = figures.perSecond;
      process.stdout.write(
        `decisions executed end to end with ${workers} worker process(es), ${accounts} account(s): ` +
          `${rate.toFixed(0)}/s (${count} decisions after ${warmUp} untimed; target >= 300/s): ` +
          `${verdict(rate >= 300)}; CPU per decision: workers ${figures.workerCpuMs.toFixed(2)} ms, ` +
          `simulators ${figures.simulatorCpuMs.toFixed(2)} ms, PostgreSQL ` +
          `${figures.databaseCpuMs === null ? "not measured" : `${figures.databaseCpuMs.toFixed(2)} ms`}\n`,
      );
    }
  }
}

export default async function run(): Promise<void> {
  const serverUrl =
    process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || DEFAULT_SERVER_URL;
  const name = `bench_lifecycle_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const only = process.env.BENCH_LIFECYCLE_ONLY;
  if (only !== undefined && only !== "latency" && only !== "throughput") {
    throw new Error(`BENCH_LIFECYCLE_ONLY must be latency or throughput, got "${only}"`);
  }
  const simulators = forkBenchChild("lifecycleSimulators.ts");
  let bench: Bench | null = null;
  try {
    const singles = singleSymbols(Number(process.env.BENCH_LIFECYCLE_SINGLE_FILLS || 500));
    bench = await openBench(url.toString(), simulators, singles);
    const waves = Number(process.env.BENCH_LIFECYCLE_WAVES || 50);
    const count = Number(process.env.BENCH_LIFECYCLE_DECISIONS || 600);
    if (only !== "throughput") await measureLatency(bench, waves, singles);
    if (only !== "latency") await measureThroughputs(bench, count);
  } finally {
    await simulators.stop();
    if (bench) {
      await bench.database.close();
      const cleaner = bench.connections[0];
      if (cleaner) {
        let cursor = "0";
        do {
          const [next, keys] = await cleaner.scan(
            cursor,
            "MATCH",
            `${bench.prefix}*`,
            "COUNT",
            500,
          );
          cursor = next;
          if (keys.length > 0) await cleaner.del(...keys);
        } while (cursor !== "0");
      }
      await Promise.all(bench.connections.map((c) => c.quit()));
    }
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}
