import { describe, expect, it } from "vitest";
import { nextDelivery, readSettingsPress, settingsKeyboard } from "../../../bot/keyboards/settings";
import { NOTICE_CATEGORIES } from "../../../domain/notifications";

describe("settings buttons", () => {
  it("cycle on, silent, off; halts only between on and silent", () => {
    expect(nextDelivery("fills", "on")).toBe("silent");
    expect(nextDelivery("fills", "silent")).toBe("off");
    expect(nextDelivery("fills", "off")).toBe("on");
    expect(nextDelivery("killSwitch", "silent")).toBe("on");
  });

  it("carry the delivery they set, one per category", () => {
    const buttons = settingsKeyboard({ exits: "off" }).inline_keyboard.flat();
    expect(buttons).toHaveLength(NOTICE_CATEGORIES.length);
    const exits = buttons.find((button) => button.text.startsWith("Exits"));
    expect(exits?.text).toBe("Exits (stopped out, target hit): ✖ off");
    const data = exits && "callback_data" in exits ? exits.callback_data : "";
    expect(readSettingsPress(data)).toEqual({ category: "exits", delivery: "on" });
    expect(readSettingsPress("st:99:on")).toBeNull();
  });
});
