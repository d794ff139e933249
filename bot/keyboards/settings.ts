/**
 * /settings buttons: one per notice category, showing its delivery; a press sets the next one
 * (on → silent → off → on). The button carries the delivery it sets, so pressing an old message
 * twice sets the same thing twice rather than cycling past it.
 */
import { InlineKeyboard } from "grammy";
import type { NotificationSettings } from "../../db/schema";
import {
  NOTICE_CATEGORIES,
  type NoticeCategory,
  type NoticeDelivery,
} from "../../domain/notifications";
import { defineCallbackAction } from "./callbackData";

export const SETTINGS_ACTION = defineCallbackAction({
  code: "st",
  fields: ["category", "delivery"],
  roles: ["admin", "trader", "viewer"],
});

export const CATEGORY_LABELS: Record<NoticeCategory, string> = {
  submissions: "Orders sent and cancelled",
  fills: "Fills",
  protection: "Stops placed",
  exits: "Exits (stopped out, target hit)",
  rejections: "Rejections",
  killSwitch: "Halts, loss warnings and closes",
  reconciliation: "Reconciliation incidents",
  dailySummary: "Daily summary",
  alerts: "Pattern alerts",
};

const DELIVERY_CODES: Record<NoticeDelivery, string> = { on: "on", silent: "s", off: "off" };
const DELIVERY_MARKS: Record<NoticeDelivery, string> = {
  on: "🔔 on",
  silent: "🔕 silent",
  off: "✖ off",
};

/** The delivery a press moves to. Halts can be silenced, never switched off. */
export function nextDelivery(category: NoticeCategory, current: NoticeDelivery): NoticeDelivery {
  if (current === "on") return "silent";
  if (current === "silent") return category === "killSwitch" ? "on" : "off";
  return "on";
}

/** How a category stands in the settings (missing means on; halts never show off). */
export function deliveryOf(
  settings: NotificationSettings,
  category: NoticeCategory,
): NoticeDelivery {
  const chosen = settings[category] ?? "on";
  return category === "killSwitch" && chosen === "off" ? "silent" : chosen;
}

/** One button per category. */
export function settingsKeyboard(settings: NotificationSettings): InlineKeyboard {
  const keyboard = new InlineKeyboard();
  NOTICE_CATEGORIES.forEach((category, index) => {
    const current = deliveryOf(settings, category);
    keyboard
      .text(
        `${CATEGORY_LABELS[category]}: ${DELIVERY_MARKS[current]}`,
        SETTINGS_ACTION.encode({
          category: index,
          delivery: DELIVERY_CODES[nextDelivery(category, current)],
        }),
      )
      .row();
  });
  return keyboard;
}

/** Reads a settings press; null if it is not one this version wrote. */
export function readSettingsPress(
  data: string,
): { readonly category: NoticeCategory; readonly delivery: NoticeDelivery } | null {
  const values = SETTINGS_ACTION.decode(data);
  if (values === null) return null;
  const category = NOTICE_CATEGORIES[Number(values.category)];
  const delivery = (Object.keys(DELIVERY_CODES) as NoticeDelivery[]).find(
    (candidate) => DELIVERY_CODES[candidate] === values.delivery,
  );
  if (category === undefined || delivery === undefined) return null;
  return { category, delivery };
}
