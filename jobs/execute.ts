/**
 * The `execute` processor: carries out a decision once.
 *
 * NEW_TRADE: wait for the decision's time and the execution window; claim the decision (one
 * worker wins); check risk against a fresh account snapshot; record trade, entry and legs; send
 * the entry with its deterministic client order id (looking it up first on any retry); store the
 * broker's answer with the decision marked executed and the notice, in one transaction. An entry
 * recorded in the window and not at the broker when the window closes is refused, never sent late.
 * CANCEL: cancel a trade's working entry (one recorded and not sent yet is ended in the books,
 * so no retry of its send goes out; one the broker takes all the same is cancelled there, and
 * when it filled there first the decision is executed and the trader told the cancel came too
 * late: CANCEL_TOO_LATE; when the broker refuses that cancel and the entry still works there,
 * likewise with CANCEL_REFUSED). A working entry whose cancel the broker refuses for good, not
 * for its having ended, is told CANCEL_REFUSED and not retried.
 * AMEND: cancel the trade it replaces, then NEW_TRADE, unless the replaced entry filled in part
 * or whole first (refused: REPLACED_TRADE_FILLED) or the broker refused that cancel for good
 * with the entry still working (refused and told: CANCEL_REFUSED, not retried).
 * A refusal (risk or broker) fails the decision with its codes and tells the trader.
 */
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { findBrokerAccount, tradingStateOf } from "../db/brokerAccounts";
import type { Database } from "../db/database";
import {
  claimDecisionForExecution,
  type Decision,
  failApprovedDecision,
  findDecision,
  finishDecisionExecution,
} from "../db/decisions";
import { readLog } from "../db/executionLog";
import {
  awaitEarlierCommits,
  commitWithoutFlushWait,
  listChildOrders,
  lockName,
} from "../db/lifecycleQueries";
import { applyOrderUpdate } from "../db/orderEvents";
import { findOrder, listOrdersForTrade, type OrderRecord } from "../db/orders";
import { loadRiskLimits } from "../db/riskLimits";
import { findTrade, findTradeByDecision, recordTradeEntry } from "../db/trades";
import type { Broker, BrokerOrder } from "../domain/broker";
import { sumDecimals } from "../domain/money";
import { isTerminal } from "../domain/orderStateMachine";
import { checkOrder } from "../domain/riskChecks";
import { allowsOrder } from "../domain/tradingState";
import { brokerOrderToReport } from "./brokerOrderPayload";
import type { JobDeps } from "./context";
import {
  cancelRefusedNotice,
  cancelTooLateNotice,
  decisionRefusedNotice,
  entrySubmittedNotice,
  orderCanceledNotice,
} from "./entryNotices";
import { decisionPrices, entryRequestFor, sendsAsBracket, tradeEntryFor } from "./entryOrders";
import { type CalendarCache, createCalendarCache, nextExecutionTime } from "./marketCalendar";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import type { HandleOptions, OrderReportHandler } from "./orderReports";
import { executePayloadSchema } from "./queues";
import { eventsForReport } from "./reportEvents";
import {
  type AssetCache,
  buildAccountSnapshot,
  createAssetCache,
  createInFlightReads,
  readBrokerView,
  unknownAsNotTradable,
} from "./riskSnapshot";
import { readSnapshotEntries } from "./snapshotEntries";
import { withRaceRetry } from "./transactions";

const SOURCE = "job:execute";

/** What an execution ended with (the job's return value). */
export type ExecuteResult =
  | { readonly outcome: "executed"; readonly decisionId: number; readonly brokerOrderId: string }
  | { readonly outcome: "refused"; readonly decisionId: number; readonly codes: readonly string[] }
  | { readonly outcome: "cancelled"; readonly tradeId: number }
  /** A CANCEL that found the trade's entries filled whole at the broker: nothing was cancelled. */
  | { readonly outcome: "too_late"; readonly tradeId: number }
  /** A CANCEL the broker refused for good with the entry still working there (told). */
  | { readonly outcome: "cancel_refused"; readonly tradeId: number }
  | { readonly outcome: "skipped"; readonly reason: string };

export interface ExecuteProcessorOptions {
  readonly handler: OrderReportHandler;
  readonly calendars?: CalendarCache;
  readonly assets?: AssetCache;
}

/** The lock name under which an account's entries are checked and recorded one at a time. */
export function entryLockName(accountId: number): string {
  return `desk:entries:${accountId}`;
}

/** Builds the `execute` processor. */
export function createExecuteProcessor(deps: JobDeps, options: ExecuteProcessorOptions) {
  const calendars = options.calendars ?? createCalendarCache({ logger: deps.logger });
  const assets = unknownAsNotTradable(options.assets ?? createAssetCache());
  const brokerReads = createInFlightReads();
  const recipients = createRecipientLookup(deps);
  const handler = options.handler;

  /** Moves the job to run at `at` (deps' clock) and stops this run. */
  async function delayUntil(job: Job, token: string | undefined, at: Date): Promise<never> {
    const wait = Math.max(0, at.getTime() - deps.now().getTime());
    await job.moveToDelayed(Date.now() + wait, token);
    throw new DelayedError(`decision waits ${wait} ms`);
  }

  async function refuse(
    db: Database,
    decision: Decision,
    codes: readonly string[],
    reason: string,
    tradeId: number | null,
  ): Promise<void> {
    const chats = await recipients(decision.accountId);
    await db.transaction(async (tx) => {
      await finishDecisionExecution(
        tx,
        decision.id,
        { executed: false, reason: `${codes.join(",")}: ${reason}` },
        SOURCE,
        deps.now(),
      );
      await writeNotices(
        tx,
        chats,
        [decisionRefusedNotice(decision, tradeId, codes.join(","), reason)],
        deps.now(),
      );
    });
    await deps.jobs.requestNotify("decision-refused");
  }

  /**
   * Checks the entry against a fresh snapshot and records it, under the account's entry lock.
   * Answers the entry order, or null when refused (the refusal is already stored and told).
   */
  async function checkAndRecord(
    broker: Broker,
    decision: Decision,
    bracket: boolean,
  ): Promise<OrderRecord | null> {
    const now = deps.now();
    // The limits are read beside the broker's view, before the lock: they are not written under
    // it, so reading them inside would order nothing, and the lock is held one read less.
    const [view, calendar, limits] = await Promise.all([
      readBrokerView(broker, decision.symbol, assets, brokerReads),
      calendars.get(decision.accountId, broker, now),
      loadRiskLimits(deps.db, decision.accountId),
    ]);
    if ("ok" in view) {
      if (view.retryable) throw new Error(`account snapshot unavailable: ${view.message}`);
      await refuse(deps.db, decision, [view.code], view.message, null);
      return null;
    }
    const prices = decisionPrices(decision);
    const quote = view.quote;
    const plannedEntry =
      prices.entry ??
      (decision.side === "buy" ? quote?.askPrice : quote?.bidPrice) ??
      quote?.askPrice ??
      quote?.bidPrice ??
      prices.stop;
    const chats = await recipients(decision.accountId);
    const recorded = await withRaceRetry(() =>
      deps.db.transaction(async (tx) => {
        // The lock is held until commit, so the commit does not wait for the disk (the entry is
        // made durable below, before it is sent). The reads are sent only once the lock is held:
        // sent with it, nothing orders them after it.
        await Promise.all([
          commitWithoutFlushWait(tx),
          lockName(tx, entryLockName(decision.accountId)),
        ]);
        const [account, entries] = await Promise.all([
          findBrokerAccount(tx, decision.accountId),
          readSnapshotEntries(
            tx,
            decision.accountId,
            decision.symbol,
            limits.duplicateWindowMs,
            now,
          ),
        ]);
        if (!account) throw new UnrecoverableError(`no account ${decision.accountId}`);
        const verdict = checkOrder(
          {
            symbol: decision.symbol,
            side: decision.side,
            type: decision.entryType,
            quantity: decision.quantity,
            limitPrice: prices.entry,
            stopLossPrice: prices.stop,
            takeProfitPrice: prices.target,
            opensTrade: true,
          },
          buildAccountSnapshot({ view, symbol: decision.symbol, ...entries, calendar }),
          limits,
          tradingStateOf(account),
          now.getTime(),
        );
        if (!verdict.ok) {
          const codes = verdict.violations.map((v) => v.code);
          const reason = verdict.violations.map((v) => v.message).join(" ");
          await finishDecisionExecution(
            tx,
            decision.id,
            { executed: false, reason: `${codes.join(",")}: ${reason}` },
            SOURCE,
            now,
          );
          await writeNotices(
            tx,
            chats,
            [decisionRefusedNotice(decision, null, codes.join(","), reason)],
            now,
          );
          return null;
        }
        const entry = await recordTradeEntry(
          tx,
          tradeEntryFor(decision, bracket, plannedEntry, now),
          SOURCE,
          now,
        );
        return entry.entry;
      }),
    );
    // On disk before anything leaves the database (the entry to the broker, a refusal to the
    // trader): the database losing its last commits in a crash never forgets what was sent.
    await awaitEarlierCommits(deps.db);
    if (recorded === null) await deps.jobs.requestNotify("decision-refused");
    return recorded;
  }

  /**
   * An entry recorded by an earlier run (its send failed or the worker died) is sent only if the
   * account may still open positions: a halt since then would otherwise let it through after the
   * kill switch's sweep. An entry the broker already has is followed as usual, whatever the state.
   */
  async function haltedBeforeSending(
    broker: Broker,
    accountId: number,
    clientOrderId: string,
  ): Promise<{ ok: false; retryable: false; code: string; message: string } | null> {
    const account = await findBrokerAccount(deps.db, accountId);
    if (account === null) return null;
    const state = tradingStateOf(account);
    if (allowsOrder(state, { reducesPosition: false, isCancel: false })) return null;
    const existing = await broker.getOrderByClientOrderId(clientOrderId);
    if (existing.ok || existing.code !== "NOT_FOUND") return null;
    return {
      ok: false,
      retryable: false,
      code: state.mode === "HALTED" ? "TRADING_HALTED" : "REDUCE_ONLY",
      message: `the account became ${state.mode} before the entry was sent (${state.reason})`,
    };
  }

  /**
   * Why an amendment must not be sent: the entry of the trade it replaces filled (in part or
   * whole) before its cancel took hold. The new entry is sized for the whole plan, so sending it
   * would add to the shares already held (up to twice the planned position); the filled part
   * stays with the old trade, protected and journalled, and the trader decides what more to do.
   */
  async function replacedTradeFilled(
    accountId: number,
    replacesTradeId: number,
  ): Promise<string | null> {
    const old = await findTrade(deps.db, replacesTradeId);
    if (!old || old.accountId !== accountId || !old.trade.entryQuantity.gt(0)) return null;
    return `the trade it replaces (${old.trade.symbol}) had already filled ${old.trade.entryQuantity.toString()} of ${old.trade.plannedQuantity.toString()} shares before its cancel; those are kept, and the amended entry was not sent`;
  }

  /** The next window opening when the execution window is closed now, else null. */
  async function windowClosedUntil(broker: Broker, accountId: number): Promise<Date | null> {
    const window = deps.settings.executionWindow;
    if (window.kind !== "window") return null;
    const now = deps.now();
    const calendar = await calendars.get(accountId, broker, now);
    const next = nextExecutionTime(calendar, window, now);
    if (next === null) throw new Error("the trading calendar does not reach the next window");
    return next > now ? next : null;
  }

  /**
   * A claimed decision whose entry no run recorded (the claiming run died) is recorded and sent
   * only inside the window, as the claim was: past it, it waits for the next opening, as a
   * decision approved outside the window does, and is checked then.
   */
  async function waitForWindowIfUnrecorded(
    job: Job,
    token: string | undefined,
    broker: Broker,
    decision: Decision,
  ): Promise<void> {
    const next = await windowClosedUntil(broker, decision.accountId);
    if (next === null) return;
    deps.logger.info(
      { decisionId: decision.id, next: next.toISOString() },
      "execution window closed before the entry was recorded; it waits for the next window",
    );
    await delayUntil(job, token, next);
  }

  /**
   * An entry recorded inside the window by an earlier run (its sends failed, or the run died) is
   * not sent once the window has closed: it would go out hours after the trader's plan and its
   * checks, and kept unsent until the next window it would outlive a halt's cancel. It is
   * refused (EXECUTION_WINDOW_CLOSED) and the trader told. One the broker already has (its answer
   * lost) is followed as usual.
   */
  async function windowClosedBeforeSending(
    broker: Broker,
    accountId: number,
    clientOrderId: string,
  ): Promise<{ ok: false; retryable: false; code: string; message: string } | null> {
    const next = await windowClosedUntil(broker, accountId);
    if (next === null) return null;
    const existing = await broker.getOrderByClientOrderId(clientOrderId);
    if (existing.ok || existing.code !== "NOT_FOUND") return null;
    return {
      ok: false,
      retryable: false,
      code: "EXECUTION_WINDOW_CLOSED",
      message:
        "the execution window closed before the broker took the entry; it was not sent. Plan the trade again if it still stands",
    };
  }

  /**
   * On the job's last attempt, refuses (and tells) a decision the job could not take because
   * the window could not be found: left approved, nothing would ever move it on (reconciliation
   * settles only claimed decisions), and the trader would wait for a trade that never comes.
   */
  async function refuseUnclaimedOnLastAttempt(
    job: Job,
    decisionId: number,
    error: unknown,
  ): Promise<ExecuteResult | null> {
    if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) return null;
    const claimed = await claimDecisionForExecution(deps.db, decisionId, SOURCE, deps.now());
    if (!claimed) return null;
    const why = error instanceof Error ? error.message : String(error);
    await refuse(
      deps.db,
      claimed,
      ["CALENDAR_UNAVAILABLE"],
      `the execution window could not be found (${why}); nothing was sent: plan the trade again`,
      null,
    );
    return { outcome: "refused", decisionId, codes: ["CALENDAR_UNAVAILABLE"] };
  }

  async function executeNewTrade(
    job: Job,
    token: string | undefined,
    decisionId: number,
    replacesTradeId: number | null = null,
  ): Promise<ExecuteResult> {
    // With no window to wait for, the claim comes first: it answers the decision when due, and
    // only a decision it did not take is read to see why (scheduled later, resumed, done).
    const claimedAtOnce =
      deps.settings.executionWindow.kind === "immediate"
        ? await claimDecisionForExecution(deps.db, decisionId, SOURCE, deps.now())
        : null;
    let decision = claimedAtOnce ?? (await findDecision(deps.db, decisionId));
    if (!decision) return { outcome: "skipped", reason: "no such decision" };
    const broker = await deps.brokerFor(decision.accountId);
    let freshClaim = claimedAtOnce !== null;
    if (decision.status === "approved") {
      const now = deps.now();
      if (decision.scheduledFor && decision.scheduledFor > now) {
        await delayUntil(job, token, decision.scheduledFor);
      }
      if (deps.settings.executionWindow.kind === "window") {
        let next: Date | null;
        try {
          const calendar = await calendars.get(decision.accountId, broker, now);
          next = nextExecutionTime(calendar, deps.settings.executionWindow, now);
          if (next === null) throw new Error("the trading calendar does not reach the next window");
        } catch (error) {
          const refused = await refuseUnclaimedOnLastAttempt(job, decisionId, error);
          if (refused) return refused;
          throw error;
        }
        if (next > now) await delayUntil(job, token, next);
      }
      const claimed = await claimDecisionForExecution(deps.db, decisionId, SOURCE, deps.now());
      decision = claimed ?? (await findDecision(deps.db, decisionId));
      if (!decision) return { outcome: "skipped", reason: "no such decision" };
      freshClaim = claimed !== null;
    }
    // Only the job of this decision moves it out of `executing` while the job lives (reconcile
    // settles it once the job is gone for good), so finding it there means this job claimed it
    // (now or in a run that died): carry on where that run stopped.
    if (decision.status !== "executing") {
      return { outcome: "skipped", reason: `decision is ${decision.status}` };
    }
    const bracket = sendsAsBracket(decision, deps.settings.nativeBrackets);
    // A trade is only recorded after the claim: a decision claimed just now has none yet.
    const trade = freshClaim ? null : await findTradeByDecision(deps.db, decisionId);
    let entry: OrderRecord | null = null;
    if (trade) {
      const orders = await listOrdersForTrade(deps.db, trade.id);
      entry = orders.find((o) => o.order.role === "ENTRY") ?? null;
    }
    const resumed = entry !== null;
    if (!freshClaim && entry === null)
      await waitForWindowIfUnrecorded(job, token, broker, decision);
    if (!entry && replacesTradeId !== null) {
      const filled = await replacedTradeFilled(decision.accountId, replacesTradeId);
      if (filled !== null) {
        await refuse(deps.db, decision, ["REPLACED_TRADE_FILLED"], filled, null);
        return { outcome: "refused", decisionId, codes: ["REPLACED_TRADE_FILLED"] };
      }
    }
    if (!entry) {
      entry = await checkAndRecord(broker, decision, bracket);
      if (!entry) return { outcome: "refused", decisionId, codes: ["RISK"] };
    } else {
      // Recorded by a run that may have stopped before making it durable.
      await awaitEarlierCommits(deps.db);
    }
    // Cancelled with the broker's id while this decision is still executing: a trader's cancel
    // ended it as it was sent (or the broker confirmed this job's cancel of it, the stream
    // storing that and its id before this run): settled as cancelled, never as a plain send.
    // Likewise one the books ended that the broker filled whole, the stream storing the fill
    // before this run: the cancel came too late, and the trader is told so.
    const cancelledAsSent =
      entry.order.brokerOrderId !== null &&
      (entry.order.status === "canceled" ||
        (entry.order.status === "filled" && (await endedByTheBooks(entry.id))));
    if ((isTerminal(entry.order.status) && entry.order.brokerOrderId === null) || cancelledAsSent) {
      // Ended before it was sent (a trader's cancel while a send was being retried, or while a
      // send was in flight, which the broker may have taken all the same): nothing will send
      // it, so the decision ends here rather than wait for reconciliation.
      const sent = await broker.getOrderByClientOrderId(entry.order.clientOrderId);
      if (!sent.ok && sent.code !== "NOT_FOUND") {
        throw new Error(`entry lookup failed: ${sent.message}`);
      }
      const endedReason = cancelledAsSent
        ? "ENTRY_CANCELED: the trade was cancelled as its entry was sent"
        : `ENTRY_${entry.order.status.toUpperCase()}: the entry ended before it was sent`;
      const skipped: ExecuteResult = {
        outcome: "skipped",
        reason: `entry is ${entry.order.status}`,
      };
      if (!sent.ok) {
        // The cancel took hold before anything was sent: the trader who asked for it is told
        // here, where it is known that no send of this job was on its way.
        const ended = entry;
        const chats = await recipients(decision.accountId);
        const told = await deps.db.transaction(async (tx) => {
          const finished = await finishDecisionExecution(
            tx,
            decision.id,
            { executed: false, reason: endedReason },
            SOURCE,
            deps.now(),
          );
          if (finished === null || ended.order.status !== "canceled") return 0;
          return writeNotices(
            tx,
            chats,
            [orderCanceledNotice(ended, "cancelled before it reached the broker")],
            deps.now(),
          );
        });
        if (told > 0) await deps.jobs.requestNotify("entry-cancelled");
        return skipped;
      }
      const settle = settleEndedOnTheWay(decision, endedReason, skipped);
      if (!isTerminal(sent.value.status)) {
        await cancelArrivedEntry(broker, decision.accountId, sent.value.brokerOrderId, settle);
      } else {
        // Taken and ended there already (a market entry fills at once): what it filled is this
        // trade's late fill, stored on its entry; left out, reconciliation would adopt the
        // position as a second trade.
        await handler.handle(
          decision.accountId,
          "poll",
          brokerOrderToReport(sent.value, deps.now()),
          { within: settle.within },
        );
      }
      return settle.result();
    }
    if (
      resumed &&
      entry.order.brokerOrderId !== null &&
      !isTerminal(entry.order.status) &&
      (await endedByTheBooks(entry.id))
    ) {
      // The books ended it (a trader's cancel as it was sent) and it works again only because
      // the broker refused a cancel of it (the venue's order_cancel_rejected): the trader's
      // cancel is carried out, or its refusal told, never taken back as a plain send.
      const settle = settleEndedOnTheWay(
        decision,
        "ENTRY_CANCELED: the trade was cancelled as its entry was sent",
        { outcome: "skipped", reason: "the trade was cancelled as its entry was sent" },
      );
      await cancelArrivedEntry(broker, decision.accountId, entry.order.brokerOrderId, settle);
      return settle.result();
    }
    const request = entryRequestFor(decision, entry.order.orderClass === "bracket");
    const submitted =
      (resumed
        ? ((await haltedBeforeSending(broker, decision.accountId, request.clientOrderId)) ??
          (await windowClosedBeforeSending(broker, decision.accountId, request.clientOrderId)))
        : null) ??
      (await broker.submitOrder(request, {
        lookUpFirst: resumed || job.attemptsMade > 0,
      }));
    const current = decision;
    if (!submitted.ok) {
      if (submitted.retryable) throw new Error(`entry not sent yet: ${submitted.message}`);
      const entryId = entry.id;
      const chats = await recipients(current.accountId);
      await deps.db.transaction(async (tx) => {
        // The entry and a bracket's held legs with it: none of them reached the broker.
        const legs = await listChildOrders(tx, entryId);
        const open = legs.filter((l) => !isTerminal(l.order.status)).map((l) => l.id);
        for (const orderId of [entryId, ...open]) {
          await applyOrderUpdate(
            tx,
            { orderId },
            { event: "rejected", at: deps.now().toISOString(), reason: submitted.message },
            { source: "local", recordedAt: deps.now() },
          );
        }
        await finishDecisionExecution(
          tx,
          current.id,
          { executed: false, reason: `${submitted.code}: ${submitted.message}` },
          SOURCE,
          deps.now(),
        );
        await writeNotices(
          tx,
          chats,
          [
            decisionRefusedNotice(
              current,
              entry?.tradeId ?? null,
              submitted.code,
              submitted.message,
            ),
          ],
          deps.now(),
        );
      });
      await deps.jobs.requestNotify("entry-refused");
      throw new UnrecoverableError(`${submitted.code}: ${submitted.message}`);
    }
    const endedOnTheWay = () =>
      settleEndedOnTheWay(
        current,
        "ENTRY_CANCELED: the trade was cancelled as its entry was sent",
        { outcome: "skipped", reason: "the trade was cancelled as its entry was sent" },
      );
    if (isTerminal(submitted.value.status)) {
      // Answered ended already (a market entry filled at once): when the books ended it while it
      // was on its way (a trader's cancel found it unsent), the decision settles as such an
      // entry's does, a fill told as the cancel coming too late rather than as a plain entry.
      const stored = await findOrder(deps.db, entry.id);
      if (stored && isTerminal(stored.order.status) && stored.order.brokerOrderId === null) {
        const settle = endedOnTheWay();
        await handler.handle(
          current.accountId,
          "submit",
          brokerOrderToReport(submitted.value, deps.now()),
          { within: settle.within },
        );
        return settle.result();
      }
    }
    // The books ended the entry while it was on its way (a trader's cancel found it unsent), yet
    // the broker took it: it is cancelled there before the decision ends. Ended in the books by
    // the broker's own word instead (its fill or rejection over the stream, stored before this
    // answer), it is a plain send: nobody cancelled it.
    let cancelledOnTheWay = false;
    await handler.handle(
      current.accountId,
      "submit",
      brokerOrderToReport(submitted.value, deps.now()),
      {
        within: async (tx, order): Promise<PendingNotice[]> => {
          const ended = order !== null && isTerminal(order.order.status);
          cancelledOnTheWay =
            ended &&
            !isTerminal(submitted.value.status) &&
            order !== null &&
            (await endedByTheBooks(order.id, tx));
          if (cancelledOnTheWay) return [];
          await finishDecisionExecution(tx, current.id, { executed: true }, SOURCE, deps.now());
          // Ended unfilled already (its rejection told over the stream): nothing to announce.
          return ended && order?.order.filledQuantity.isZero()
            ? []
            : [entrySubmittedNotice(current, order?.tradeId ?? null)];
        },
      },
    );
    if (cancelledOnTheWay) {
      const settle = endedOnTheWay();
      await cancelArrivedEntry(broker, current.accountId, submitted.value.brokerOrderId, settle);
      return settle.result();
    }
    return { outcome: "executed", decisionId, brokerOrderId: submitted.value.brokerOrderId };
  }

  /** Whether the books ended the order themselves (a trader's cancel found it unsent). */
  async function endedByTheBooks(orderId: number, db: Database = deps.db): Promise<boolean> {
    const log = await readLog(db, { entity: { type: "order", id: orderId } });
    return log.some((e) => e.event === "CANCELED" && e.source === "local");
  }

  /**
   * How a decision ends whose entry the trader's cancel ended in the books before the broker had
   * it, decided in the transaction that stores the broker's report of that entry. Nothing filled:
   * the cancel held, and the decision fails with `cancelledReason`. Filled in part or whole
   * there first: the entry was executed and the cancel came too late. The decision is executed,
   * and the trader gets the entry's notice (its fills reply to it) and CANCEL_TOO_LATE saying
   * what filled and is kept, where the cancel they asked for would otherwise leave them
   * believing nothing is held.
   */
  function settleEndedOnTheWay(
    decision: Decision,
    cancelledReason: string,
    cancelled: ExecuteResult,
  ): {
    within: NonNullable<HandleOptions["within"]>;
    refused: (brokerOrderId: string, why: string) => NonNullable<HandleOptions["within"]>;
    result: () => ExecuteResult;
  } {
    let result = cancelled;
    const within = async (tx: Database, order: OrderRecord | null): Promise<PendingNotice[]> => {
      const now = deps.now();
      const filled = order?.order.filledQuantity;
      if (order === null || filled === undefined || !filled.gt(0)) {
        result = cancelled;
        const finished = await finishDecisionExecution(
          tx,
          decision.id,
          { executed: false, reason: cancelledReason },
          SOURCE,
          now,
        );
        // The cancel held: told here, as its own event found the entry already ended in the
        // books and told nothing.
        return finished !== null && order?.order.status === "canceled"
          ? [orderCanceledNotice(order)]
          : [];
      }
      const brokerOrderId = order.order.brokerOrderId ?? "";
      result = { outcome: "executed", decisionId: decision.id, brokerOrderId };
      const finished = await finishDecisionExecution(
        tx,
        decision.id,
        { executed: true },
        SOURCE,
        now,
      );
      if (finished === null) return [];
      return [
        entrySubmittedNotice(decision, order.tradeId),
        cancelTooLateNotice(
          { decisionId: decision.id, tradeId: order.tradeId },
          decision.symbol,
          filled,
          order.order.quantity,
        ),
      ];
    };
    // The broker refused the cancel for good and the entry still works there: it was sent and
    // can fill, so the decision is executed and the trader told the cancel did not take hold.
    const refused =
      (brokerOrderId: string, why: string) =>
      async (tx: Database, order: OrderRecord | null): Promise<PendingNotice[]> => {
        result = { outcome: "executed", decisionId: decision.id, brokerOrderId };
        const finished = await finishDecisionExecution(
          tx,
          decision.id,
          { executed: true },
          SOURCE,
          deps.now(),
        );
        if (finished === null) return [];
        const tradeId = order?.tradeId ?? null;
        return [
          entrySubmittedNotice(decision, tradeId),
          cancelRefusedNotice({ decisionId: decision.id, tradeId }, decision.symbol, why),
        ];
      };
    return { within, refused, result: () => result };
  }

  /**
   * Brings a working order's status up to the broker's (`brokerOrder`), fills aside (the report
   * that revived it brought them), inside the report's transaction: answers the order as stored.
   */
  async function takeBrokerStatus(
    tx: Database,
    order: OrderRecord | null,
    brokerOrder: BrokerOrder,
    at: string,
  ): Promise<OrderRecord | null> {
    if (order === null || isTerminal(order.order.status)) return order;
    let current = order;
    const events = eventsForReport(current.order, brokerOrder, {
      event: null,
      execution: null,
      at,
      now: deps.now(),
    });
    for (const { event } of events) {
      if (event.event === "fill" || event.event === "partial_fill") continue;
      const applied = await applyOrderUpdate(tx, { orderId: current.id }, event, {
        source: "poll",
        recordedAt: deps.now(),
        // A lost race fails the report's transaction, which the handler runs again whole.
        raceRetry: "caller",
      });
      if (applied.ok) current = applied.value.record;
    }
    return current;
  }

  /**
   * Cancels at the broker an entry the books ended before it arrived there, and stores what the
   * broker then shows (a fill it had meanwhile counts as a late fill and gets protected), with
   * the decision settled in the same transaction. A cancel the broker refused while the entry
   * still works there settles it as sent, with CANCEL_REFUSED told.
   */
  async function cancelArrivedEntry(
    broker: Broker,
    accountId: number,
    brokerOrderId: string,
    settle: Pick<ReturnType<typeof settleEndedOnTheWay>, "within" | "refused">,
  ): Promise<void> {
    const cancelled = await broker.cancelOrder(brokerOrderId);
    if (!cancelled.ok && cancelled.retryable) {
      throw new Error(`entry cancel failed: ${cancelled.message}`);
    }
    const after = await broker.getOrder(brokerOrderId);
    if (!after.ok) throw new Error(`entry lookup failed: ${after.message}`);
    const report = brokerOrderToReport(after.value, deps.now());
    // Cancelled only once the broker shows the order ended: a refusal for another reason than
    // its having ended (403: the account restricted) leaves it working, and able to fill. A
    // cancel on its way (taken now, or by an earlier run) is waited for through the job's retry.
    if (!isTerminal(after.value.status)) {
      if (cancelled.ok || after.value.status === "pending_cancel") {
        throw new Error(
          `entry cancel not confirmed yet: the broker shows it ${after.value.status}`,
        );
      }
      // Told as the broker's refusal of the cancel: the entry the books ended as unsent then
      // works in them again, with the broker's id, so /orders shows it and a halt cancels it.
      // The refusal revives it as sent (or partly filled, with the fills the report brings);
      // it then takes the status the broker shows (accepted, new...) in the same transaction.
      const told = settle.refused(brokerOrderId, cancelled.message);
      await handler.handle(
        accountId,
        "poll",
        { ...report, event: "order_cancel_rejected" },
        {
          within: async (tx, order) =>
            told(tx, await takeBrokerStatus(tx, order, after.value, report.at)),
        },
      );
      return;
    }
    await handler.handle(accountId, "poll", report, { within: settle.within });
  }

  /**
   * Ends an entry the broker never had as cancelled, with a bracket's held legs. Answers false,
   * ending nothing, when the entry reached the broker meanwhile (its answer stored since the
   * look-up): it is then cancelled there. A slice ended is told to the trader here: no decision
   * job follows it to tell it (an entry's tells it when it settles the decision).
   */
  async function endUnsentEntry(entry: OrderRecord): Promise<boolean> {
    const at = deps.now();
    const arrived = new Error("the entry reached the broker");
    const slice = entry.order.role === "SLICE";
    const chats = slice ? await recipients(entry.accountId) : [];
    let told = 0;
    try {
      await deps.db.transaction(async (tx) => {
        const ended = await applyOrderUpdate(
          tx,
          { orderId: entry.id },
          { event: "canceled", at: at.toISOString() },
          { source: "local", recordedAt: at },
        );
        if (!ended.ok) throw new Error(`the unsent entry could not be ended: ${ended.message}`);
        if (ended.value.record.order.brokerOrderId !== null) throw arrived;
        const legs = await listChildOrders(tx, entry.id);
        for (const leg of legs.filter((l) => !isTerminal(l.order.status))) {
          await applyOrderUpdate(
            tx,
            { orderId: leg.id },
            { event: "canceled", at: at.toISOString() },
            { source: "local", recordedAt: at },
          );
        }
        if (slice) {
          told = await writeNotices(
            tx,
            chats,
            [orderCanceledNotice(ended.value.record, "cancelled before it reached the broker")],
            at,
          );
        }
      });
    } catch (error) {
      if (error === arrived) return false;
      throw error;
    }
    if (told > 0) await deps.jobs.requestNotify("entry-cancelled");
    return true;
  }

  /**
   * Cancels a trade's working entry at the broker and stores the answer. Answers whether no entry
   * of the trade is working any more, and the broker's answer when it refused a cancel for good
   * with the entry still working there (else null).
   */
  async function cancelEntry(
    accountId: number,
    tradeId: number,
  ): Promise<{ readonly ended: boolean; readonly refused: string | null }> {
    const trade = await findTrade(deps.db, tradeId);
    if (!trade || trade.accountId !== accountId) {
      throw new UnrecoverableError(`no trade ${tradeId} on account ${accountId}`);
    }
    const broker = await deps.brokerFor(accountId);
    const entries = (await listOrdersForTrade(deps.db, tradeId)).filter(
      (o) => o.order.role === "ENTRY" || o.order.role === "SLICE",
    );
    let allEnded = true;
    let refused: string | null = null;
    for (const entry of entries) {
      if (isTerminal(entry.order.status)) continue;
      let brokerOrderId = entry.order.brokerOrderId;
      if (brokerOrderId === null) {
        const found = await broker.getOrderByClientOrderId(entry.order.clientOrderId);
        if (!found.ok) {
          if (found.code !== "NOT_FOUND") throw new Error(`entry lookup failed: ${found.message}`);
          // Recorded and not sent yet (its execute job may be retrying a failed send): ended
          // here, so that no later run of that job sends what the trader cancelled.
          if (await endUnsentEntry(entry)) continue;
          return cancelEntry(accountId, tradeId);
        }
        await handler.handle(accountId, "poll", brokerOrderToReport(found.value, deps.now()));
        // Cancelled by the id found, not by the one the books now hold: a status the books
        // cannot take (done_for_day from pending_new) leaves them without it, and looking it up
        // again would find the same, over and over, with the entry never cancelled.
        brokerOrderId = found.value.brokerOrderId;
      }
      const cancelled = await broker.cancelOrder(brokerOrderId);
      // Refused because it is no longer open (filled or already cancelled): the order says why.
      if (!cancelled.ok && cancelled.retryable) throw new Error(cancelled.message);
      const after = await broker.getOrder(brokerOrderId);
      if (!after.ok) throw new Error(`entry lookup failed: ${after.message}`);
      const handled = await handler.handle(
        accountId,
        "poll",
        brokerOrderToReport(after.value, deps.now()),
      );
      if (!handled.order || !isTerminal(handled.order.order.status)) allEnded = false;
      // Refused for another reason than its having ended (403: the account restricted) and
      // still working: asking again would be refused alike.
      if (
        !cancelled.ok &&
        !isTerminal(after.value.status) &&
        after.value.status !== "pending_cancel"
      ) {
        refused = cancelled.message;
      }
    }
    return { ended: allEnded, refused };
  }

  /**
   * Tells the trader the broker refused their cancel of the trade's entry (`why`) and the entry
   * still works there (CANCEL_REFUSED), once per cancel request (`request`, the job's id).
   */
  async function tellCancelRefused(
    accountId: number,
    tradeId: number,
    why: string,
    request: string | undefined,
  ): Promise<void> {
    const trade = await findTrade(deps.db, tradeId);
    if (!trade) return;
    const chats = await recipients(accountId);
    const written = await writeNotices(
      deps.db,
      chats,
      [
        cancelRefusedNotice(
          { decisionId: trade.decisionId, tradeId },
          trade.trade.symbol,
          why,
          request,
        ),
      ],
      deps.now(),
    );
    if (written > 0) await deps.jobs.requestNotify("cancel-refused");
  }

  /**
   * After a trader's cancel: when every entry of the trade had filled whole at the broker (the
   * fill came before the cancel reached it), nothing was cancelled and the position is held. The
   * trader, told by /orders to expect the broker's confirmation, gets CANCEL_TOO_LATE (once per
   * decision, also when the execute job already told it) and true is answered.
   */
  async function toldCancelTooLate(accountId: number, tradeId: number): Promise<boolean> {
    const [trade, orders] = await Promise.all([
      findTrade(deps.db, tradeId),
      listOrdersForTrade(deps.db, tradeId),
    ]);
    const entries = orders.filter((o) => o.order.role === "ENTRY" || o.order.role === "SLICE");
    if (!trade || entries.length === 0 || entries.some((e) => e.order.status !== "filled")) {
      return false;
    }
    const chats = await recipients(accountId);
    const written = await writeNotices(
      deps.db,
      chats,
      [
        cancelTooLateNotice(
          { decisionId: trade.decisionId, tradeId },
          trade.trade.symbol,
          sumDecimals(entries.map((e) => e.order.filledQuantity)),
          sumDecimals(entries.map((e) => e.order.quantity)),
        ),
      ],
      deps.now(),
    );
    if (written > 0) await deps.jobs.requestNotify("cancel-too-late");
    return true;
  }

  /**
   * Fails an approved AMEND with `code` and `reason` (the amended entry is not sent) and tells
   * the trader `notice`, once.
   */
  async function failAmendment(
    decision: Decision,
    code: string,
    reason: string,
    notice: PendingNotice,
    notifyReason: string,
  ): Promise<ExecuteResult> {
    const chats = await recipients(decision.accountId);
    const told = await deps.db.transaction(async (tx) => {
      const failed = await failApprovedDecision(
        tx,
        decision.id,
        `${code}: ${reason}`,
        SOURCE,
        deps.now(),
      );
      if (failed === null) return null;
      return writeNotices(tx, chats, [notice], deps.now());
    });
    if (told === null) return { outcome: "skipped", reason: "the decision is no longer approved" };
    if (told > 0) await deps.jobs.requestNotify(notifyReason);
    return { outcome: "refused", decisionId: decision.id, codes: [code] };
  }

  /**
   * Fails an AMEND whose cancel of the entry it replaces the broker refused for good (`why`),
   * that entry still working there: the amended entry is not sent, and the trader is told the
   * old entry can still fill and the amendment was not made (CANCEL_REFUSED), once.
   */
  function refuseAmendment(
    decision: Decision,
    replacesTradeId: number,
    why: string,
  ): Promise<ExecuteResult> {
    return failAmendment(
      decision,
      "CANCEL_REFUSED",
      `the broker refused the cancel of the entry of trade ${replacesTradeId} (${why}); it is still working`,
      cancelRefusedNotice(
        { decisionId: decision.id, tradeId: replacesTradeId },
        decision.symbol,
        why,
        undefined,
        "the amendment was not made",
      ),
      "cancel-refused",
    );
  }

  /**
   * Why an amendment must wait: the entry of the trade it replaces was ended in the books before
   * the broker acknowledged it (by this amendment's cancel, or the trader's), while the job of
   * that trade's decision has not settled, so a send of it may be on its way. The broker can
   * take and fill it after the cancel; sent now, the amended entry would add to those shares (up
   * to twice the planned position). Once that job settles, the fills are in the books and the
   * replaced trade's check applies. Null when nothing is on its way.
   */
  async function replacedSendUnsettled(
    accountId: number,
    replacesTradeId: number,
  ): Promise<string | null> {
    const old = await findTrade(deps.db, replacesTradeId);
    if (!old || old.accountId !== accountId || old.decisionId === null) return null;
    const entries = (await listOrdersForTrade(deps.db, replacesTradeId)).filter(
      (o) => o.order.role === "ENTRY",
    );
    if (!entries.some((e) => isTerminal(e.order.status) && e.order.brokerOrderId === null)) {
      return null;
    }
    const decision = await findDecision(deps.db, old.decisionId);
    if (decision?.status !== "executing") return null;
    return `trade ${replacesTradeId}: its entry may still be on its way to the broker (decision ${old.decisionId} is executing)`;
  }

  /**
   * Fails an AMEND that waited in vain for the send of the entry it replaces to settle: the
   * amended entry is not sent, and the trader is told to look before planning again, once.
   */
  function refuseUnsettledAmendment(
    decision: Decision,
    replacesTradeId: number,
  ): Promise<ExecuteResult> {
    const code = "REPLACED_ENTRY_UNSETTLED";
    const reason = `the entry of the trade it replaces (${decision.symbol}) was on its way to the broker when it was cancelled, and whether the broker took it is not known yet; the amended entry was not sent. Check /orders and /positions before you plan again`;
    return failAmendment(
      decision,
      code,
      reason,
      decisionRefusedNotice(decision, replacesTradeId, code, reason),
      "decision-refused",
    );
  }

  return async function processExecute(job: Job, token?: string): Promise<ExecuteResult> {
    const payload = executePayloadSchema.parse(job.data);
    switch (payload.action) {
      case "NEW_TRADE":
        return executeNewTrade(job, token, payload.decisionId);
      case "CANCEL": {
        const { ended, refused } = await cancelEntry(payload.accountId, payload.tradeId);
        if (refused !== null) {
          await tellCancelRefused(payload.accountId, payload.tradeId, refused, job.id);
          return { outcome: "cancel_refused", tradeId: payload.tradeId };
        }
        if (!ended) throw new Error(`trade ${payload.tradeId}: the entry is still working`);
        if (await toldCancelTooLate(payload.accountId, payload.tradeId)) {
          return { outcome: "too_late", tradeId: payload.tradeId };
        }
        return { outcome: "cancelled", tradeId: payload.tradeId };
      }
      case "AMEND": {
        const decision = await findDecision(deps.db, payload.decisionId);
        if (!decision) return { outcome: "skipped", reason: "no such decision" };
        if (decision.status === "approved") {
          const { ended, refused } = await cancelEntry(decision.accountId, payload.replacesTradeId);
          // Asking again would be refused alike: the amendment is not made, and the trader told.
          if (refused !== null) {
            return refuseAmendment(decision, payload.replacesTradeId, refused);
          }
          // The new entry waits until the old one can no longer fill.
          if (!ended)
            throw new Error(`trade ${payload.replacesTradeId}: the entry is still working`);
          // ... and until what the old one filled is known: one the books ended unsent may have
          // been on its way, and the broker may fill it.
          const unsettled = await replacedSendUnsettled(
            decision.accountId,
            payload.replacesTradeId,
          );
          if (unsettled !== null) {
            if (job.attemptsMade + 1 < (job.opts?.attempts ?? 1)) throw new Error(unsettled);
            return refuseUnsettledAmendment(decision, payload.replacesTradeId);
          }
        }
        return executeNewTrade(job, token, payload.decisionId, payload.replacesTradeId);
      }
    }
  };
}
