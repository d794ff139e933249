/**
 * The `kill-switch` queue: closing a position, flattening an account, and the follow-up sweep of
 * working entries after a halt. Its own queue so a long flatten never waits behind entries, and
 * its retries (a symbol the broker would not close) follow BullMQ's backoff; and the circuit
 * breaker pass after exit fills. Also the hooks that plug the kill switch into the value job (on a
 * halt) and the order-events path (on exit fills).
 */
import type { Job, Queue, Worker } from "bullmq";
import { z } from "zod";
import { loadTradingState } from "../db/brokerAccounts";
import { loadKillSwitchSettings } from "../db/killSwitchSettings";
import { newYorkDateOf } from "../domain/calendar";
import { type BreakerPass, createCircuitBreakers } from "./circuitBreakers";
import type { JobClient } from "./client";
import type { JobDeps } from "./context";
import { createKillSwitch, type KillSwitch, NO_POSITION } from "./killSwitch";
import type { OrderReportHandler } from "./orderReports";
import { openQueue, openWorker, type QueueConnection } from "./queueConnection";
import { DEFAULT_JOB_OPTIONS, DEFAULT_QUEUE_PREFIX, jobIdOf } from "./queues";
import type { HaltCause } from "./value";

export const KILL_SWITCH_QUEUE = "kill-switch";

const id = z.number().int().positive();

export const killSwitchPayloadSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("cancel-entries"), accountId: id, reason: z.string().min(1) }),
  z.object({
    action: z.literal("close"),
    accountId: id,
    symbol: z.string().min(1),
    percent: z.string().nullable(),
    requestedBy: z.string().min(1),
    requestId: z.string().min(1),
  }),
  z.object({ action: z.literal("breakers"), accountId: id }),
  z.object({
    action: z.literal("flatten"),
    accountId: id,
    requestedBy: z.string().min(1),
    requestId: z.string().min(1),
  }),
]);
export type KillSwitchPayload = z.infer<typeof killSwitchPayloadSchema>;

/** Delay of the sweep that follows a halt's immediate cancel (catches an entry sent meanwhile). */
export const SWEEP_DELAY_MS = 3_000;

export interface KillSwitchClient {
  closePosition(
    request: Omit<Extract<KillSwitchPayload, { action: "close" }>, "action">,
  ): Promise<void>;
  flatten(
    request: Omit<Extract<KillSwitchPayload, { action: "flatten" }>, "action">,
  ): Promise<void>;
  sweepEntries(accountId: number, reason: string, delayMs?: number): Promise<void>;
  /** Runs the circuit breakers (drawdown, loss streak) for the account, now or after a delay. */
  checkBreakers(accountId: number, delayMs?: number): Promise<void>;
}

export function createKillSwitchQueue(options: {
  readonly connection: QueueConnection;
  readonly prefix?: string;
}): Queue<KillSwitchPayload> {
  return openQueue<KillSwitchPayload>(KILL_SWITCH_QUEUE, options.connection, {
    prefix: options.prefix ?? DEFAULT_QUEUE_PREFIX,
    // A failed symbol is retried often and quickly at first: a flatten should not wait long.
    defaultJobOptions: {
      ...DEFAULT_JOB_OPTIONS,
      attempts: 10,
      backoff: { type: "exponential", delay: 1_000 },
    },
  });
}

/** Enqueues kill-switch work; job ids make a confirmation tapped twice one job. */
export function createKillSwitchClient(queue: Queue<KillSwitchPayload>): KillSwitchClient {
  return {
    async closePosition(request) {
      await queue.add(
        "close",
        { action: "close", ...request },
        { jobId: jobIdOf("close", request.accountId, request.requestId) },
      );
    },
    async flatten(request) {
      await queue.add(
        "flatten",
        { action: "flatten", ...request },
        { jobId: jobIdOf("flatten", request.accountId, request.requestId) },
      );
    },
    async sweepEntries(accountId, reason, delayMs = SWEEP_DELAY_MS) {
      await queue.add(
        "cancel-entries",
        { action: "cancel-entries", accountId, reason },
        { delay: delayMs, deduplication: { id: jobIdOf("sweep", accountId), ttl: 1_000 } },
      );
    },
    async checkBreakers(accountId, delayMs = 0) {
      await queue.add(
        "breakers",
        { action: "breakers", accountId },
        delayMs > 0
          ? { delay: delayMs }
          : { deduplication: { id: jobIdOf("breakers", accountId), ttl: 500 } },
      );
    },
  };
}

/** Builds the processor; a symbol that failed makes the job throw, so BullMQ retries it. */
export function createKillSwitchProcessor(
  killSwitch: KillSwitch,
  breakers?: {
    readonly check: (accountId: number) => Promise<BreakerPass>;
    /** Schedules the pass that lifts a loss-streak pause when it ends. */
    readonly later: (accountId: number, delayMs: number) => Promise<void>;
    /** Called when the pass halted the account (the drawdown breaker). */
    readonly onHalted?: (accountId: number) => Promise<void>;
    /**
     * Whether the account stands halted by an automatic rule: a retry of a pass whose halt
     * response failed finds the account halted already, and runs the response again then.
     */
    readonly haltedAutomatically?: (accountId: number) => Promise<boolean>;
    readonly now: () => Date;
  },
) {
  return async function processKillSwitch(
    job: Pick<Job, "data" | "attemptsMade"> & { readonly opts?: { readonly attempts?: number } },
  ) {
    const payload = killSwitchPayloadSchema.parse(job.data);
    // Whether BullMQ runs this job again if it throws now (its own rule: attempts left).
    const willRetry = job.attemptsMade + 1 < (job.opts?.attempts ?? 1);
    switch (payload.action) {
      case "cancel-entries": {
        const done = await killSwitch.cancelWorkingEntries(payload.accountId);
        if (done.failed.length > 0) {
          throw new Error(`entries not cancelled yet: ${done.failed.map((f) => f.clientOrderId)}`);
        }
        // An execute job past its checks may still send these: sweep again once it has.
        if (done.unsent.length > 0) {
          throw new Error(`entries not at the broker yet: ${done.unsent.join(", ")}`);
        }
        return done;
      }
      case "breakers": {
        if (!breakers) return { outcome: "off" };
        const pass = await breakers.check(payload.accountId);
        // The halt is stored before its response runs: when the response failed, the retry sees
        // the halt as old news. The response is idempotent (its jobs keyed), so it runs again.
        const haltStands =
          pass.outcome === "unchanged" &&
          job.attemptsMade > 0 &&
          (await breakers.haltedAutomatically?.(payload.accountId)) === true;
        if (pass.outcome === "halted" || haltStands) await breakers.onHalted?.(payload.accountId);
        if (pass.outcome === "paused" && pass.pausedUntil !== null) {
          await breakers.later(
            payload.accountId,
            Math.max(0, pass.pausedUntil - breakers.now().getTime()) + 1_000,
          );
        }
        return pass;
      }
      case "close": {
        const result = await killSwitch.closePosition({ ...payload, exitReason: "MANUAL_EXIT" });
        // Closed meanwhile by something else (its stop, by hand): told by that fill, not retried.
        if (!result.ok && result.code === NO_POSITION) return result;
        if (!result.ok) {
          // A close that went through is told by its fill; one that did not is told here.
          await killSwitch.reportCloses({ ...payload, action: "close", willRetry }, [result]);
          throw new Error(`${result.symbol} not closed: ${result.message}`);
        }
        return result;
      }
      case "flatten": {
        const outcome = await killSwitch.flatten({ ...payload, willRetry });
        if (outcome.failed.length > 0) {
          throw new Error(`not closed yet: ${outcome.failed.map((f) => f.symbol).join(", ")}`);
        }
        // An entry sent after this pass could open a position: the next pass closes it.
        if (outcome.unsentEntries.length > 0) {
          throw new Error(`entries not at the broker yet: ${outcome.unsentEntries.join(", ")}`);
        }
        if (outcome.ordersLeftOpen.length > 0) {
          throw new Error(`orders not cancelled yet: ${outcome.ordersLeftOpen.join(", ")}`);
        }
        return outcome;
      }
    }
  };
}

/**
 * What follows an automatic halt (the value job's daily-loss rule or drawdown breaker, or the
 * breaker pass): the working entries cancelled at once (in this job, no queue hop), a sweep a
 * little later, and the automatic flatten when the account's settings ask for it, asked for by
 * `system:<cause>`. One flatten a halt: a second response to the same halt finds its job.
 */
export function createHaltResponse(
  deps: JobDeps,
  killSwitch: KillSwitch,
  client: KillSwitchClient,
): (accountId: number, cause?: HaltCause) => Promise<void> {
  return async (accountId, cause = "daily-loss") => {
    try {
      await killSwitch.cancelWorkingEntries(accountId);
    } catch (error) {
      // The sweep below does it again (and retries). The flatten must not wait on it: the halt
      // is stored, so a retry of the caller finds it halted already and never comes back here.
      deps.logger.warn(
        { accountId, err: error },
        "working entries not cancelled at the halt; the sweep retries",
      );
    }
    // Each asked for on its own: a failure to queue the sweep must not keep the flatten from
    // being asked for (nothing comes back here to ask again). The first failure is thrown after.
    let failure: unknown = null;
    try {
      await client.sweepEntries(accountId, "halted");
    } catch (error) {
      failure = error;
      deps.logger.error({ accountId, err: error }, "the sweep of entries after a halt not queued");
    }
    const settings = await loadKillSwitchSettings(deps.db, accountId);
    if (settings.flattenOnHalt) {
      // One flatten a halt: the responses to one halt (the value job's, the breaker pass's, a
      // retry's) share its time, while a halt after the day's first was reset (a pre-market halt
      // reset at the open) flattens what was opened since; that flatten's job, done, is kept a
      // day and would stand for it.
      const state = await loadTradingState(deps.db, accountId);
      const halt = state?.mode === "HALTED" ? `-${state.since}` : "";
      await client.flatten({
        accountId,
        requestedBy: `system:${cause}`,
        // The New York date, not the UTC one: an evening halt is already the next day in UTC,
        // and its flatten's job id would stand in for that day's own flatten.
        requestId: `auto-${newYorkDateOf(deps.now())}${halt}`,
      });
    }
    if (failure !== null) throw failure;
  };
}

/**
 * The order-events hook: every exit fill (which asks the protect job to settle the trade's exits)
 * also asks for a valuation, so the daily-loss rule sees the realized loss at once.
 */
export function withDailyLossAfterExits(
  jobs: JobClient,
  onExitFill?: (accountId: number) => Promise<void>,
): JobClient {
  return {
    ...jobs,
    async requestProtection(accountId, tradeId, reason, fillId, options) {
      await jobs.requestProtection(accountId, tradeId, reason, fillId, options);
      if (reason === "exit_fill") {
        await jobs.requestValuation(accountId);
        await onExitFill?.(accountId);
      }
    },
  };
}

/** Whether an account stands halted by an automatic rule (the daily-loss rule, a breaker). */
export function automaticallyHalted(deps: JobDeps): (accountId: number) => Promise<boolean> {
  return async (accountId) => {
    const state = await loadTradingState(deps.db, accountId);
    return state?.mode === "HALTED" && state.setBy === "AUTO";
  };
}

/** Starts the kill-switch worker of a process. */
export function startKillSwitchWorker(options: {
  readonly deps: JobDeps;
  readonly handler: OrderReportHandler;
  readonly connection: QueueConnection;
  readonly prefix: string;
  readonly concurrency?: number;
  /** Where the breaker pass schedules the end of a loss-streak pause. */
  readonly client?: KillSwitchClient;
}): Worker {
  const { deps, client } = options;
  const killSwitch = createKillSwitch(deps, options.handler);
  const breakersWith = (to: KillSwitchClient) => {
    const respond = createHaltResponse(deps, killSwitch, to);
    return {
      check: createCircuitBreakers(deps),
      later: (accountId: number, delayMs: number) => to.checkBreakers(accountId, delayMs),
      onHalted: (accountId: number) => respond(accountId, "drawdown"),
      haltedAutomatically: automaticallyHalted(deps),
      now: deps.now,
    };
  };
  const worker = openWorker(
    KILL_SWITCH_QUEUE,
    createKillSwitchProcessor(killSwitch, client ? breakersWith(client) : undefined),
    options.connection,
    {
      prefix: options.prefix,
      concurrency: options.concurrency ?? 4,
    },
  );
  worker.on("failed", (job, error) =>
    options.deps.logger.warn(
      { queue: KILL_SWITCH_QUEUE, jobId: job?.id, attempts: job?.attemptsMade, err: error },
      "kill-switch job failed",
    ),
  );
  worker.on("error", (error) =>
    options.deps.logger.error({ queue: KILL_SWITCH_QUEUE, err: error }, "worker error"),
  );
  return worker;
}
