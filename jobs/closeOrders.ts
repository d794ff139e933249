/**
 * The closing orders of the kill switch (/close, /flatten, the automatic flatten): how they are
 * named, how much they close, and how long one recorded but not yet at the broker counts as
 * covering its position.
 *
 * A close is recorded before the position's exits are cancelled, so the protect job, asked to
 * repair the exits the moment they are cancelled, finds the close covering the position and
 * places no stop that would hold the shares the close needs. A recorded close that never reaches
 * the broker (its job gone for good) must not cover the position for ever: past
 * `UNSENT_CLOSE_COVER_MS` the protect job looks it up at the broker and, when the broker does not
 * know it, ends it and protects the position again. The close job itself sends only a close
 * recorded less than half that long ago.
 */
import type { Database } from "../db/database";
import { lockName } from "../db/lifecycleQueries";
import { applyOrderUpdate } from "../db/orderEvents";
import { findOrder, type OrderRecord } from "../db/orders";
import type { BrokerPosition } from "../domain/broker";
import { Decimal, HUNDRED } from "../domain/money";
import { symbolLockName } from "./orderReports";
import { withRaceRetry } from "./transactions";

/** The client order id prefix of every closing order of the kill switch. */
const CLOSE_PREFIX = "close-";

/** How long a close recorded but not acknowledged by the broker counts as covering its position. */
export const UNSENT_CLOSE_COVER_MS = 60_000;

/** The oldest record of an unsent close the close job still sends (else it records it again). */
export const UNSENT_CLOSE_SEND_MS = UNSENT_CLOSE_COVER_MS / 2;

/**
 * The client order id prefix of one close request's orders (a /close confirmation, or a flatten):
 * every attempt of the request, for every symbol, starts with it.
 */
export function closeRequestPrefix(accountId: number, requestId: string): string {
  return `${CLOSE_PREFIX}${accountId}-${requestId}-`;
}

/** The client order id of a request's `sequence`-th close of `symbol` (1 for the first). */
export function closeClientOrderId(
  accountId: number,
  requestId: string,
  symbol: string,
  sequence: number,
): string {
  return `${closeRequestPrefix(accountId, requestId)}${symbol}-${sequence}`;
}

/** Whether a closing order was recorded by the kill switch's close. */
export function isKillSwitchClose(order: OrderRecord): boolean {
  return order.order.role === "EXIT" && order.order.clientOrderId.startsWith(CLOSE_PREFIX);
}

/** A kill-switch close recorded and not yet acknowledged by the broker (maybe never sent). */
export function isUnsentClose(order: OrderRecord): boolean {
  return (
    isKillSwitchClose(order) &&
    order.order.brokerOrderId === null &&
    order.order.status === "pending_new"
  );
}

/** An unsent close recorded so long ago that it no longer counts as covering its position. */
export function isStaleUnsentClose(order: OrderRecord, now: Date): boolean {
  return isUnsentClose(order) && now.getTime() - order.createdAt.getTime() >= UNSENT_CLOSE_COVER_MS;
}

/**
 * How much of a broker position a close takes: all of it, or `percent` of it, rounded down to a
 * whole share when the position is whole shares (as the broker's own percentage close does), else
 * to the nine decimals the broker accepts.
 */
export function closeQuantity(position: BrokerPosition, percent: Decimal | null): Decimal {
  const held = position.qty.abs();
  if (percent === null || percent.gte(HUNDRED)) return held;
  return held
    .times(percent)
    .div(HUNDRED)
    .toDecimalPlaces(held.isInteger() ? 0 : 9, Decimal.ROUND_DOWN);
}

/**
 * Ends a close that is not at the broker, under the lock of its symbol: `canceled` when the desk
 * did not send it, `rejected` when the broker refused it. A close acknowledged meanwhile (a report
 * of it came in) is left as it is: the broker has it. True when it was ended here.
 */
export async function endUnsentClose(
  db: Database,
  close: OrderRecord,
  ending: { readonly event: "canceled" } | { readonly event: "rejected"; readonly reason: string },
  at: Date,
): Promise<boolean> {
  return withRaceRetry(() =>
    db.transaction(async (tx) => {
      await lockName(tx, symbolLockName(close.accountId, close.order.symbol));
      const current = await findOrder(tx, close.id);
      if (current === null || !isUnsentClose(current)) return false;
      const applied = await applyOrderUpdate(
        tx,
        { orderId: close.id },
        { ...ending, at: at.toISOString() },
        { source: "local", recordedAt: at },
      );
      if (!applied.ok) throw new Error(`close ${close.id} not ended: ${applied.message}`);
      return true;
    }),
  );
}
