/**
 * The kill switch's broker work: cancel an account's working entry orders when it halts (never its
 * protective exits), close one position, and flatten the account symbol by symbol.
 *
 * Cancelling entries takes the account's entry lock first, so an execute job that read the state
 * before the halt has committed its entry row by then and is cancelled too, and any later one
 * reads HALTED. An entry recorded but not yet at the broker is looked up by its client order id;
 * the kill-switch queue sweeps once more a little later for the one that arrives after the look-up.
 * Every step is idempotent: cancelling twice, or from two workers, leaves the same orders cancelled.
 *
 * Closing goes through the broker's close-position call after the symbol's working orders are
 * cancelled (a resting stop holds the shares the close needs). The closing order is recorded as an
 * EXIT of the symbol's trade (exit reason MANUAL_EXIT for /close, FLATTENED for /flatten and the
 * automatic flatten), so its fill closes the trade with that reason. A symbol that could not be
 * closed gets its protection repaired at once and is reported; the caller retries it.
 */

import { lockName } from "../db/lifecycleQueries";
import { insertOrder, listOpenOrders, type OrderRecord } from "../db/orders";
import { findPosition } from "../db/positions";
import type { BrokerOrder, CloseAmount } from "../domain/broker";
import { dec } from "../domain/money";
import { positionCloseResultNotice } from "../domain/notifications";
import { createOrder } from "../domain/order";
import { isTerminal } from "../domain/orderStateMachine";
import type { ExitReason } from "../domain/trade";
import { brokerOrderToReport } from "./brokerOrderPayload";
import type { JobDeps } from "./context";
import { entryLockName } from "./execute";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import type { OrderReportHandler } from "./orderReports";

const SOURCE = "job:kill-switch";

/** What cancelling the working entries did. */
export interface EntriesCancelled {
  /** Client order ids of the entries cancelled (or found ended) at the broker. */
  readonly cancelled: readonly string[];
  /** Entries the broker would not cancel now (retryable failures). */
  readonly failed: readonly { readonly clientOrderId: string; readonly message: string }[];
}

/** One symbol's close. */
export type SymbolClose =
  | {
      readonly symbol: string;
      readonly ok: true;
      readonly brokerOrderId: string;
      readonly qty: string;
      /** The average fill price when the close had filled by the time it was reported. */
      readonly price: string | null;
    }
  | {
      readonly symbol: string;
      readonly ok: false;
      readonly code: string;
      readonly message: string;
    };

export interface CloseRequest {
  readonly accountId: number;
  readonly symbol: string;
  /** Percent of the position ("50"), or null for all of it. */
  readonly percent: string | null;
  readonly requestedBy: string;
  readonly requestId: string;
  readonly exitReason: ExitReason;
}

export interface FlattenOutcome {
  readonly closed: readonly SymbolClose[];
  readonly failed: readonly SymbolClose[];
}

export interface KillSwitch {
  cancelWorkingEntries(accountId: number): Promise<EntriesCancelled>;
  closePosition(request: CloseRequest): Promise<SymbolClose>;
  /** Cancels every open order, then closes every position, reporting each symbol. */
  flatten(request: FlattenRequest): Promise<FlattenOutcome>;
  /**
   * Tells the traders one POSITION_CLOSE_RESULT per symbol: a symbol's first failure once however
   * often the job retries it, then its close, or on the last attempt that the desk gave up.
   */
  reportCloses(request: CloseReport, results: readonly SymbolClose[]): Promise<void>;
}

/** Who asked for closes, and where the retries of the job that made them stand. */
export interface CloseReport {
  readonly accountId: number;
  readonly action: "flatten" | "close";
  readonly requestedBy: string;
  readonly requestId: string;
  /** True when a failure now is retried by the job (false on its last attempt). */
  readonly willRetry: boolean;
}

/** A flatten of one account, as the kill-switch job runs it (one attempt of it). */
export interface FlattenRequest {
  readonly accountId: number;
  readonly requestedBy: string;
  readonly requestId: string;
  /** True when a failed symbol is retried by another attempt (default true). */
  readonly willRetry?: boolean;
  /** Report the outcome of each symbol to the traders (default true). */
  readonly notify?: boolean;
}

const ENTRY_ROLES: readonly string[] = ["ENTRY", "SLICE"];

function isWorkingEntry(order: OrderRecord): boolean {
  return ENTRY_ROLES.includes(order.order.role) && !isTerminal(order.order.status);
}

/** Builds the kill switch over the job dependencies and the idempotent order-report handler. */
export function createKillSwitch(deps: JobDeps, handler: OrderReportHandler): KillSwitch {
  const recipients = createRecipientLookup(deps);

  async function report(accountId: number, order: BrokerOrder): Promise<void> {
    await handler.handle(accountId, "poll", brokerOrderToReport(order, deps.now()));
  }

  async function cancelOne(
    accountId: number,
    entry: OrderRecord,
  ): Promise<{ ok: true } | { ok: false; message: string }> {
    const broker = await deps.brokerFor(accountId);
    let brokerOrderId = entry.order.brokerOrderId;
    if (brokerOrderId === null) {
      const found = await broker.getOrderByClientOrderId(entry.order.clientOrderId);
      // Not at the broker (yet): the later sweep finds it if it arrives.
      if (!found.ok) return found.code === "NOT_FOUND" ? { ok: true } : found;
      brokerOrderId = found.value.brokerOrderId;
    }
    const cancelled = await broker.cancelOrder(brokerOrderId);
    // A refusal that is not retryable means the order is no longer open: its state says why.
    if (!cancelled.ok && cancelled.retryable) return cancelled;
    const after = await broker.getOrder(brokerOrderId);
    if (after.ok) await report(accountId, after.value);
    return { ok: true };
  }

  async function cancelWorkingEntries(accountId: number): Promise<EntriesCancelled> {
    // Waits for any execute job between its risk check and its commit: its entry is then listed.
    const entries = await deps.db.transaction(async (tx) => {
      await lockName(tx, entryLockName(accountId));
      return (await listOpenOrders(tx, accountId)).filter(isWorkingEntry);
    });
    const outcomes = await Promise.all(entries.map((e) => cancelOne(accountId, e)));
    const cancelled: string[] = [];
    const failed: { clientOrderId: string; message: string }[] = [];
    outcomes.forEach((outcome, i) => {
      const id = entries[i]?.order.clientOrderId ?? "";
      if (outcome.ok) cancelled.push(id);
      else failed.push({ clientOrderId: id, message: outcome.message });
    });
    if (entries.length > 0) {
      deps.logger.info(
        { accountId, cancelled: cancelled.length, failed: failed.length },
        "working entries cancelled",
      );
    }
    return { cancelled, failed };
  }

  /** Cancels the symbol's open orders at the broker (ours and any other), entries and exits alike. */
  async function cancelSymbolOrders(accountId: number, symbol: string): Promise<string | null> {
    const broker = await deps.brokerFor(accountId);
    const open = await broker.listOrders({ status: "open", symbols: [symbol], nested: false });
    if (!open.ok) return open.message;
    for (const order of open.value) {
      const cancelled = await broker.cancelOrder(order.brokerOrderId);
      if (!cancelled.ok && cancelled.retryable) return cancelled.message;
    }
    // Wait until the broker has released the shares the orders held.
    for (let i = 0; i < 20; i += 1) {
      const still = await broker.listOrders({ status: "open", symbols: [symbol], nested: false });
      if (!still.ok) return still.message;
      if (still.value.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await broker.listOrders({ status: "all", symbols: [symbol], limit: 50 });
    if (after.ok) for (const order of after.value) await report(accountId, order);
    return null;
  }

  async function restoreProtection(accountId: number, symbol: string): Promise<void> {
    const position = await findPosition(deps.db, accountId, symbol);
    if (position?.tradeId != null) {
      // Its own reason: a "repair" asked for when the exits were cancelled (moments ago, before
      // the close was tried) would swallow this request as a duplicate.
      await deps.jobs.requestProtection(accountId, position.tradeId, "after_close");
    }
  }

  async function closePosition(request: CloseRequest): Promise<SymbolClose> {
    const { accountId, symbol } = request;
    const broker = await deps.brokerFor(accountId);
    const failure = (code: string, message: string): SymbolClose => ({
      symbol,
      ok: false,
      code,
      message,
    });
    const cancelFailed = await cancelSymbolOrders(accountId, symbol);
    if (cancelFailed !== null) {
      await restoreProtection(accountId, symbol);
      return failure("CANCEL_FAILED", cancelFailed);
    }
    const amount: CloseAmount | undefined =
      request.percent === null || dec(request.percent).gte(100)
        ? undefined
        : { percentage: dec(request.percent) };
    const closed = await broker.closePosition(symbol, amount);
    if (!closed.ok) {
      // The stops were cancelled for the close: put them back while the symbol waits for a retry.
      await restoreProtection(accountId, symbol);
      return failure(closed.code, closed.message);
    }
    const order = closed.value;
    const position = await findPosition(deps.db, accountId, symbol);
    const at = deps.now();
    const qty = order.qty ?? position?.position.quantity.abs() ?? dec(0);
    if (qty.gt(0)) {
      await insertOrder(
        deps.db,
        {
          accountId,
          tradeId: position?.tradeId ?? null,
          order: createOrder(
            {
              clientOrderId: order.clientOrderId ?? `close-${request.requestId}-${symbol}`,
              symbol,
              side: order.side,
              type: "market",
              timeInForce: "day",
              orderClass: "simple",
              role: "EXIT",
              quantity: qty,
              limitPrice: null,
              stopPrice: null,
            },
            at.toISOString(),
          ),
          exitReason: request.exitReason,
        },
        `${SOURCE}:${request.requestedBy}`,
        at,
      );
    }
    await report(accountId, order);
    const latest = await broker.getOrder(order.brokerOrderId);
    if (latest.ok) await report(accountId, latest.value);
    // A partial close leaves a position whose exits were cancelled: protect what is left.
    if (amount !== undefined) await restoreProtection(accountId, symbol);
    const filled = latest.ok && latest.value.status === "filled" ? latest.value : null;
    return {
      symbol,
      ok: true,
      brokerOrderId: order.brokerOrderId,
      qty: qty.toFixed(),
      price: filled?.filledAvgPrice?.toFixed() ?? null,
    };
  }

  async function reportCloses(request: CloseReport, results: readonly SymbolClose[]) {
    if (results.length === 0) return;
    const notices: PendingNotice[] = results.map((r) =>
      positionCloseResultNotice({
        ...request,
        outcome: r.ok
          ? { symbol: r.symbol, ok: true, quantity: r.qty, price: r.price }
          : { symbol: r.symbol, ok: false, code: r.code, message: r.message },
      }),
    );
    const chats = await recipients(request.accountId);
    const written = await writeNotices(deps.db, chats, notices, deps.now());
    if (written > 0) await deps.jobs.requestNotify(request.action);
  }

  async function flatten(request: FlattenRequest): Promise<FlattenOutcome> {
    const { accountId } = request;
    const broker = await deps.brokerFor(accountId);
    await cancelWorkingEntries(accountId);
    const held = await broker.listPositions();
    if (!held.ok) throw new Error(`positions unavailable: ${held.message}`);
    const results = await Promise.all(
      held.value.map((p) =>
        closePosition({
          accountId,
          symbol: p.symbol,
          percent: null,
          requestedBy: request.requestedBy,
          requestId: request.requestId,
          exitReason: "FLATTENED",
        }),
      ),
    );
    const closed = results.filter((r) => r.ok);
    const failed = results.filter((r) => !r.ok);
    if (request.notify ?? true) {
      await reportCloses(
        {
          accountId,
          action: "flatten",
          requestedBy: request.requestedBy,
          requestId: request.requestId,
          willRetry: request.willRetry ?? true,
        },
        results,
      );
    }
    deps.logger.info(
      { accountId, closed: closed.map((r) => r.symbol), failed: failed.map((r) => r.symbol) },
      "flatten pass",
    );
    return { closed, failed };
  }

  return { cancelWorkingEntries, closePosition, flatten, reportCloses };
}
