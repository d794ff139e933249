import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compileStatement,
  openDatabase,
  queryRows,
  runCompiled,
  runCompiledText,
} from "../../db/database";
import { MIGRATIONS_FOLDER } from "../../db/migrate";
import { brokerAccounts, executionLog, users } from "../../db/schema";
import { dec } from "../../domain/money";
import {
  createTestDatabase,
  TEST_DRIVERS,
  type TestDatabase,
  testDatabaseUrl,
  withDatabaseName,
} from "../support/database";

const NOW = new Date("2026-03-02T14:35:00Z");

describe.each(TEST_DRIVERS)("database on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("reports its driver", () => {
    expect(t.driver).toBe(driver);
  });

  it("runs a compiled statement with text values inlined exactly as it runs it with parameters", async () => {
    const values = [
      `it's`,
      "back\\slash \\' and \\\\'' quotes",
      '{"a":"\\"quoted\\" \\\\ \\u00e9","b":[1.000000000000000000001,-2e-30]}',
      "$1 $$ $j$ E'x' -- /* */ ;",
      "line\nbreak\ttab \u00e9 \u{1f4c8}",
      "",
    ];
    const statement = compileStatement(
      sql`select ${sql.placeholder("a")}::text as a, ${sql.placeholder("b")}::text as b, ${sql.placeholder("none")}::text as none`,
    );
    for (const [i, value] of values.entries()) {
      const other = values[(i + 1) % values.length] ?? "";
      const parameterized = await runCompiled(t.db, statement, { a: value, b: other, none: null });
      const inlined = await runCompiledText(t.db, statement, { a: value, b: other, none: null });
      expect(inlined).toEqual([{ a: value, b: other, none: null }]);
      expect(inlined).toEqual(parameterized);
    }
    await expect(
      runCompiledText(t.db, compileStatement(sql`select ${sql.placeholder("a")} || 'x'`), {
        a: "y",
      }),
    ).rejects.toThrow(/quoted/);
  });

  it("stores numerics exactly and reads them back as decimals", async () => {
    const [account] = await t.db
      .insert(brokerAccounts)
      .values({
        brokerAccountId: `acct-${driver}-numeric`,
        equity: dec("123456789012345678.123456789012"),
        cash: dec("0.1").plus(dec("0.2")),
        tradingStateSince: NOW,
        createdAt: NOW,
        updatedAt: NOW,
      })
      .returning();
    expect(account?.equity?.toFixed()).toBe("123456789012345678.123456789012");
    expect(account?.cash?.toFixed()).toBe("0.3");
    const [reread] = await t.db.select().from(brokerAccounts).limit(1);
    expect(reread?.cash?.eq("0.3")).toBe(true);
    expect(reread?.createdAt.toISOString()).toBe(NOW.toISOString());
  });

  it("migrates an empty database once, also from processes starting together, and again as a no-op", async () => {
    if (t.url === undefined) return; // PGlite: covered by the on-disk test below
    // The test databases are copied from a migrated template, so this one starts empty.
    const serverUrl = testDatabaseUrl();
    const name = `test_db_${process.pid}_migrate_${Date.now()}`;
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create database "${name}"`);
      const url = withDatabaseName(serverUrl, name);
      const opened = await Promise.all(
        [1, 2, 3].map(() => openDatabase({ url, maxConnections: 1 })),
      );
      await Promise.all(opened.map((o) => o.close()));
      const again = await openDatabase({ url, maxConnections: 1 });
      try {
        const rows = await queryRows<{ n: number }>(
          again.db,
          sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
        );
        expect(rows[0]?.n).toBe(await migrationCount());
        // The desk's tables are there, with their guards.
        await again.db.insert(executionLog).values({
          entity: "order",
          entityId: "1",
          event: "CREATED",
          source: "test",
          occurredAt: NOW,
        });
        expect(await refusal(again.db.delete(executionLog))).toMatch(/append-only/);
      } finally {
        await again.close();
      }
    } finally {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    }
  });

  it("empties every table for the next test, the execution log included", async () => {
    await t.db.insert(users).values({
      telegramUserId: 4242,
      role: "viewer",
      createdAt: NOW,
      updatedAt: NOW,
    });
    await t.db.insert(executionLog).values({
      entity: "order",
      entityId: "9",
      event: "CREATED",
      source: "test",
      occurredAt: NOW,
    });
    await t.truncate();
    expect(await t.db.select().from(users)).toEqual([]);
    expect(await t.db.select().from(executionLog)).toEqual([]);
    // The append-only guard is back on afterwards.
    await t.db.insert(executionLog).values({
      entity: "order",
      entityId: "10",
      event: "CREATED",
      source: "test",
      occurredAt: NOW,
    });
    expect(await refusal(t.db.delete(executionLog))).toMatch(/append-only/);
  });

  it("refuses updates, deletes and truncation of the execution log", async () => {
    await t.truncate();
    await t.db.insert(executionLog).values({
      entity: "order",
      entityId: "1",
      event: "CREATED",
      source: "test",
      occurredAt: NOW,
    });
    expect(await refusal(t.db.update(executionLog).set({ event: "EDITED" }))).toMatch(
      /append-only/,
    );
    expect(await refusal(t.db.delete(executionLog))).toMatch(/append-only/);
    expect(await refusal(t.db.execute(sql`truncate execution_log`))).toMatch(/append-only/);
    const rows = await t.db.select().from(executionLog);
    expect(rows.map((r) => r.event)).toEqual(["CREATED"]);
  });
});

/** How many migrations drizzle-kit generated (its journal lists them). */
async function migrationCount(): Promise<number> {
  const journal = JSON.parse(
    await readFile(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8"),
  ) as { entries: unknown[] };
  return journal.entries.length;
}

/** The error's message with its causes (drizzle wraps driver errors). */
function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.join(" <- ");
}

async function refusal(promise: PromiseLike<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return errorText(error);
  }
  return "no error";
}

describe("embedded database on disk", () => {
  it("keeps its data and migrates as a no-op when reopened", async () => {
    const dir = await mkdtemp(join(tmpdir(), "desk-db-"));
    try {
      const first = await openDatabase({ dataDir: dir });
      await first.db.insert(users).values({
        telegramUserId: 42,
        role: "trader",
        createdAt: NOW,
        updatedAt: NOW,
      });
      await first.close();
      const second = await openDatabase({ dataDir: dir });
      const rows = await second.db.select().from(users);
      const migrations = await queryRows<{ n: number }>(
        second.db,
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      await second.close();
      expect(rows.map((r) => r.telegramUserId)).toEqual([42]);
      expect(migrations[0]?.n).toBe(await migrationCount());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
