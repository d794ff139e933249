/**
 * Every inline keyboard the bot can send, each built with the longest inputs it can receive.
 * tests/bot/keyboards/registry.test.ts checks every button of every entry against Telegram's
 * limits; add each new keyboard builder here with its worst case.
 */
import type { InlineKeyboard } from "grammy";
import type { OrderRecord } from "../../db/orders";
import { dec } from "../../domain/money";
import { alertKeyboard } from "./alert";
import { confirmKeyboard, defineConfirmation } from "./confirm";
import { cancelOrdersKeyboard, MAX_CANCEL_BUTTONS } from "./orders";
import { planCardKeyboard } from "./plan";
import { settingsKeyboard } from "./settings";
import {
  CLOSE_CONFIRMATION,
  closeSubject,
  FLATTEN_CONFIRMATION,
  RESUME_CONFIRMATION,
} from "./tradingConfirmations";

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
  {
    name: "/orders cancel buttons with the largest order ids",
    build: () => {
      const keyboard = cancelOrdersKeyboard(
        Array.from({ length: MAX_CANCEL_BUTTONS + 5 }, (_, index) =>
          workingEntry(Number.MAX_SAFE_INTEGER - index),
        ),
      );
      if (keyboard === null) throw new Error("no cancel buttons for working entries");
      return keyboard;
    },
  },
  {
    name: "/close confirmation with the largest position id and a fractional percent",
    build: () =>
      confirmKeyboard(
        CLOSE_CONFIRMATION,
        closeSubject(Number.MAX_SAFE_INTEGER, "99.9999"),
        FAR_FUTURE,
      ),
  },
  {
    name: "/flatten confirmation",
    build: () => confirmKeyboard(FLATTEN_CONFIRMATION, String(Number.MAX_SAFE_INTEGER), FAR_FUTURE),
  },
  {
    name: "/resume confirmation with its request number",
    build: () =>
      confirmKeyboard(RESUME_CONFIRMATION, `${Number.MAX_SAFE_INTEGER}-ffffffff`, FAR_FUTURE),
  },
  {
    name: "/settings with every category in each delivery",
    build: () => settingsKeyboard({ fills: "silent", exits: "off", killSwitch: "off" }),
  },
];

/** A working entry order with the longest symbol, for the cancel buttons' labels. */
function workingEntry(id: number): OrderRecord {
  const zero = dec(0);
  return {
    id,
    accountId: 1,
    tradeId: id,
    parentOrderId: null,
    protectsFillId: null,
    replacesOrderId: null,
    order: {
      clientOrderId: LONGEST_ID,
      brokerOrderId: LONGEST_ID,
      symbol: "ABCDEFGHIJ",
      side: "buy",
      type: "limit",
      timeInForce: "day",
      orderClass: "bracket",
      role: "ENTRY",
      quantity: dec(100),
      filledQuantity: zero,
      filledNotional: zero,
      averageFillPrice: null,
      limitPrice: dec("190.10"),
      stopPrice: null,
      status: "new",
      statusBeforePending: null,
      appliedExecutionIds: [],
      replacedByOrderId: null,
      rejection: null,
      updatedAt: "2026-03-02T14:35:00.000Z",
    },
    exitReason: null,
    extendedHours: false,
    trailPercent: null,
    expectedPrice: null,
    estimatedSlippage: null,
    actualSlippage: null,
    commission: zero,
    submittedAt: null,
    acceptedAt: null,
    filledAt: null,
    canceledAt: null,
    expiredAt: null,
    rejectedAt: null,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}
