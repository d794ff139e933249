/**
 * The kill switch's broker work: cancel an account's working entry orders when it halts (never its
 * protective exits), close one position, and flatten the account symbol by symbol.
 *
 * Cancelling entries takes the account's entry lock first, so an execute job that read the state
 * before the halt has committed its entry row by then and is cancelled too, and any later one
 * reads HALTED. An entry recorded but not yet at the broker is looked up by its client order id;
 * one not found there is reported as unsent, and the kill-switch job sweeps (or flattens) again
 * until it has arrived and been cancelled (or closed) or has ended unsent.
 * Every step is idempotent: cancelling twice, or from two workers, leaves the same orders cancelled.
 *
 * Closing a symbol, in this order:
 * 1. The closing order is recorded before anything is sent: a market order for the position the
 *    broker holds (or the asked percentage of it), an EXIT of the symbol's trade (exit reason
 *    MANUAL_EXIT for /close, FLATTENED for /flatten and the automatic flatten, so its fill closes
 *    the trade with that reason), under a client order id derived from the request, the symbol
 *    and a sequence number. From then on it covers the position: the repair the protect job is
 *    asked for when the exits are cancelled places no stop that would hold the shares it needs.
 *    A position the books do not hold (opened outside the desk) is adopted in the same
 *    transaction, as reconciliation adopts one (`adoptPosition`), and the close recorded for
 *    its trade: its fill closes that trade, and reconciliation finds the position known.
 * 2. The symbol's working orders are cancelled (a resting stop holds the shares the close needs),
 *    except this request's own closes: a retry never cancels the close an earlier attempt sent.
 * 3. The position is read again (an exit may have filled meanwhile) and the close re-recorded if
 *    it no longer fits, then sent (looked up first when an earlier run recorded it), and the
 *    broker's answer applied.
 * A retry, or a run after a crash, starts from what the earlier ones left: a close of the request
 * still working at the broker is the symbol's close (no second one); one recorded and not at the
 * broker is sent now. Two runs of a request at once (a stalled job run again while the first still
 * works, two workers) meet under the symbol's lock when they record: the later one takes the
 * close the other recorded, sent or filled, and sends it as it is under its id (the broker keeps
 * one order per id), so the request never closes two parts. A close the broker refuses ends as
 * rejected; one the desk did not send ends as canceled, by the run that recorded it or once too
 * old for that run to send. A symbol that could not be closed gets its protection repaired at
 * once and is reported; the caller retries it. A position gone before the request closed any of it
 * (its stop filled, by hand) ends the request as `NO_POSITION`: not retried, not reported.
 */

import type { Database } from "../db/database";
import { lockName } from "../db/lifecycleQueries";
import { applyOrderUpdate } from "../db/orderEvents";
import {
  insertOrder,
  listOpenOrders,
  listOrdersWithClientIdPrefix,
  type OrderRecord,
} from "../db/orders";
import { findPosition } from "../db/positions";
import { countOrdersWithClientIdPrefix } from "../db/reconciliation";
import {
  type Broker,
  type BrokerOrder,
  type BrokerPosition,
  type BrokerResult,
  closingIntent,
} from "../domain/broker";
import { type Decimal, dec, HUNDRED, minDecimal, ZERO } from "../domain/money";
import { positionCloseResultNotice } from "../domain/notifications";
import { createOrder, type OrderSide } from "../domain/order";
import { isTerminal } from "../domain/orderStateMachine";
import { adoptionOf } from "../domain/reconciliation";
import type { ExitReason } from "../domain/trade";
import { ADOPTION_STOP_PERCENT, adoptionClientOrderIdPrefix, adoptPosition } from "./adoption";
import { brokerOrderToReport } from "./brokerOrderPayload";
import {
  closeClientOrderId,
  closeQuantity,
  closeRequestPrefix,
  endUnsentClose,
  isUnsentClose,
  UNSENT_CLOSE_SEND_MS,
} from "./closeOrders";
import type { JobDeps } from "./context";
import { entryLockName } from "./execute";
import { createRecipientLookup, type PendingNotice, writeNotices } from "./notices";
import { type OrderReportHandler, symbolLockName } from "./orderReports";
import { withRaceRetry } from "./transactions";

const SOURCE = "job:kill-switch";

/** What cancelling the working entries did. */
export interface EntriesCancelled {
  /** Client order ids of the entries cancelled (or found ended) at the broker. */
  readonly cancelled: readonly string[];
  /**
   * Entries the broker would not cancel now: a retryable failure, or a refusal with the order
   * still working.
   */
  readonly failed: readonly { readonly clientOrderId: string; readonly message: string }[];
  /**
   * Entries recorded but not at the broker yet: an execute job that passed its checks before the
   * halt may still send them, so the caller sweeps again until they are at the broker or ended.
   */
  readonly unsent: readonly string[];
}

/**
 * The code of a close that found no position to close at the broker (its stop or target filled
 * meanwhile, or it was closed by hand): the request is over, neither retried nor reported as a
 * failure (the fill that closed it is told as usual).
 */
export const NO_POSITION = "NO_POSITION";

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
  /** Entries recorded and not at the broker yet (see `EntriesCancelled.unsent`). */
  readonly unsentEntries: readonly string[];
  /** Open orders of symbols not held that the broker would not cancel now. */
  readonly ordersLeftOpen: readonly string[];
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
  ): Promise<{ ok: true; unsent?: true } | { ok: false; message: string }> {
    const broker = await deps.brokerFor(accountId);
    let brokerOrderId = entry.order.brokerOrderId;
    if (brokerOrderId === null) {
      const found = await broker.getOrderByClientOrderId(entry.order.clientOrderId);
      // Not at the broker (yet): a later sweep finds it if it arrives.
      if (!found.ok) return found.code === "NOT_FOUND" ? { ok: true, unsent: true } : found;
      brokerOrderId = found.value.brokerOrderId;
    }
    const cancelled = await broker.cancelOrder(brokerOrderId);
    if (!cancelled.ok && cancelled.retryable) return cancelled;
    const after = await broker.getOrder(brokerOrderId);
    if (after.ok) await report(accountId, after.value);
    // A refusal is the order having ended (filled, cancelled already) only if it shows ended:
    // one refused for another reason (403) still works at the broker.
    if (!cancelled.ok && !(after.ok && isTerminal(after.value.status))) return cancelled;
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
    const unsent: string[] = [];
    outcomes.forEach((outcome, i) => {
      const id = entries[i]?.order.clientOrderId ?? "";
      if (!outcome.ok) failed.push({ clientOrderId: id, message: outcome.message });
      else if (outcome.unsent) unsent.push(id);
      else cancelled.push(id);
    });
    if (entries.length > 0) {
      deps.logger.info(
        { accountId, cancelled: cancelled.length, failed: failed.length, unsent: unsent.length },
        "working entries cancelled",
      );
    }
    return { cancelled, failed, unsent };
  }

  /**
   * Cancels the symbol's open orders at the broker (ours and any other), entries and exits alike,
   * all but the closes whose client order id starts with `keep` (the request's own), and waits a
   * little for the broker to confirm. Answers why the close cannot go out yet, or null: a cancel
   * refused for now (CANCEL_FAILED), or one of an order of the close's `side` still unconfirmed
   * (CANCEL_PENDING): until it is `canceled` the order keeps holding the shares the close needs
   * (and keeps working, a stop still protecting), so the broker would refuse the close.
   */
  async function cancelSymbolOrders(
    broker: Broker,
    accountId: number,
    symbol: string,
    keep: string,
    side: OrderSide,
  ): Promise<{ readonly code: string; readonly message: string } | null> {
    const failedWith = (message: string) => ({ code: "CANCEL_FAILED", message });
    const open = await broker.listOrders({ status: "open", symbols: [symbol], nested: false });
    if (!open.ok) return failedWith(open.message);
    const toCancel = open.value.filter((o) => !o.clientOrderId.startsWith(keep));
    for (const order of toCancel) {
      const cancelled = await broker.cancelOrder(order.brokerOrderId);
      if (!cancelled.ok && cancelled.retryable) return failedWith(cancelled.message);
    }
    // Wait until the broker has released the shares the cancelled orders held.
    const cancelling = new Set(toCancel.map((o) => o.brokerOrderId));
    let holding: BrokerOrder[] = [];
    for (let i = 0; i < 20 && cancelling.size > 0; i += 1) {
      const still = await broker.listOrders({ status: "open", symbols: [symbol], nested: false });
      if (!still.ok) return failedWith(still.message);
      holding = still.value.filter((o) => cancelling.has(o.brokerOrderId) && o.side === side);
      if (!still.value.some((o) => cancelling.has(o.brokerOrderId))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await reportSymbolOrders(broker, accountId, symbol);
    if (holding.length === 0) return null;
    return {
      code: "CANCEL_PENDING",
      message: `the broker has not yet confirmed the cancel of ${holding.length === 1 ? "the order" : `${holding.length} orders`} holding the shares (${holding.map((o) => `${o.type} ${o.status}`).join(", ")}); the close is sent once it has`,
    };
  }

  /**
   * Hands the symbol's recent orders at the broker to the handler: the books catch up. Answers
   * why they could not be listed, or null.
   */
  async function reportSymbolOrders(
    broker: Broker,
    accountId: number,
    symbol: string,
  ): Promise<string | null> {
    const recent = await broker.listOrders({ status: "all", symbols: [symbol], limit: 50 });
    if (!recent.ok) return recent.message;
    for (const order of recent.value) await report(accountId, order);
    return null;
  }

  async function restoreProtection(accountId: number, symbol: string): Promise<void> {
    const position = await findPosition(deps.db, accountId, symbol);
    if (position?.tradeId != null) {
      // Its own reason: a request is merged into a waiting job of its reason, and a repair of
      // the trade may be waiting out a retry's backoff.
      await deps.jobs.requestProtection(accountId, position.tradeId, "after_close");
    }
  }

  /** The request's closes of the symbol, oldest first. */
  async function requestCloses(
    db: Database,
    request: CloseRequest,
    prefix: string,
  ): Promise<OrderRecord[]> {
    const closes = await listOrdersWithClientIdPrefix(db, request.accountId, prefix);
    const sequenced = new RegExp(`^${request.symbol.replace(/[^A-Za-z0-9]/g, "\\$&")}-\\d+$`);
    return closes.filter(
      (o) =>
        o.order.symbol === request.symbol &&
        o.order.role === "EXIT" &&
        sequenced.test(o.order.clientOrderId.slice(prefix.length)),
    );
  }

  /** A recorded close to send, and whether an earlier run may have sent it (look it up first). */
  interface RecordedClose {
    readonly record: OrderRecord;
    /**
     * Recorded by another run of the request (an earlier attempt, or one still working: a stalled
     * job run again, a second worker). That run may be sending it or have sent it, its answer not
     * heard yet: it is sent as it is under its own id (the broker takes one order per id), never
     * resized nor ended as unsent while that run may still send it.
     */
    readonly earlier: boolean;
  }

  /**
   * Whether a close recorded and not acknowledged may still be sent by the run that recorded it:
   * a run sends only a close recorded less than `UNSENT_CLOSE_SEND_MS` ago.
   */
  function maySendStill(close: OrderRecord, at: Date): boolean {
    return isUnsentClose(close) && at.getTime() - close.createdAt.getTime() < UNSENT_CLOSE_SEND_MS;
  }

  /**
   * Ends a close not at the broker when no other run can send it any more: this run's own, or
   * another's recorded too long ago for that run to send. Another run's recent one stays (it
   * covers the position); the retry finds it at the broker or abandoned.
   */
  async function endUnsent(close: RecordedClose | OrderRecord): Promise<void> {
    const own = "record" in close && !close.earlier;
    const record = "record" in close ? close.record : close;
    if (!own && maySendStill(record, deps.now())) return;
    await endUnsentClose(deps.db, record, { event: "canceled" }, deps.now());
  }

  /**
   * A broker position the books did not hold when the close was asked for (opened outside the
   * desk): adopted with the close, so the close is its trade's and its fill closes that trade.
   */
  interface Adoption {
    readonly position: BrokerPosition;
    /** The symbol's adoptions counted before the position was read (see `adoptPosition`). */
    readonly adoptionsBefore: number;
    readonly chats: readonly number[];
  }

  /**
   * Records the request's next close of the symbol under the symbol's lock, ending `replaces`
   * (this run's, recorded before, not sent) in the same transaction: the position is covered by
   * one close or the other at every moment. A close of the request that another run recorded is
   * kept instead, whatever its size, while that run may still send it or the broker works it, and
   * for a part of the position also when it filled anything: two runs never close two parts.
   * `reuse` (an earlier run's, found unsent at the broker) is ended when too old to send. With
   * `adoption`, a position the books still do not hold is adopted in the same transaction, the
   * close recorded for its trade: reconciliation, under the same lock, finds it held and adopts
   * nothing; null when it was adopted (and maybe closed) meanwhile, nothing recorded.
   */
  async function recordClose(
    request: CloseRequest,
    prefix: string,
    close: { readonly quantity: Decimal; readonly side: OrderSide },
    earlier: { readonly reuse?: OrderRecord; readonly replaces?: OrderRecord },
    adoption?: Adoption,
  ): Promise<RecordedClose | null> {
    const { accountId, symbol } = request;
    const at = deps.now();
    const part = request.percent !== null && dec(request.percent).lt(HUNDRED);
    let notices = 0;
    const recorded = await withRaceRetry(() =>
      deps.db.transaction(async (tx): Promise<RecordedClose | null> => {
        notices = 0;
        await lockName(tx, symbolLockName(accountId, symbol));
        const position = await findPosition(tx, accountId, symbol);
        let tradeId = position?.tradeId ?? null;
        if (position === null && adoption !== undefined) {
          const adopted = await adoptPosition(tx, {
            accountId,
            chats: adoption.chats,
            position: adoptionOf(adoption.position),
            adoptionsBefore: adoption.adoptionsBefore,
            stopPercent: ADOPTION_STOP_PERCENT,
            purpose: "close",
            source: `${SOURCE}:${request.requestedBy}`,
            at,
          });
          if (adopted === null) return null;
          tradeId = adopted.tradeId;
          notices = adopted.notices;
        }
        const closes = await requestCloses(tx, request, prefix);
        // Read under the lock: another run's close recorded, sent or filled since this run
        // looked is seen here, and is the request's close.
        const standing = closes.findLast(
          (c) =>
            c.id !== earlier.replaces?.id &&
            ((!isTerminal(c.order.status) && (!isUnsentClose(c) || maySendStill(c, at))) ||
              (part && c.order.filledQuantity.gt(ZERO))),
        );
        if (standing !== undefined) return { record: standing, earlier: true };
        for (const old of closes) {
          if (old.id !== earlier.reuse?.id && old.id !== earlier.replaces?.id) continue;
          if (!isUnsentClose(old)) continue;
          const ended = await applyOrderUpdate(
            tx,
            { orderId: old.id },
            { event: "canceled", at: at.toISOString() },
            { source: "local", recordedAt: at },
          );
          if (!ended.ok) throw new Error(`close ${old.id} not replaced: ${ended.message}`);
        }
        const inserted = await insertOrder(
          tx,
          {
            accountId,
            tradeId,
            order: createOrder(
              {
                clientOrderId: closeClientOrderId(
                  accountId,
                  request.requestId,
                  symbol,
                  closes.length + 1,
                ),
                symbol,
                side: close.side,
                type: "market",
                timeInForce: "day",
                orderClass: "simple",
                role: "EXIT",
                quantity: close.quantity,
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
        // Not created: a second run of the same attempt recorded it first (the same order).
        return { record: inserted.record, earlier: !inserted.created };
      }),
    );
    if (notices > 0) await deps.jobs.requestNotify("close");
    return recorded;
  }

  /**
   * Where the request's earlier closes of the symbol stand at the broker (each applied from the
   * broker's answer): one still working there is the symbol's close; one recorded that the broker
   * does not know is to send; none, or all ended, means a new close.
   */
  async function earlierCloses(
    broker: Broker,
    request: CloseRequest,
    prefix: string,
  ): Promise<
    | { readonly kind: "working"; readonly order: BrokerOrder }
    | { readonly kind: "unsent"; readonly record: OrderRecord }
    | { readonly kind: "none" }
    | { readonly kind: "unknown"; readonly code: string; readonly message: string }
  > {
    let unsent: OrderRecord | null = null;
    const closes = await requestCloses(deps.db, request, prefix);
    for (const close of closes.filter((c) => !isTerminal(c.order.status))) {
      const brokerOrderId = close.order.brokerOrderId;
      const seen: BrokerResult<BrokerOrder> =
        brokerOrderId === null
          ? await broker.getOrderByClientOrderId(close.order.clientOrderId)
          : await broker.getOrder(brokerOrderId);
      if (seen.ok) {
        await report(request.accountId, seen.value);
        if (!isTerminal(seen.value.status)) return { kind: "working", order: seen.value };
      } else if (seen.code === "NOT_FOUND" && brokerOrderId === null) {
        unsent = close;
      } else {
        return { kind: "unknown", code: seen.code, message: seen.message };
      }
    }
    return unsent === null ? { kind: "none" } : { kind: "unsent", record: unsent };
  }

  function closedBy(symbol: string, order: BrokerOrder, fallbackQty: Decimal): SymbolClose {
    return {
      symbol,
      ok: true,
      brokerOrderId: order.brokerOrderId,
      qty: (order.qty ?? fallbackQty).toFixed(),
      price: order.status === "filled" ? (order.filledAvgPrice?.toFixed() ?? null) : null,
    };
  }

  /** Closes one symbol; an error on the way is the symbol's failure (see `closeFailedWith`). */
  function closePosition(request: CloseRequest): Promise<SymbolClose> {
    return closeSymbol(request).catch((error: unknown) =>
      closeFailedWith(request.accountId, request.symbol, error),
    );
  }

  async function closeSymbol(request: CloseRequest): Promise<SymbolClose> {
    const { accountId, symbol } = request;
    const broker = await deps.brokerFor(accountId);
    const prefix = closeRequestPrefix(accountId, request.requestId);
    const failure = (code: string, message: string): SymbolClose => ({
      symbol,
      ok: false,
      code,
      message,
    });
    // The exits may have been cancelled for the close: put them back while the symbol waits.
    const failed = async (code: string, message: string): Promise<SymbolClose> => {
      await restoreProtection(accountId, symbol);
      return failure(code, message);
    };
    const percent =
      request.percent === null || dec(request.percent).gte(HUNDRED) ? null : dec(request.percent);
    // Gone before the request closed any of it (its stop filled, even while its cancel was
    // pending): nothing is left to close or to protect, and no retry will find more.
    const noPosition = (): SymbolClose =>
      failure(NO_POSITION, `no ${symbol} position is held at the broker: nothing to close`);

    const found = await earlierCloses(broker, request, prefix);
    // Whether it was sent is unknown: the next attempt looks again (it covers the position meanwhile).
    if (found.kind === "unknown") return failure(found.code, found.message);
    if (found.kind === "working") return closedBy(symbol, found.order, ZERO);
    const unsent = found.kind === "unsent" ? found.record : undefined;
    // An earlier attempt's close that filled (its answer maybe lost, applied just now).
    const filled = (await requestCloses(deps.db, request, prefix)).findLast(
      (c) => c.order.filledQuantity.gt(ZERO) && c.order.brokerOrderId !== null,
    );
    const closedEarlier = (): SymbolClose => ({
      symbol,
      ok: true,
      brokerOrderId: filled?.order.brokerOrderId ?? "",
      qty: filled?.order.filledQuantity.toFixed() ?? "0",
      price: filled?.order.averageFillPrice?.toFixed() ?? null,
    });
    // A part once closed is the request done: a retry closes no second part.
    if (percent !== null && filled !== undefined && unsent === undefined) return closedEarlier();

    // Counted before the position is read: see `adoptPosition`.
    const adoptionsBefore = await countOrdersWithClientIdPrefix(
      deps.db,
      accountId,
      adoptionClientOrderIdPrefix(accountId, symbol),
    );
    const held = await broker.getPosition(symbol);
    if (!held.ok) {
      if (unsent) await endUnsent(unsent);
      // Gone since an earlier attempt's close filled: that close was the request's.
      if (held.code === "NOT_FOUND" && filled !== undefined) return closedEarlier();
      if (held.code === "NOT_FOUND") return noPosition();
      return failed(held.code, held.message);
    }
    const side: OrderSide = held.value.qty.isNeg() ? "buy" : "sell";
    const quantity = closeQuantity(held.value, percent);
    if (!quantity.gt(ZERO)) {
      if (unsent) await endUnsent(unsent);
      return failed("INVALID", `nothing to close: ${request.percent}% of ${held.value.qty.abs()}`);
    }
    // 0. The books caught up when they hold another position than the broker (an entry's fill
    // not stored yet, its stream event in flight): the close is recorded for the position's trade,
    // so the repair its cancelled exits ask for sees the close covering the trade and places no
    // stop beside it, holding the shares the close needs.
    const booked = await findPosition(deps.db, accountId, symbol);
    if (booked?.position.quantity.eq(held.value.qty) !== true) {
      const behind = await reportSymbolOrders(broker, accountId, symbol);
      // Unheard fills of the desk's own must not be adopted as a position opened elsewhere.
      if (behind !== null && booked === null) {
        if (unsent) await endUnsent(unsent);
        return failed("UNAVAILABLE", behind);
      }
    }
    // 1. Recorded first: from now on the close covers the position. A position the books do
    // not hold (opened outside the desk) is adopted with it, as reconciliation adopts one, so
    // the close's fill closes a trade and no stop is placed beside the close.
    const adoption: Adoption = {
      position: held.value,
      adoptionsBefore,
      chats: await recipients(accountId),
    };
    const first = await recordClose(
      request,
      prefix,
      { quantity, side },
      { reuse: unsent },
      adoption,
    );
    if (first === null) {
      if (unsent) await endUnsent(unsent);
      return failed(
        "POSITION_CHANGED",
        "the position was adopted meanwhile; the close is tried again",
      );
    }
    let close = first;
    const placedBefore = close.earlier ? close.record.order.brokerOrderId : null;
    if (placedBefore !== null) {
      // Another run's close reached the broker since this run looked: it is the request's close.
      const seen = await broker.getOrder(placedBefore);
      if (!seen.ok) return failure(seen.code, seen.message);
      await report(accountId, seen.value);
      return closedBy(symbol, seen.value, close.record.order.quantity);
    }

    // 2. The exits (and any other order of the symbol) cancelled: they hold the shares.
    const cancelFailed = await cancelSymbolOrders(
      broker,
      accountId,
      symbol,
      prefix,
      close.record.order.side,
    );
    if (cancelFailed !== null) {
      await endUnsent(close);
      return failed(cancelFailed.code, cancelFailed.message);
    }

    // 3. What is held now (an exit may have filled before it was cancelled), then sent.
    const now = await broker.getPosition(symbol);
    if (!now.ok) {
      await endUnsent(close);
      // An exit filled before its cancel took hold.
      if (now.code === "NOT_FOUND") return noPosition();
      return failed(now.code, now.message);
    }
    const nowSide: OrderSide = now.value.qty.isNeg() ? "buy" : "sell";
    const nowHeld = now.value.qty.abs();
    const nowQuantity =
      percent === null ? nowHeld : minDecimal(close.record.order.quantity, nowHeld);
    // Another run's close is sent as it is: that run may have sent it already.
    if (
      !close.earlier &&
      (!nowQuantity.eq(close.record.order.quantity) || nowSide !== close.record.order.side)
    ) {
      const again = await recordClose(
        request,
        prefix,
        { quantity: nowQuantity, side: nowSide },
        { replaces: close.record },
      );
      // Recorded without an adoption, so always recorded.
      if (again === null) throw new Error(`close of ${symbol} not recorded again`);
      close = again;
    }
    if (
      !close.earlier &&
      deps.now().getTime() - close.record.createdAt.getTime() >= UNSENT_CLOSE_SEND_MS
    ) {
      // Nearly too old to count as cover: the next attempt records it again before it cancels.
      await endUnsent(close);
      return failed("TIMEOUT", "the close was not sent in time");
    }
    const o = close.record.order;
    const answer = await broker.submitOrder(
      {
        clientOrderId: o.clientOrderId,
        symbol,
        side: o.side,
        qty: o.quantity,
        timeInForce: o.timeInForce,
        // Refused beyond the position held rather than opening the other side, should the
        // position have shrunk or gone since it was read.
        positionIntent: closingIntent(o.side),
        orderClass: "simple",
        entry: { type: "market" },
      },
      { lookUpFirst: close.earlier },
    );
    let placed: BrokerOrder;
    if (answer.ok) {
      placed = answer.value;
    } else if (!answer.retryable) {
      const reason = `${answer.code}: ${answer.message}`;
      await endUnsentClose(deps.db, close.record, { event: "rejected", reason }, deps.now());
      return failed(answer.code, answer.message);
    } else {
      const lookedUp = await broker.getOrderByClientOrderId(o.clientOrderId);
      if (lookedUp.ok) {
        placed = lookedUp.value;
      } else if (lookedUp.code === "NOT_FOUND") {
        await endUnsent(close);
        return failed(answer.code, answer.message);
      } else {
        // Maybe placed: it stays recorded (covering the position) for the retry to look up.
        return failure(answer.code, `${answer.message}; whether the close was placed is unknown`);
      }
    }
    await handler.handle(accountId, "submit", brokerOrderToReport(placed, deps.now()));
    const latest = await broker.getOrder(placed.brokerOrderId);
    if (latest.ok) await report(accountId, latest.value);
    // A partial close leaves a position whose exits were cancelled: protect what is left.
    if (percent !== null) await restoreProtection(accountId, symbol);
    return closedBy(symbol, latest.ok ? latest.value : placed, o.quantity);
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

  /**
   * A symbol's close that ended in an error rather than a failure it reports: one symbol must not
   * keep a flatten from closing and reporting the others, and the trader hears of it as of any
   * failed close. Its exits may have been cancelled for the close: they are asked back, and the
   * symbol is reported failed (the job retries it).
   */
  async function closeFailedWith(
    accountId: number,
    symbol: string,
    error: unknown,
  ): Promise<SymbolClose> {
    const message = error instanceof Error ? error.message : String(error);
    deps.logger.error({ accountId, symbol, err: error }, "close of a symbol failed in a flatten");
    try {
      await restoreProtection(accountId, symbol);
    } catch (restoreError) {
      deps.logger.error({ accountId, symbol, err: restoreError }, "protection not asked back");
    }
    return { symbol, ok: false, code: "ERROR", message };
  }

  async function flatten(request: FlattenRequest): Promise<FlattenOutcome> {
    const { accountId } = request;
    const broker = await deps.brokerFor(accountId);
    const entries = await cancelWorkingEntries(accountId);
    // Every other open order of a symbol not held (one placed outside the desk, one the books lost)
    // could still open a position; a held symbol's orders are cancelled by its close, after the
    // close is recorded. Positions are read again after: one of those orders may have filled.
    const before = await broker.listPositions();
    if (!before.ok) throw new Error(`positions unavailable: ${before.message}`);
    const leftOpen = await cancelOrdersNotHeld(
      broker,
      accountId,
      new Set(before.value.map((p) => p.symbol)),
    );
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
    // A position gone since the positions were read is no failure: the flatten has nothing to do.
    const gone = (r: SymbolClose) => !r.ok && r.code === NO_POSITION;
    const failed = results.filter((r) => !r.ok && !gone(r));
    if (request.notify ?? true) {
      await reportCloses(
        {
          accountId,
          action: "flatten",
          requestedBy: request.requestedBy,
          requestId: request.requestId,
          willRetry: request.willRetry ?? true,
        },
        results.filter((r) => !gone(r)),
      );
    }
    deps.logger.info(
      { accountId, closed: closed.map((r) => r.symbol), failed: failed.map((r) => r.symbol) },
      "flatten pass",
    );
    return { closed, failed, unsentEntries: entries.unsent, ordersLeftOpen: leftOpen };
  }

  /**
   * Cancels the open orders at the broker of the symbols not in `held`, closes included (a close
   * of a position gone would be refused anyway). Answers the client order ids of those the broker
   * would not cancel now (a retryable failure, or a refusal with the order still working), or of
   * all of them when they cannot be listed.
   */
  async function cancelOrdersNotHeld(
    broker: Broker,
    accountId: number,
    held: ReadonlySet<string>,
  ): Promise<string[]> {
    const open = await broker.listOrders({ status: "open", nested: false, limit: 500 });
    if (!open.ok) return [`(open orders unavailable: ${open.message})`];
    const left: string[] = [];
    for (const order of open.value.filter((o) => !held.has(o.symbol))) {
      const cancelled = await broker.cancelOrder(order.brokerOrderId);
      if (!cancelled.ok && cancelled.retryable) {
        left.push(order.clientOrderId);
        continue;
      }
      const after = await broker.getOrder(order.brokerOrderId);
      if (after.ok) await report(accountId, after.value);
      // Refused and not ended (a 403): still open, as a retryable failure leaves it.
      if (!cancelled.ok && !(after.ok && isTerminal(after.value.status))) {
        left.push(order.clientOrderId);
      }
    }
    return left;
  }

  return { cancelWorkingEntries, closePosition, flatten, reportCloses };
}
