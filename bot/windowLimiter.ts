/**
 * In-memory rate windows for what the bot sends on its own initiative (refusals, admin notices),
 * so a stranger cannot make it flood anyone. One bot process polls Telegram, so memory suffices.
 */

export interface WindowLimiter {
  /** True, and counted, if `key` may act now; false while its window is used up. */
  allow(key: string): boolean;
}

export interface WindowLimiterOptions {
  readonly windowMs: number;
  /** Actions per key per window. */
  readonly perWindow: number;
  /** Keys remembered at most; the oldest are forgotten first, so memory stays bounded. */
  readonly maxKeys: number;
  readonly now: () => Date;
}

/** A fixed-window limiter per key. */
export function createWindowLimiter(options: WindowLimiterOptions): WindowLimiter {
  const { windowMs, perWindow, maxKeys, now } = options;
  const windows = new Map<string, { startedAt: number; count: number }>();
  return {
    allow(key) {
      const at = now().getTime();
      const current = windows.get(key);
      if (current !== undefined && at - current.startedAt < windowMs) {
        if (current.count >= perWindow) return false;
        current.count += 1;
        return true;
      }
      windows.delete(key);
      windows.set(key, { startedAt: at, count: 1 });
      while (windows.size > maxKeys) {
        const oldest = windows.keys().next();
        if (oldest.done === true) break;
        windows.delete(oldest.value);
      }
      return true;
    },
  };
}
