/**
 * Every inline keyboard the bot can send, each built with the longest inputs it can receive.
 * tests/bot/keyboards/registry.test.ts checks every button of every entry against Telegram's
 * limits; add each new keyboard builder here with its worst case.
 */
import type { InlineKeyboard } from "grammy";
import { alertKeyboard } from "./alert";
import { confirmKeyboard, defineConfirmation } from "./confirm";
import { planCardKeyboard } from "./plan";

export interface KeyboardSample {
  readonly name: string;
  build(): InlineKeyboard;
}

/** Ids are UUIDs at most (36 characters); database serials are shorter. */
const LONGEST_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff";
/** The largest alert id the database can hand out (bigint identity). */
const LARGEST_ALERT_ID = Number.MAX_SAFE_INTEGER;
/** Plan card ids are 12 base-36 characters (see bot/features/plan.ts). */
const LONGEST_CARD_ID = "zzzzzzzzzzzz";
/** The latest expiry a confirmation could carry (base-36 seconds grow with time). */
const FAR_FUTURE = new Date("2999-12-31T23:59:59Z");

export const KEYBOARD_SAMPLES: readonly KeyboardSample[] = [
  {
    name: "confirmation with the longest code and id",
    build: () => confirmKeyboard(defineConfirmation("zzzz", ["admin"]), LONGEST_ID, FAR_FUTURE),
  },
  {
    name: "plan card (Confirm / Edit / Cancel)",
    build: () => planCardKeyboard(LONGEST_CARD_ID, FAR_FUTURE, true),
  },
  {
    name: "plan card that cannot be confirmed (Edit / Cancel)",
    build: () => planCardKeyboard(LONGEST_CARD_ID, FAR_FUTURE, false),
  },
  {
    name: "pattern alert (Approve / Reject / Adjust)",
    build: () => alertKeyboard(LARGEST_ALERT_ID),
  },
];
