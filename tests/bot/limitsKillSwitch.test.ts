/**
 * The kill switches on /limits end to end: Telegram updates through the Bot API emulator, the
 * real bot and a real PostgreSQL database; shown off by default, set and unset by an admin,
 * refused to a trader, bad values explained and nothing saved.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readLog } from "../../db/executionLog";
import { DEFAULT_KILL_SWITCH_SETTINGS, loadKillSwitchSettings } from "../../db/killSwitchSettings";
import type { TestUser } from "../support/telegram";
import { type DeskBot, startDeskBot } from "./deskBot";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ADMIN = 7101;
const TRADER = 7102;

describe("kill switches on /limits", () => {
  let desk: DeskBot;

  beforeAll(async () => {
    desk = await startDeskBot({
      name: "limits-kill-switch",
      users: { [ADMIN]: "admin", [TRADER]: "trader" },
    });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function ask(user: TestUser, text: string): Promise<string> {
    await user.send(text);
    return (await user.waitForMessage()).text;
  }

  const settings = () => loadKillSwitchSettings(desk.database.db, desk.accountId);
  const changes = async () =>
    (await readLog(desk.database.db, { accountId: desk.accountId })).filter(
      (event) => event.event === "KILL_SWITCH_SETTINGS_CHANGED",
    );

  it("shows every kill switch off by default", async () => {
    const shown = await ask(desk.emulator.user({ userId: TRADER }), "/limits");
    expect(shown).toContain("<b>Kill switches</b>");
    expect(shown).toContain(
      "Close everything when the daily-loss switch halts: off <code>flattenOnHalt</code>",
    );
    expect(shown).toContain(
      "Drawdown from the peak that halts: off <code>maxDrawdownPercent</code>",
    );
    expect(shown).toContain("Peak taken over the last: 5 trading days <code>drawdownDays</code>");
    expect(shown).toContain("Stop-outs that pause entries: off <code>lossStreakCount</code>");
    expect(shown).toContain("Counted within: 60 min <code>lossStreakWindowMinutes</code>");
    expect(shown).toContain("Entries paused for: 30 min <code>lossStreakPauseMinutes</code>");
  });

  it("refuses a trader and saves nothing", async () => {
    const trader = desk.emulator.user({ userId: TRADER });
    expect(await ask(trader, "/limits flattenOnHalt on")).toBe(
      "Only an admin changes limits; your role is trader.",
    );
    expect(await ask(trader, "/limits maxDrawdownPercent 8")).toBe(
      "Only an admin changes limits; your role is trader.",
    );
    expect(await settings()).toEqual(DEFAULT_KILL_SWITCH_SETTINGS);
    expect(await changes()).toEqual([]);
  });

  it("explains bad values and saves nothing", async () => {
    const admin = desk.emulator.user({ userId: ADMIN });
    expect(await ask(admin, "/limits flattenOnHalt maybe")).toBe(
      "flattenOnHalt is on or off, not maybe. Type /limits flattenOnHalt on or /limits flattenOnHalt off.",
    );
    expect(await ask(admin, "/limits maxDrawdownPercent lots")).toBe(
      "lots is not a number. Type /limits maxDrawdownPercent 8 (percent below the peak) or off.",
    );
    expect(await ask(admin, "/limits maxDrawdownPercent 150")).toBe(
      "Not changed: maxDrawdownPercent must be above 0% and at most 100% (e.g. 8), or off.",
    );
    expect(await ask(admin, "/limits drawdownDays off")).toBe(
      "drawdownDays cannot be off; turn the breaker off with /limits maxDrawdownPercent off.",
    );
    expect(await ask(admin, "/limits drawdownDays 0")).toBe(
      "Not changed: drawdownDays must be a whole number of trading days from 1 to 250 (e.g. 5).",
    );
    expect(await ask(admin, "/limits lossStreakCount 2.5")).toBe(
      "Not changed: lossStreakCount must be a whole number from 1 to 100 (e.g. 3), or off.",
    );
    expect(await ask(admin, "/limits lossStreakWindowMinutes -5")).toBe(
      "Not changed: lossStreakWindowMinutes must be a whole number of minutes from 1 to 10080 (e.g. 120).",
    );
    expect(await ask(admin, "/limits lossStreakPauseMinutes off")).toBe(
      "lossStreakPauseMinutes cannot be off; turn the breaker off with /limits lossStreakCount off.",
    );
    expect(await settings()).toEqual(DEFAULT_KILL_SWITCH_SETTINGS);
    expect(await changes()).toEqual([]);
  });

  it("lets an admin set and unset each one, saved and logged", async () => {
    const admin = desk.emulator.user({ userId: ADMIN });
    expect(await ask(admin, "/limits flattenonhalt on")).toBe(
      "Changed <code>flattenOnHalt</code>: off → on",
    );
    expect(await ask(admin, "/limits maxDrawdownPercent 8%")).toBe(
      "Changed <code>maxDrawdownPercent</code>: off → 8%",
    );
    expect(await ask(admin, "/limits drawdownDays 10")).toBe(
      "Changed <code>drawdownDays</code>: 5 trading days → 10 trading days",
    );
    expect(await ask(admin, "/limits lossStreakCount 3")).toBe(
      "Changed <code>lossStreakCount</code>: off → 3",
    );
    expect(await ask(admin, "/limits lossStreakWindowMinutes 120")).toBe(
      "Changed <code>lossStreakWindowMinutes</code>: 60 min → 120 min",
    );
    expect(await ask(admin, "/limits lossStreakPauseMinutes 45")).toBe(
      "Changed <code>lossStreakPauseMinutes</code>: 30 min → 45 min",
    );
    const set = await settings();
    expect({ ...set, maxDrawdownPercent: set.maxDrawdownPercent?.toString() }).toEqual({
      flattenOnHalt: true,
      maxDrawdownPercent: "8",
      drawdownDays: 10,
      lossStreakCount: 3,
      lossStreakWindowMinutes: 120,
      lossStreakPauseMinutes: 45,
    });
    const shown = await ask(admin, "/limits");
    expect(shown).toContain(
      "Close everything when the daily-loss switch halts: on <code>flattenOnHalt</code>",
    );
    expect(shown).toContain(
      "Drawdown from the peak that halts: 8% <code>maxDrawdownPercent</code>",
    );
    expect(shown).toContain("Stop-outs that pause entries: 3 <code>lossStreakCount</code>");

    expect(await ask(admin, "/limits flattenOnHalt off")).toBe(
      "Changed <code>flattenOnHalt</code>: on → off",
    );
    expect(await ask(admin, "/limits maxDrawdownPercent off")).toBe(
      "Changed <code>maxDrawdownPercent</code>: 8% → off",
    );
    expect(await ask(admin, "/limits lossStreakCount off")).toBe(
      "Changed <code>lossStreakCount</code>: 3 → off",
    );
    const unset = await settings();
    expect(unset).toMatchObject({
      flattenOnHalt: false,
      maxDrawdownPercent: null,
      lossStreakCount: null,
      drawdownDays: 10,
    });

    const logged = await changes();
    expect(logged).toHaveLength(9);
    expect(logged.every((event) => event.source === `user:${ADMIN}`)).toBe(true);
    expect(logged[1]?.details).toMatchObject({
      before: { maxDrawdownPercent: null },
      after: { maxDrawdownPercent: "8" },
    });
  });
});
