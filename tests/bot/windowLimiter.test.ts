import { describe, expect, it } from "vitest";
import { createWindowLimiter } from "../../bot/windowLimiter";

describe("createWindowLimiter", () => {
  function limiter(perWindow: number, maxKeys = 100) {
    let at = Date.parse("2026-03-02T14:35:00Z");
    const limit = createWindowLimiter({
      windowMs: 60_000,
      perWindow,
      maxKeys,
      now: () => new Date(at),
    });
    return {
      allow: (key: string) => limit.allow(key),
      advance: (ms: number) => {
        at += ms;
      },
    };
  }

  it("allows the given number per key per window, then again in the next window", () => {
    const clock = limiter(2);
    expect([clock.allow("a"), clock.allow("a"), clock.allow("a")]).toEqual([true, true, false]);
    expect(clock.allow("b")).toBe(true);
    clock.advance(59_999);
    expect(clock.allow("a")).toBe(false);
    clock.advance(1);
    expect([clock.allow("a"), clock.allow("a"), clock.allow("a")]).toEqual([true, true, false]);
  });

  it("remembers at most maxKeys keys, forgetting the oldest first", () => {
    const clock = limiter(1, 2);
    expect([clock.allow("a"), clock.allow("b"), clock.allow("c")]).toEqual([true, true, true]);
    // "a" was forgotten to make room for "c"; "b" and "c" are still limited.
    expect([clock.allow("b"), clock.allow("c"), clock.allow("a")]).toEqual([false, false, true]);
  });
});
