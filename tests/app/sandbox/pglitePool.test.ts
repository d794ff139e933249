/**
 * The node-postgres pool over one embedded database: what BullMQ's Postgres backend relies on.
 * The embedded database is a single session, so these prove that "connections" never see into
 * each other's transactions, that errors and rollbacks leave it usable, and that LISTEN/NOTIFY
 * arrive as node-postgres notifications.
 */
import { PGlite } from "@electric-sql/pglite";
import type { PgNotification } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPglitePool, PG_COMPATIBLE_PARSERS } from "../../../app/sandbox/pglitePool";

let db: PGlite;

beforeAll(async () => {
  db = new PGlite({ parsers: PG_COMPATIBLE_PARSERS });
  await db.exec("create table item (id int primary key, big bigint)");
});
afterAll(async () => {
  await db?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("pglite pool", () => {
  it("answers like node-postgres: rows, rowCount, bigint as a string, several statements", async () => {
    const pool = createPglitePool(db);
    await pool.query("delete from item");
    const inserted = await pool.query("insert into item values ($1, $2), ($3, $4)", [
      1,
      "9007199254740993",
      2,
      "5",
    ]);
    expect(inserted.rowCount).toBe(2);
    const rows = await pool.query<{ id: number; big: string }>(
      "select id, big from item order by id",
      [],
    );
    expect(rows.rows).toEqual([
      { id: 1, big: "9007199254740993" },
      { id: 2, big: "5" },
    ]);
    const last = await pool.query<{ n: number }>("select 1 as n; select 2 as n");
    expect(last.rows).toEqual([{ n: 2 }]);
  });

  it("runs another connection's statement only after a transaction ends, never inside it", async () => {
    const pool = createPglitePool(db);
    await pool.query("delete from item");
    const a = await pool.connect();
    await a.query("BEGIN");
    await a.query("insert into item values ($1, $2)", [10, "1"]);
    let counted: number | null = null;
    const other = pool.query<{ n: string }>("select count(*) as n from item", []).then((r) => {
      counted = Number(r.rows[0]?.n);
    });
    await sleep(50);
    // Still waiting: had it run now it would have seen the uncommitted row.
    expect(counted).toBeNull();
    await a.query("ROLLBACK");
    await other;
    expect(counted).toBe(0);

    await a.query("BEGIN");
    await a.query("insert into item values ($1, $2)", [11, "1"]);
    const b = await pool.connect();
    const fromB = b.query<{ n: string }>("select count(*) as n from item", []);
    await a.query("COMMIT");
    expect(Number((await fromB).rows[0]?.n)).toBe(1);
    a.release();
    b.release();
  });

  it("keeps working after a failed statement inside a transaction is rolled back", async () => {
    const pool = createPglitePool(db);
    const client = await pool.connect();
    await client.query("BEGIN");
    await expect(client.query("insert into item values ($1, $2)", [11, "dup"])).rejects.toThrow();
    await expect(client.query("select 1", [])).rejects.toThrow(/aborted/);
    await client.query("ROLLBACK");
    client.release();
    expect((await pool.query("select 1 as one", [])).rows).toEqual([{ one: 1 }]);
  });

  it("rolls back a transaction whose connection is handed back open", async () => {
    const pool = createPglitePool(db);
    await pool.query("delete from item");
    const client = await pool.connect();
    await client.query("BEGIN");
    await client.query("insert into item values ($1, $2)", [20, "1"]);
    client.release();
    const rows = await pool.query<{ n: string }>("select count(*) as n from item", []);
    expect(Number(rows.rows[0]?.n)).toBe(0);
  });

  it("delivers NOTIFY to a connection that LISTENs, until it UNLISTENs", async () => {
    const pool = createPglitePool(db);
    const listener = await pool.connect();
    const received: PgNotification[] = [];
    listener.on("notification", (n) => received.push(n));
    await listener.query("-- jobs channel\nLISTEN jobs_channel;");
    await pool.query("select pg_notify($1, $2)", ["jobs_channel", "q1"]);
    await pool.query("select pg_notify($1, $2)", ["other_channel", "q2"]);
    await sleep(20);
    expect(received).toEqual([{ channel: "jobs_channel", payload: "q1" }]);
    await listener.query("UNLISTEN jobs_channel");
    await pool.query("select pg_notify($1, $2)", ["jobs_channel", "q3"]);
    await sleep(20);
    expect(received).toHaveLength(1);
    listener.release();
  });
});
