/**
 * Callback data: what a pressed inline button sends back. Telegram allows 1 to 64 bytes and
 * rejects a whole message (BUTTON_DATA_INVALID) if one button carries more, so the data is a short
 * action code followed by ids, `code:field:field`, and every encoding is measured in UTF-8 bytes.
 */
import type { UserRole } from "../../app/config";

export const CALLBACK_DATA_MAX_BYTES = 64;
const SEPARATOR = ":";
const CODE = /^[a-z][a-z0-9]{0,3}$/;
/** Ids, short codes and base-36 numbers; no separator, nothing that grows in UTF-8. */
const FIELD_VALUE = /^[A-Za-z0-9_.-]+$/;

/** What one kind of button does, and who may press it. */
export interface CallbackAction<F extends string = string> {
  /** 1 to 4 lowercase letters or digits, unique in the bot. */
  readonly code: string;
  readonly fields: readonly F[];
  /** Roles that may press a button with this action: checked against whoever presses it. */
  readonly roles: readonly UserRole[];
  /** Matches the callback data of this action, for `composer.callbackQuery(action.pattern, ...)`. */
  readonly pattern: RegExp;
  /** Encodes the values; throws (a bug) if a value is not id-like or the result exceeds 64 bytes. */
  encode(values: Readonly<Record<F, string | number>>): string;
  /** The values of data this action encoded, or null for anything else. */
  decode(data: string): Record<F, string> | null;
}

/** Declares a callback action. Throws (a bug) for a code that is not 1 to 4 lowercase characters. */
export function defineCallbackAction<const F extends string>(spec: {
  readonly code: string;
  readonly fields: readonly F[];
  readonly roles: readonly UserRole[];
}): CallbackAction<F> {
  const { code, fields, roles } = spec;
  if (!CODE.test(code)) throw new Error(`callback action code '${code}' is not 1-4 of [a-z0-9]`);
  if (roles.length === 0) throw new Error(`callback action '${code}' allows no role`);
  const pattern = new RegExp(
    `^${code}${fields.map(() => `${SEPARATOR}[A-Za-z0-9_.-]+`).join("")}$`,
  );
  return {
    code,
    fields,
    roles,
    pattern,
    encode(values) {
      const parts = fields.map((field) => {
        const value = String(values[field]);
        if (!FIELD_VALUE.test(value)) {
          throw new Error(`callback action '${code}': field '${field}' is not id-like: '${value}'`);
        }
        return value;
      });
      return assertCallbackDataFits([code, ...parts].join(SEPARATOR));
    },
    decode(data) {
      if (!pattern.test(data)) return null;
      const values = data.split(SEPARATOR).slice(1);
      const decoded: Partial<Record<F, string>> = {};
      fields.forEach((field, index) => {
        decoded[field] = values[index] ?? "";
      });
      return decoded as Record<F, string>;
    },
  };
}

/** The UTF-8 size Telegram measures. */
export function callbackDataBytes(data: string): number {
  return Buffer.byteLength(data, "utf8");
}

/** Returns the data if it is 1 to 64 UTF-8 bytes; throws otherwise: a button Telegram would refuse is a bug. */
export function assertCallbackDataFits(data: string): string {
  const bytes = callbackDataBytes(data);
  if (bytes < 1 || bytes > CALLBACK_DATA_MAX_BYTES) {
    throw new Error(
      `callback data is ${bytes} bytes; Telegram accepts 1 to ${CALLBACK_DATA_MAX_BYTES}: '${data.slice(0, 80)}'`,
    );
  }
  return data;
}

/** The action code a button's data starts with. */
export function callbackCodeOf(data: string): string {
  const end = data.indexOf(SEPARATOR);
  return end < 0 ? data : data.slice(0, end);
}

/** Throws (a bug) if two actions share a code: a press would reach the wrong handler. */
export function assertDistinctCodes(actions: readonly CallbackAction[]): void {
  const seen = new Set<string>();
  for (const action of actions) {
    if (seen.has(action.code))
      throw new Error(`callback action code '${action.code}' is used twice`);
    seen.add(action.code);
  }
}

/** A moment as base-36 Unix seconds (6 characters until 2038 and beyond): compact for expiries. */
export function encodeSeconds(moment: Date): string {
  return Math.floor(moment.getTime() / 1000).toString(36);
}

/** Reads `encodeSeconds` output; null if it is not base-36 digits. */
export function decodeSeconds(text: string): Date | null {
  if (!/^[0-9a-z]{1,10}$/.test(text)) return null;
  return new Date(Number.parseInt(text, 36) * 1000);
}
