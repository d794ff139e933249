import { describe, expect, it } from "vitest";
import { KEYBOARD_SAMPLES } from "../../../bot/keyboards/registry";

describe("every keyboard the bot can send", () => {
  it("is registered", () => {
    expect(KEYBOARD_SAMPLES.length).toBeGreaterThan(0);
  });

  for (const sample of KEYBOARD_SAMPLES) {
    it(`${sample.name}: every button carries 1 to 64 bytes of callback data`, () => {
      const buttons = sample.build().inline_keyboard.flat();
      expect(buttons.length).toBeGreaterThan(0);
      for (const button of buttons) {
        expect(button.text.length).toBeGreaterThan(0);
        if (!("callback_data" in button)) continue;
        const bytes = Buffer.byteLength(button.callback_data, "utf8");
        expect(bytes, button.callback_data).toBeGreaterThanOrEqual(1);
        expect(bytes, button.callback_data).toBeLessThanOrEqual(64);
      }
    });
  }
});
