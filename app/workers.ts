/**
 * The job workers of a process (roles `all` and `worker`): every lifecycle processor from jobs/
 * (execute, order events, protect, valuation, reconciliation, the daily passes, and notice
 * delivery through the Bot API), with the schedules and the account's trade stream.
 */
import { hostname } from "node:os";
import { Api } from "grammy";
import { createDeskNoticeSender } from "../bot/notify/deskNoticeSender";
import { createTelegramApiTransformers, useTelegramApiTransformers } from "../bot/telegramApi";
import { createJobDeps } from "../jobs/context";
import { createDailyProcessor } from "../jobs/daily";
import { createKillSwitch } from "../jobs/killSwitch";
import {
  createHaltResponse,
  createKillSwitchClient,
  createKillSwitchQueue,
  startKillSwitchWorker,
  withDailyLossAfterExits,
} from "../jobs/killSwitchQueue";
import { leaseHolder } from "../jobs/leases";
import { createNotifyProcessor } from "../jobs/notify";
import { createOrderReportHandler } from "../jobs/orderReports";
import { createReconcileProcessor } from "../jobs/reconcile";
import { streamLeaseKey } from "../jobs/streamLease";
import { createValueProcessor } from "../jobs/value";
import { createWorkerRuntime, type ExtraProcessors } from "../jobs/worker";
import type { RunningWorkers, WorkerContext } from "./runtime";

/** Starts the lifecycle workers for the runtime's account. */
export async function startLifecycleWorkers(context: WorkerContext): Promise<RunningWorkers> {
  const killSwitchQueue = createKillSwitchQueue({
    connection: context.connection,
    prefix: context.queuePrefix,
  });
  killSwitchQueue.on("error", (error) =>
    context.logger.debug({ queue: killSwitchQueue.name, err: error }, "queue connection error"),
  );
  const killSwitchClient = createKillSwitchClient(killSwitchQueue);
  const deps = createJobDeps({
    db: context.db,
    brokerFor: () => context.broker,
    logger: context.logger,
    // Exit fills also revalue the account (the daily-loss rule sees realized losses at once) and
    // run the circuit breakers (drawdown, loss streak).
    jobs: withDailyLossAfterExits(context.jobs, (accountId) =>
      killSwitchClient.checkBreakers(accountId),
    ),
    now: context.now,
    settings: {
      executionWindow: context.execution.window,
      nativeBrackets: context.execution.nativeBrackets,
    },
  });
  const handler = createOrderReportHandler(deps);
  const killSwitchWorker = startKillSwitchWorker({
    deps,
    handler,
    connection: context.connection,
    prefix: context.queuePrefix,
    client: killSwitchClient,
  });
  const processors: ExtraProcessors = {
    reconcile: createReconcileProcessor(deps, { handler }),
    value: createValueProcessor(deps, {
      onHalted: createHaltResponse(deps, createKillSwitch(deps, handler), killSwitchClient),
    }),
    daily: createDailyProcessor(deps),
  };
  let closeSender: () => Promise<void> = async () => {};
  if (context.telegram !== null) {
    const api = new Api(context.telegram.token, { apiRoot: context.telegram.apiRoot });
    useTelegramApiTransformers(api, createTelegramApiTransformers());
    const sender = createDeskNoticeSender({
      api,
      db: context.db,
      logger: context.logger.child({ component: "notices" }),
    });
    closeSender = () => sender.close();
    processors.notify = createNotifyProcessor({
      db: context.db,
      sender,
      now: context.now,
      logger: context.logger,
      metrics: context.metrics,
    });
  } else {
    context.logger.warn(
      "no Telegram in this process: notices stay in the outbox for a process that has one",
    );
  }
  const workerName = `${hostname()}:${process.pid}`;
  const runtime = await createWorkerRuntime({
    deps,
    connection: context.connection,
    prefix: context.queuePrefix,
    queues: context.queues,
    accountIds: [context.accountId],
    processors,
    workerName,
  });
  return {
    async stop() {
      // Every queue stops taking jobs at once; each then waits for its active ones. One after
      // the other, the lifecycle queues kept taking new work while a long flatten finished.
      await Promise.all([killSwitchWorker.close(), ...runtime.workers.map((w) => w.close())]);
      await runtime.stop();
      await killSwitchQueue.close();
      await closeSender();
    },
    async streamStatus() {
      if (runtime.streams === null) return { ok: false, detail: "streams are off" };
      if (runtime.streams.held().includes(context.accountId)) {
        return { ok: true, detail: "trade updates stream held by this process" };
      }
      // Not ours: up only if another worker holds it. A lease of this process without a stream
      // is an open still under way (or failing); a free lease means nobody gets trade updates.
      const holder = await leaseHolder(
        context.connection,
        streamLeaseKey(`${context.queuePrefix}:`, context.accountId),
      );
      if (holder === null) return { ok: false, detail: "no worker holds the trade updates stream" };
      if (holder.startsWith(`${workerName}:`)) {
        return { ok: false, detail: "trade updates stream not open yet" };
      }
      return { ok: true, detail: "held by another worker" };
    },
  };
}
