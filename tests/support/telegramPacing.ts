/**
 * Telegram's pacing as the bot installs it (bot/telegramApi.ts, @grammyjs/transformer-throttler),
 * with every interval divided by PACING_SPEEDUP: still one call at a time per chat and in order,
 * the same counts per window, only the windows shorter. End-to-end tests of long forms use it so
 * that a form of twenty steps does not wait twenty seconds on the one-message-a-second rule; that
 * rule itself, with the real intervals, is proven in tests/bot/conversations.test.ts.
 *
 * In a test file (vi.mock is hoisted above the imports, so the bot's client gets it):
 *
 *   vi.mock("@grammyjs/transformer-throttler", async (original) =>
 *     (await import("../support/telegramPacing")).quickerThrottler(await original()),
 *   );
 */
import type * as Throttler from "@grammyjs/transformer-throttler";

export const PACING_SPEEDUP = 20;

type ThrottlerModule = typeof Throttler;
type LimiterOptions = NonNullable<Throttler.APIThrottlerOptions["out"]>;

// The throttler's own defaults (its source, version 1.2.1): Telegram's documented limits.
const DEFAULTS = {
  global: { reservoir: 30, reservoirRefreshAmount: 30, reservoirRefreshInterval: 1_000 },
  group: {
    maxConcurrent: 1,
    minTime: 1_000,
    reservoir: 20,
    reservoirRefreshAmount: 20,
    reservoirRefreshInterval: 60_000,
  },
  out: { maxConcurrent: 1, minTime: 1_000 },
} satisfies Required<Throttler.APIThrottlerOptions>;

function quicker(options: LimiterOptions): LimiterOptions {
  const divide = (ms: number | null | undefined) =>
    ms === undefined || ms === null ? ms : Math.ceil(ms / PACING_SPEEDUP);
  return {
    ...options,
    ...(options.minTime === undefined ? {} : { minTime: divide(options.minTime) }),
    ...(options.reservoirRefreshInterval === undefined
      ? {}
      : { reservoirRefreshInterval: divide(options.reservoirRefreshInterval) }),
  };
}

/** The throttler module with `apiThrottler` pacing PACING_SPEEDUP times faster. */
export function quickerThrottler(original: ThrottlerModule): ThrottlerModule {
  const apiThrottler: ThrottlerModule["apiThrottler"] = (options = {}) =>
    original.apiThrottler({
      global: quicker(options.global ?? DEFAULTS.global),
      group: quicker(options.group ?? DEFAULTS.group),
      out: quicker(options.out ?? DEFAULTS.out),
    });
  return { ...original, apiThrottler };
}
