import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/database";
import { MIGRATIONS_FOLDER } from "../../db/migrate";
import {
  changeUserSettings,
  loadUserSettings,
  readNotificationSettings,
} from "../../db/userSettings";
import { findUserByTelegramId } from "../../db/users";
import {
  createTestDatabase,
  TEST_DRIVERS,
  type TestDatabase,
  testDatabaseUrl,
  withDatabaseName,
} from "../support/database";

const T0 = new Date("2026-03-02T14:35:00Z");

describe("reading stored notification settings", () => {
  it("reads per-category deliveries and ignores what it does not know", () => {
    expect(
      readNotificationSettings({ fills: "silent", exits: "off", nonsense: "on", alerts: 3 }),
    ).toEqual({ fills: "silent", exits: "off" });
  });

  it("reads the older boolean shape: a false flag switches its categories off", () => {
    expect(
      readNotificationSettings({
        fills: false,
        orderUpdates: false,
        alerts: true,
        dailySummary: true,
      }),
    ).toEqual({ fills: "off", submissions: "off", protection: "off" });
    expect(readNotificationSettings(null)).toEqual({});
  });
});

describe.each(TEST_DRIVERS)("user settings on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("defaults to everything on in New York time for someone without a row", async () => {
    expect(await loadUserSettings(t.db, 404)).toEqual({
      notifications: {},
      displayTimeZone: "America/New_York",
    });
  });

  it("creates the row on first change and keeps each category and the time zone", async () => {
    const owner = { telegramUserId: 501, role: "viewer" as const };
    await changeUserSettings(
      t.db,
      owner,
      { delivery: { category: "fills", delivery: "silent" } },
      T0,
    );
    await changeUserSettings(t.db, owner, { delivery: { category: "exits", delivery: "off" } }, T0);
    const after = await changeUserSettings(t.db, owner, { displayTimeZone: "Europe/Berlin" }, T0);
    expect(after).toEqual({
      notifications: { fills: "silent", exits: "off" },
      displayTimeZone: "Europe/Berlin",
    });
    expect(await loadUserSettings(t.db, 501)).toEqual(after);
    expect((await findUserByTelegramId(t.db, 501))?.role).toBe("viewer");
  });

  it("lands two changes made at once", async () => {
    const owner = { telegramUserId: 502, role: "trader" as const };
    await Promise.all([
      changeUserSettings(t.db, owner, { delivery: { category: "fills", delivery: "off" } }, T0),
      changeUserSettings(t.db, owner, { delivery: { category: "alerts", delivery: "silent" } }, T0),
    ]);
    expect((await loadUserSettings(t.db, 502)).notifications).toEqual({
      fills: "off",
      alerts: "silent",
    });
  });
});

describe("migration 0003 on PostgreSQL", () => {
  it("rewrites rows of the older boolean shape into per-category deliveries", async () => {
    // A database at migration 0002, holding rows as the older code wrote them.
    const folder = await mkdtemp(join(tmpdir(), "migrations-"));
    const name = `test_db_${process.pid}_settings_${Date.now()}`;
    const admin = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${name}"`);
    const url = withDatabaseName(testDatabaseUrl(), name);
    try {
      await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
      const journalPath = join(folder, "meta", "_journal.json");
      const journal = JSON.parse(await readFile(journalPath, "utf8")) as {
        entries: { tag: string }[];
      };
      journal.entries = journal.entries.filter((entry) => entry.tag < "0003");
      await writeFile(journalPath, JSON.stringify(journal));
      const client = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await migrate(drizzle({ client }), { migrationsFolder: folder });
        await client`insert into users (telegram_user_id, role, created_at, updated_at) values (1, 'trader', now(), now())`;
        await client`insert into users (telegram_user_id, role, notification_settings, created_at, updated_at)
          values (2, 'trader', ${JSON.stringify({ fills: false, orderUpdates: false, alerts: true, dailySummary: false })}::jsonb, now(), now())`;
      } finally {
        await client.end();
      }
      const opened = await openDatabase({ url });
      try {
        expect((await loadUserSettings(opened.db, 1)).notifications).toEqual({});
        expect((await findUserByTelegramId(opened.db, 2))?.notificationSettings).toEqual({
          fills: "off",
          submissions: "off",
          protection: "off",
          dailySummary: "off",
        });
      } finally {
        await opened.close();
      }
    } finally {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
