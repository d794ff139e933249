/**
 * What the bot, the HTTP API and the jobs themselves call to start lifecycle work. It only
 * enqueues: every broker call happens inside a job. Job ids make each request idempotent where
 * the work must happen once (a decision is executed by one job, whatever number of taps).
 */
import type { TradeUpdate } from "../domain/broker";
import { type OrderReportData, tradeUpdateToReport } from "./brokerOrderPayload";
import {
  jobIdOf,
  type OrderReportSource,
  type ProtectionReason,
  type Queues,
  type ValuePayload,
} from "./queues";

export interface ExecuteOptions {
  /** Not before this instant (a scheduled decision, the execution window). */
  readonly runAt?: Date;
  /** AMEND: the trade this decision replaces (cancelled first). */
  readonly amendsTradeId?: number;
}

export interface JobClient {
  /**
   * Executes an approved decision (NEW_TRADE, or AMEND with `amendsTradeId`). The job id is
   * derived from the decision id: asking twice is one job, and one order.
   */
  executeDecision(decisionId: number, options?: ExecuteOptions): Promise<void>;
  /**
   * Whether a decision's execute job may still run (waiting, delayed for a retry, prioritized or
   * active). False once it failed for good, completed, or is gone: nothing will move the
   * decision on, and reconciliation settles it.
   */
  executeJobAlive(decisionId: number): Promise<boolean>;
  /** Cancels a trade's working entry (the CANCEL decision). */
  cancelTrade(
    accountId: number,
    tradeId: number,
    reason: string,
    requestedBy: string,
  ): Promise<void>;
  /** Hands an order report to the idempotent order-events handler. */
  publishOrderEvent(
    accountId: number,
    source: OrderReportSource,
    report: OrderReportData,
  ): Promise<void>;
  /**
   * Hands a streamed trade update to the handler; its job id is the execution id or event key.
   * `redelivered`: an earlier handling of it failed partway (see the payload's field).
   */
  publishTradeUpdate(
    accountId: number,
    update: TradeUpdate,
    options?: { readonly redelivered?: boolean },
  ): Promise<void>;
  /**
   * Polls an account's recent orders now (the stream's fallback). A poll asked for because
   * something may have been missed always runs; `coalesce` lets repeated routine requests
   * within two seconds share one poll.
   */
  requestPoll(
    accountId: number,
    reason: string,
    options?: { readonly coalesce?: boolean },
  ): Promise<void>;
  /**
   * Asks the protect job to make a trade's exits cover its open quantity. A request with a fill
   * id is one job per fill. Others are merged by trade and reason only while a job for them still
   * waits (it reads the trade when it runs, so it sees what made the request); a request that
   * arrives while that job runs (it may have read the trade already) is kept and runs once it is
   * done, the latest of several such requests standing for them all.
   */
  requestProtection(
    accountId: number,
    tradeId: number,
    reason: ProtectionReason,
    fillId?: number | null,
    options?: { readonly delayMs?: number },
  ): Promise<void>;
  /**
   * Withdraws a fill's protect job while it still waits (the safety net behind an inline
   * protection whose exits are at the broker); one already running or done is left alone.
   */
  withdrawFillProtection(tradeId: number, fillId: number): Promise<void>;
  requestReconcile(accountId: number, reason: string): Promise<void>;
  requestValuation(accountId: number, quotes?: ValuePayload["quotes"]): Promise<void>;
  /** Delivers the notification outbox now rather than at the next scheduled pass. */
  requestNotify(reason: string): Promise<void>;
}

/** The job id of a decision's execution. */
export function executeJobId(decisionId: number): string {
  return jobIdOf("decision", decisionId);
}

/**
 * The job id of an order report: the execution id for a fill (the same fill from the stream and
 * from a retry is one job), else the order, event and time.
 */
export function orderReportJobId(source: OrderReportSource, report: OrderReportData): string {
  if (report.executionId !== null) return jobIdOf("exec", report.executionId);
  const event = report.event ?? `${source}-${report.order.status}`;
  return jobIdOf(
    "order",
    report.order.brokerOrderId,
    event,
    report.order.filledQty,
    Date.parse(report.at),
  );
}

/** Job states from which a job still runs (a failed attempt with retries left waits as delayed). */
const LIVE_JOB_STATES: ReadonlySet<string> = new Set([
  "waiting",
  "delayed",
  "prioritized",
  "active",
  "waiting-children",
]);

/** Debounce window for requests that only need to happen soon, not once per caller. */
const COALESCE_MS = 2_000;

/** Builds the job client over the queues. */
export function createJobClient(queues: Queues): JobClient {
  const publishOrderEvent = async (
    accountId: number,
    source: OrderReportSource,
    report: OrderReportData,
    redelivered = false,
  ): Promise<void> => {
    await queues.orderEvents.add(
      "report",
      { kind: "report", accountId, source, report, ...(redelivered ? { redelivered } : {}) },
      { jobId: orderReportJobId(source, report) },
    );
  };
  return {
    async executeDecision(decisionId, options = {}) {
      const delay = options.runAt ? Math.max(0, options.runAt.getTime() - Date.now()) : 0;
      await queues.execute.add(
        options.amendsTradeId === undefined ? "NEW_TRADE" : "AMEND",
        options.amendsTradeId === undefined
          ? { action: "NEW_TRADE", decisionId }
          : { action: "AMEND", decisionId, replacesTradeId: options.amendsTradeId },
        { jobId: executeJobId(decisionId), ...(delay > 0 ? { delay } : {}) },
      );
    },
    async executeJobAlive(decisionId) {
      const state = await queues.execute.getJobState(executeJobId(decisionId));
      return LIVE_JOB_STATES.has(state);
    },
    async cancelTrade(accountId, tradeId, reason, requestedBy) {
      // Merged while one waits or runs (cancelling is idempotent), but not kept from running
      // again once it has ended: a job id would swallow the trader's next request for as long
      // as the ended job is kept, also after a cancel that failed for good.
      await queues.execute.add(
        "CANCEL",
        { action: "CANCEL", accountId, tradeId, reason, requestedBy },
        { deduplication: { id: jobIdOf("cancel", tradeId) } },
      );
    },
    publishOrderEvent,
    publishTradeUpdate: (accountId, update, options = {}) =>
      publishOrderEvent(
        accountId,
        "stream",
        tradeUpdateToReport(update),
        options.redelivered ?? false,
      ),
    async requestPoll(accountId, reason, options = {}) {
      await queues.orderEvents.add(
        "poll",
        { kind: "poll", accountId, reason },
        options.coalesce
          ? { deduplication: { id: jobIdOf("poll", accountId), ttl: COALESCE_MS } }
          : {},
      );
    },
    async requestProtection(accountId, tradeId, reason, fillId = null, options = {}) {
      const delay = options.delayMs ? { delay: options.delayMs } : {};
      await queues.protect.add(
        reason,
        { accountId, tradeId, reason, fillId },
        fillId === null
          ? {
              deduplication: { id: jobIdOf("protect", tradeId, reason), keepLastIfActive: true },
              ...delay,
            }
          : { jobId: jobIdOf("protect", tradeId, "fill", fillId), ...delay },
      );
    },
    async withdrawFillProtection(tradeId, fillId) {
      // Removes a waiting or delayed job only: an active one holds its lock and stays.
      await queues.protect.remove(jobIdOf("protect", tradeId, "fill", fillId));
    },
    async requestReconcile(accountId, reason) {
      await queues.reconcile.add(
        "reconcile",
        { accountId, reason },
        { deduplication: { id: jobIdOf("reconcile", accountId), ttl: COALESCE_MS } },
      );
    },
    async requestValuation(accountId, quotes) {
      await queues.value.add(
        "value",
        quotes === undefined ? { accountId } : { accountId, quotes },
        quotes === undefined
          ? { deduplication: { id: jobIdOf("value", accountId), ttl: COALESCE_MS } }
          : {},
      );
    },
    async requestNotify(reason) {
      await queues.notify.add(
        "notify",
        { reason },
        { deduplication: { id: "notify-now", ttl: 250 } },
      );
    },
  };
}
