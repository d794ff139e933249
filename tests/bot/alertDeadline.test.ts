/**
 * The alert deadline's calendar read: once an hour while it answers, and once a minute while the
 * broker fails (the periodic pass asks for every undecided alert every 30 seconds).
 */
import type { Logger } from "pino";
import { describe, expect, it } from "vitest";
import { type AlertDeadlineDeps, alertDeadlineOf } from "../../bot/features/alertDeadline";
import type { MarketFacts } from "../../bot/features/planPorts";
import type { Alert } from "../../db/alerts";
import type { Database } from "../../db/database";
import { buildTradingCalendar } from "../../domain/calendar";
import type { AccountSnapshot } from "../../domain/riskChecks";

const RECEIVED = new Date("2026-03-02T20:00:00Z");
const OWN_EXPIRY = new Date("2026-03-03T15:30:00Z");

const alert = {
  id: 1,
  externalId: "deadline-1",
  accountId: 7,
  symbol: "AAPL",
  receivedAt: RECEIVED,
  expiresAt: OWN_EXPIRY,
} as Alert;

const calendar = buildTradingCalendar([
  { date: "2026-03-02", open: "09:30", close: "16:00" },
  { date: "2026-03-03", open: "09:30", close: "16:00" },
]);

function depsWith(answer: () => AccountSnapshot) {
  let reads = 0;
  const market = {
    getAccountSnapshot: async () => {
      reads += 1;
      return answer();
    },
  } as unknown as MarketFacts;
  const quiet = { warn() {}, debug() {}, info() {} } as unknown as Logger;
  const deps: AlertDeadlineDeps = {
    db: {} as Database,
    logger: quiet,
    allowedUsers: new Map(),
    now: () => RECEIVED,
    market,
  };
  return { deps, reads: () => reads };
}

const at = (minutes: number) => new Date(RECEIVED.getTime() + minutes * 60_000);

describe("alertDeadlineOf", () => {
  it("caps the alert at its session's close, reading the calendar once an hour", async () => {
    const { deps, reads } = depsWith(
      () => ({ market: { calendar } }) as unknown as AccountSnapshot,
    );
    expect(await alertDeadlineOf(deps, alert, at(0))).toEqual({
      code: "ALERT_SESSION_ENDED",
      at: new Date("2026-03-02T21:00:00Z").getTime(),
      sessionDate: "2026-03-02",
    });
    await alertDeadlineOf(deps, alert, at(59));
    expect(reads()).toBe(1);
    await alertDeadlineOf(deps, alert, at(61));
    expect(reads()).toBe(2);
  });

  it("goes by the alert's own expiry while the broker fails, asking it again a minute later", async () => {
    const { deps, reads } = depsWith(() => {
      throw new Error("broker: UNAVAILABLE");
    });
    for (const minute of [0, 0.5, 0.9]) {
      expect(await alertDeadlineOf(deps, alert, at(minute))).toEqual({
        code: "ALERT_EXPIRED",
        at: OWN_EXPIRY.getTime(),
      });
    }
    expect(reads()).toBe(1);
    await alertDeadlineOf(deps, alert, at(1.5));
    expect(reads()).toBe(2);
  });

  it("keeps the calendar it holds when a later read fails, so an overnight alert is not expired on a guess", async () => {
    let failing = false;
    const { deps, reads } = depsWith(() => {
      if (failing) throw new Error("broker: UNAVAILABLE");
      return { market: { calendar } } as unknown as AccountSnapshot;
    });
    // Monday 17:30 New York, after the close, no expiry of its own: 30 minutes into Tuesday.
    const overnight = {
      ...alert,
      id: 2,
      receivedAt: new Date("2026-03-02T22:30:00Z"),
      expiresAt: null,
    } as Alert;
    const tuesday = { code: "ALERT_EXPIRED", at: new Date("2026-03-03T15:00:00Z").getTime() };
    expect(await alertDeadlineOf(deps, overnight, at(150))).toEqual(tuesday);
    failing = true;
    // An hour on, past 30 minutes from receipt, the read fails: the calendar held still covers
    // the night.
    expect(await alertDeadlineOf(deps, overnight, at(211))).toEqual(tuesday);
    expect(reads()).toBe(2);
    // Asked again a minute later, not an hour.
    await alertDeadlineOf(deps, overnight, at(211.5));
    expect(reads()).toBe(2);
    await alertDeadlineOf(deps, overnight, at(212.5));
    expect(reads()).toBe(3);
  });
});
