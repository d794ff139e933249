import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import {
  ensureMigratedTemplate,
  loadMigratedPgliteDump,
  STALE_AFTER_MS,
  testDatabaseName,
  testDatabaseUrl,
  withDatabaseName,
} from "./database";

const HOUR = 60 * 60_000;
const hex = () => randomUUID().replace(/-/g, "").slice(0, 16);
const ago = (now: Date, ms: number) => new Date(now.getTime() - ms);

describe("test databases and templates left over", () => {
  const serverUrl = testDatabaseUrl();
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const made: string[] = [];
  afterAll(async () => {
    for (const name of made) await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });

  async function make(name: string, lastUsed?: Date, options: { template?: boolean } = {}) {
    await admin.unsafe(`create database "${name}"`);
    made.push(name);
    if (options.template)
      await admin.unsafe(`alter database "${name}" with allow_connections false`);
    if (lastUsed) {
      await admin.unsafe(
        `comment on database "${name}" is 'desk test database, last used ${lastUsed.toISOString()}'`,
      );
    }
    return name;
  }

  async function present(names: readonly string[]): Promise<string[]> {
    const rows = await admin<{ datname: string }[]>`
      select datname from pg_database where datname in ${admin(names)}`;
    return rows.map((row) => row.datname).sort();
  }

  async function note(name: string): Promise<string | null> {
    const [row] = await admin<{ note: string | null }[]>`
      select shobj_description(oid, 'pg_database') as note from pg_database where datname = ${name}`;
    return row?.note ?? null;
  }

  it("drops the templates of other migrations and the test databases unused for a day, and keeps what is used", async () => {
    const now = new Date();
    const stale = await make(`test_template_${hex()}`, ago(now, STALE_AFTER_MS + HOUR), {
      template: true,
    });
    const recent = await make(`test_template_${hex()}`, ago(now, HOUR), { template: true });
    // Built by a checkout that does not date its templates: dated now, dropped a day on.
    const undated = await make(`test_template_${hex()}`, undefined, { template: true });
    // A build that died half way, under the lock only a builder holds.
    const halfBuilt = await make(`test_template_${hex()}_building`);
    // Unused for a day by its record, yet a session is open on it: PostgreSQL refuses the drop.
    const open = await make(`test_template_${hex()}`, ago(now, STALE_AFTER_MS + HOUR));
    const leftDatabase = await make(testDatabaseName(ago(now, STALE_AFTER_MS + HOUR)));
    const runningDatabase = await make(testDatabaseName(ago(now, HOUR)));
    const notOurs = await make(`desk_other_${hex()}`, ago(now, 10 * STALE_AFTER_MS));
    const session = postgres(withDatabaseName(serverUrl, open), { max: 1, onnotice: () => {} });
    try {
      await session`select 1`;
      const current = await ensureMigratedTemplate(admin, serverUrl, now);
      expect(
        await present([
          current,
          stale,
          recent,
          undated,
          halfBuilt,
          open,
          leftDatabase,
          runningDatabase,
          notOurs,
        ]),
      ).toEqual([current, recent, undated, open, runningDatabase, notOurs].sort());
      // Dated by this sweep, or by another test process's sweeping beside it a moment later.
      const dated = /^desk test database, last used (.+)$/.exec((await note(undated)) ?? "");
      const datedAt = Date.parse(dated?.[1] ?? "");
      expect(datedAt).toBeGreaterThanOrEqual(now.getTime());
      expect(datedAt).toBeLessThanOrEqual(Date.now());
      expect(await note(current)).toMatch(/^desk test database, last used /);
    } finally {
      await session.end();
    }
  }, 60_000);

  it("records the use of the current template, so a sweep of another checkout keeps it", async () => {
    const current = await ensureMigratedTemplate(admin, serverUrl, new Date());
    const before = ago(new Date(), 2 * HOUR);
    await admin.unsafe(
      `comment on database "${current}" is 'desk test database, last used ${before.toISOString()}'`,
    );
    const now = new Date();
    expect(await ensureMigratedTemplate(admin, serverUrl, now)).toBe(current);
    // Dated now (or a moment later by another test process using it beside this one).
    const dated = /^desk test database, last used (.+)$/.exec((await note(current)) ?? "");
    expect(Date.parse(dated?.[1] ?? "")).toBeGreaterThanOrEqual(now.getTime());
  });
});

describe("PGlite data directories left over", () => {
  it("removes the tarballs of other migrations unused for a day, keeps the rest, and dates its own", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pglite-dumps-"));
    try {
      const now = new Date();
      const old = ago(now, STALE_AFTER_MS + HOUR);
      const files = {
        stale: `desk-test-pglite-0.1.0-${hex()}.tar`,
        halfWritten: `desk-test-pglite-0.1.0-${hex()}.tar.123.${randomUUID()}`,
        recent: `desk-test-pglite-0.1.0-${hex()}.tar`,
        notOurs: `other-${hex()}.tar`,
      };
      for (const [key, name] of Object.entries(files)) {
        await writeFile(join(dir, name), "x");
        const at = key === "recent" ? ago(now, HOUR) : old;
        await utimes(join(dir, name), at, at);
      }
      const dump = await loadMigratedPgliteDump(dir, now);
      expect(dump.size).toBeGreaterThan(0);
      const left = (await readdir(dir)).sort();
      const own = left.find((name) => !Object.values(files).includes(name));
      expect(own).toMatch(/^desk-test-pglite-.+\.tar$/);
      expect(left).toEqual([files.recent, files.notOurs, own].sort());

      // Read an hour later: its time says it is in use.
      const later = new Date(now.getTime() + HOUR);
      await loadMigratedPgliteDump(dir, later);
      expect((await stat(join(dir, own ?? ""))).mtime.getTime()).toBe(later.getTime());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
