/**
 * The calendar caches the processes build for themselves warn through their logger when a
 * refresh fails and the calendar held answers: without it the broker's calendar could be down
 * for hours and nobody would know.
 */
import type { Logger } from "pino";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { createSnapshotCaches } from "../../app/accountSnapshot";
import { createDailyLossResumeCheck } from "../../app/resumeCheck";
import type { Database } from "../../db/database";
import type { Broker, TradingDay } from "../../domain/broker";
import type { JobDeps } from "../../jobs/context";
import { createDailyProcessor } from "../../jobs/daily";
import { createExecuteProcessor } from "../../jobs/execute";
import { type CalendarCache, createCalendarCache } from "../../jobs/marketCalendar";
import type { OrderReportHandler } from "../../jobs/orderReports";
import { createValueProcessor } from "../../jobs/value";

vi.mock("../../jobs/marketCalendar", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../jobs/marketCalendar")>();
  return { ...actual, createCalendarCache: vi.fn(actual.createCalendarCache) };
});

const built = vi.mocked(createCalendarCache);

/** The weekdays from `start` to `end` (`YYYY-MM-DD`), 09:30 to 16:00. */
function weekdays(start: string, end: string): TradingDay[] {
  const days: TradingDay[] = [];
  for (let t = Date.parse(`${start}T12:00:00Z`); t <= Date.parse(`${end}T12:00:00Z`); ) {
    const day = new Date(t);
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) {
      days.push({ date: day.toISOString().slice(0, 10), open: "09:30", close: "16:00" });
    }
    t += 24 * 3_600_000;
  }
  return days;
}

function warnings() {
  const seen: string[] = [];
  const warn = ((_fields: Record<string, unknown>, message: string) => {
    seen.push(message);
  }) as Logger["warn"];
  const logger = { warn, info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
  return { seen, logger };
}

/** The cache built last, asked on Monday, then 7 hours later with the broker's calendar down. */
async function refreshFailsOn(cache: CalendarCache): Promise<void> {
  let up = true;
  const broker = {
    async getCalendar(start: string, end: string) {
      return up
        ? { ok: true, value: weekdays(start, end) }
        : { ok: false, code: "SERVER_ERROR", message: "calendar down", retryable: true };
    },
  } as unknown as Broker;
  const monday = new Date("2026-03-02T15:00:00Z");
  await cache.get(1, broker, monday);
  up = false;
  await cache.get(1, broker, new Date(monday.getTime() + 7 * 3_600_000));
}

function lastBuilt(): CalendarCache {
  const result = built.mock.results.at(-1);
  if (result?.type !== "return") throw new Error("no calendar cache built");
  return result.value;
}

const heldCalendar = expect.stringContaining("calendar down");

describe("the calendar cache a process builds", () => {
  beforeEach(() => {
    built.mockClear();
  });

  it("warns through the value job's logger", async () => {
    const { seen, logger } = warnings();
    createValueProcessor({ logger } as unknown as JobDeps);
    await refreshFailsOn(lastBuilt());
    expect(seen).toEqual([heldCalendar]);
  });

  it("warns through the execute job's logger", async () => {
    const { seen, logger } = warnings();
    createExecuteProcessor({ logger } as unknown as JobDeps, {
      handler: {} as OrderReportHandler,
    });
    await refreshFailsOn(lastBuilt());
    expect(seen).toEqual([heldCalendar]);
  });

  it("warns through the daily job's logger", async () => {
    const { seen, logger } = warnings();
    createDailyProcessor({ logger } as unknown as JobDeps);
    await refreshFailsOn(lastBuilt());
    expect(seen).toEqual([heldCalendar]);
  });

  it("warns through the resume check's logger", async () => {
    const { seen, logger } = warnings();
    createDailyLossResumeCheck({ db: {} as Database, now: () => new Date(), logger });
    await refreshFailsOn(lastBuilt());
    expect(seen).toEqual([heldCalendar]);
  });

  it("warns through the logger given to the account snapshot's caches", async () => {
    const { seen, logger } = warnings();
    const caches = createSnapshotCaches({ logger });
    await refreshFailsOn(caches.calendars);
    expect(seen).toEqual([heldCalendar]);
  });
});
