import { describe, expect, it } from "vitest";
import {
  assertCallbackDataFits,
  assertDistinctCodes,
  CALLBACK_DATA_MAX_BYTES,
  callbackCodeOf,
  callbackDataBytes,
  decodeSeconds,
  defineCallbackAction,
  encodeSeconds,
} from "../../../bot/keyboards/callbackData";
import {
  confirmKeyboard,
  defineConfirmation,
  readConfirmation,
} from "../../../bot/keyboards/confirm";

const approve = defineCallbackAction({
  code: "ap",
  fields: ["alertId", "version"],
  roles: ["trader"],
});

describe("callback actions", () => {
  it("encode short codes with ids and decode them back", () => {
    const data = approve.encode({ alertId: "a1b2", version: 3 });
    expect(data).toBe("ap:a1b2:3");
    expect(approve.decode(data)).toEqual({ alertId: "a1b2", version: "3" });
    expect(approve.pattern.test(data)).toBe(true);
    expect(callbackCodeOf(data)).toBe("ap");
  });

  it("decode nothing but their own data", () => {
    expect(approve.decode("ap:a1b2")).toBeNull();
    expect(approve.decode("ap:a1b2:3:4")).toBeNull();
    expect(approve.decode("apx:a1b2:3")).toBeNull();
    expect(approve.decode("rj:a1b2:3")).toBeNull();
    expect(approve.decode("ap::3")).toBeNull();
  });

  it("refuse values that are not id-like, so the separator cannot be smuggled in", () => {
    expect(() => approve.encode({ alertId: "a:b", version: 1 })).toThrow(/not id-like/);
    expect(() => approve.encode({ alertId: "", version: 1 })).toThrow(/not id-like/);
    expect(() => approve.encode({ alertId: "AAPL é", version: 1 })).toThrow(/not id-like/);
  });

  it("throw, as a bug, when the encoding would pass 64 bytes", () => {
    const wide = defineCallbackAction({ code: "w", fields: ["id"], roles: ["admin"] });
    expect(wide.encode({ id: "x".repeat(62) })).toHaveLength(64);
    expect(() => wide.encode({ id: "x".repeat(63) })).toThrow(/65 bytes/);
  });

  it("refuse codes that are long, empty, upper case or hold the separator, and actions nobody may press", () => {
    for (const code of ["", "abcde", "Ap", "a:b", "1a"]) {
      expect(() => defineCallbackAction({ code, fields: [], roles: ["admin"] })).toThrow(/code/);
    }
    expect(() => defineCallbackAction({ code: "ok", fields: [], roles: [] })).toThrow(/no role/);
  });

  it("must not share a code", () => {
    const other = defineCallbackAction({ code: "ap", fields: [], roles: ["admin"] });
    expect(() => assertDistinctCodes([approve, other])).toThrow(/'ap' is used twice/);
    expect(() => assertDistinctCodes([approve])).not.toThrow();
  });
});

describe("assertCallbackDataFits", () => {
  it("measures UTF-8 bytes, not characters", () => {
    const accented = "é".repeat(32);
    expect(accented.length).toBe(32);
    expect(callbackDataBytes(accented)).toBe(64);
    expect(assertCallbackDataFits(accented)).toBe(accented);
    expect(() => assertCallbackDataFits(`${accented}x`)).toThrow(/65 bytes/);
    expect(() => assertCallbackDataFits("📈".repeat(17))).toThrow(/68 bytes/);
  });

  it("accepts 1 to 64 bytes only", () => {
    expect(() => assertCallbackDataFits("")).toThrow(/0 bytes/);
    expect(assertCallbackDataFits("x")).toBe("x");
    expect(assertCallbackDataFits("x".repeat(CALLBACK_DATA_MAX_BYTES))).toHaveLength(64);
  });
});

describe("compact seconds", () => {
  it("round-trip a moment to the second in base 36", () => {
    const moment = new Date("2026-03-02T14:35:07.900Z");
    const text = encodeSeconds(moment);
    expect(text).toMatch(/^[0-9a-z]{6}$/);
    expect(decodeSeconds(text)?.toISOString()).toBe("2026-03-02T14:35:07.000Z");
    expect(decodeSeconds("not-base36")).toBeNull();
  });
});

describe("confirmation buttons", () => {
  const close = defineConfirmation("cl", ["admin", "trader"]);

  it("carry the answer, the subject and the expiry, and read back", () => {
    const expiresAt = new Date("2026-03-02T14:36:00Z");
    const [confirm, cancel] = confirmKeyboard(close, "42", expiresAt).inline_keyboard.flat();
    expect(confirm?.text).toBe("Confirm");
    expect(cancel?.text).toBe("Cancel");
    const confirmData =
      confirm !== undefined && "callback_data" in confirm ? confirm.callback_data : "";
    const cancelData =
      cancel !== undefined && "callback_data" in cancel ? cancel.callback_data : "";
    expect(readConfirmation(close, confirmData)).toEqual({
      answer: "confirm",
      subject: "42",
      expiresAt,
    });
    expect(readConfirmation(close, cancelData)).toEqual({
      answer: "cancel",
      subject: "42",
      expiresAt,
    });
  });

  it("read nothing from another action's data or an unknown answer", () => {
    const halt = defineConfirmation("ht", ["admin"]);
    const [confirm] = confirmKeyboard(halt, "1", new Date(0)).inline_keyboard.flat();
    const data = confirm !== undefined && "callback_data" in confirm ? confirm.callback_data : "";
    expect(readConfirmation(close, data)).toBeNull();
    expect(readConfirmation(close, "cl:q:42:1")).toBeNull();
  });
});
