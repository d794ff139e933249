/** Cancel buttons under /orders: one per working entry (stops and targets protect positions and stay). */
import { InlineKeyboard } from "grammy";
import type { OrderRecord } from "../../db/orders";
import { defineCallbackAction } from "./callbackData";

export const CANCEL_ORDER_ACTION = defineCallbackAction({
  code: "oc",
  fields: ["order"],
  roles: ["admin", "trader"],
});

/** Most cancel buttons under one list; further entries are cancelled from a shorter list. */
export const MAX_CANCEL_BUTTONS = 40;

/** Whether an order can be cancelled from /orders: a working entry of a journalled trade. */
export function isCancellableEntry(record: OrderRecord): boolean {
  return (
    (record.order.role === "ENTRY" || record.order.role === "SLICE") && record.tradeId !== null
  );
}

/** One "Cancel #id SYMBOL" button per cancellable entry, or null when there is none. */
export function cancelOrdersKeyboard(orders: readonly OrderRecord[]): InlineKeyboard | null {
  const cancellable = orders.filter(isCancellableEntry).slice(0, MAX_CANCEL_BUTTONS);
  if (cancellable.length === 0) return null;
  const keyboard = new InlineKeyboard();
  for (const record of cancellable) {
    keyboard
      .text(
        `Cancel #${record.id} ${record.order.symbol}`,
        CANCEL_ORDER_ACTION.encode({ order: record.id }),
      )
      .row();
  }
  return keyboard;
}
