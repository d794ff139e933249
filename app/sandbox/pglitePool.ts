/**
 * A node-postgres pool over the embedded database, for BullMQ's Postgres backend in the sandbox.
 *
 * The embedded database is one session. Every statement runs through PGlite's own lock, so
 * statements from different "connections" never interleave mid-statement, and BullMQ's queue
 * operations are single statements (stored functions), so each is atomic as on a server. A
 * connection that opens a transaction (BEGIN, as BullMQ's migrator does) holds PGlite's
 * transaction lock until COMMIT or ROLLBACK, so nothing else runs inside it. LISTEN and UNLISTEN
 * map to PGlite's listeners and arrive as node-postgres `notification` events.
 *
 * Results take node-postgres's shapes: `rows`, `rowCount`, and bigint columns as strings
 * (the instance must be opened with {@link PG_COMPATIBLE_PARSERS}).
 */
import { EventEmitter } from "node:events";
import type { PGlite, Results, Transaction } from "@electric-sql/pglite";
import type { PgNotification, PgPool, PgPoolClient, PgQueryResult } from "bullmq";

/** PostgreSQL type oids whose text form node-postgres leaves as a string (int8, int8[] elements). */
const INT8 = 20;

/** Parsers that make PGlite answer like node-postgres (pass as the `parsers` option). */
export const PG_COMPATIBLE_PARSERS = { [INT8]: (value: string) => value } as const;

const TRANSACTION_START = /^(begin|start\s+transaction)\b/i;
const TRANSACTION_COMMIT = /^(commit|end)\b/i;
const TRANSACTION_ROLLBACK = /^rollback\s*;?\s*$/i;
const LISTEN = /^(un)?listen\s+("?)([\w$]+)\2\s*;?\s*$/i;

/** The statement without leading comments and whitespace, for recognising control statements. */
function statementHead(text: string): string {
  return text.replace(/^(\s*--[^\n]*\n|\s+)*/, "");
}

function toPgResult(result: Results | undefined): PgQueryResult {
  const rows = (result?.rows ?? []) as unknown[];
  return { rows, rowCount: rows.length > 0 ? rows.length : (result?.affectedRows ?? 0) };
}

/** A session that can run statements: the database itself or an open transaction. */
type Session = Pick<PGlite, "query" | "exec"> | Transaction;

async function run(session: Session, text: string, params?: readonly unknown[]) {
  // Like node-postgres: without parameters, the simple protocol (several statements allowed).
  if (!params || params.length === 0) {
    const results = await session.exec(text);
    return toPgResult(results[results.length - 1]);
  }
  return toPgResult(await session.query(text, params as unknown[]));
}

interface OpenTransaction {
  readonly tx: Transaction;
  finish(action: "commit" | "rollback"): Promise<void>;
}

/** Opens a PGlite transaction that stays open until `finish` is called. */
async function openTransaction(db: PGlite): Promise<OpenTransaction> {
  return new Promise<OpenTransaction>((opened, failedToOpen) => {
    let settle: ((action: "commit" | "rollback") => void) | null = null;
    const done = db
      .transaction(
        (tx) =>
          new Promise<void>((resolve, reject) => {
            settle = (action) => {
              if (action === "commit") resolve();
              else tx.rollback().then(resolve, reject);
            };
            opened({
              tx,
              finish: (action) => {
                settle?.(action);
                return done;
              },
            });
          }),
      )
      .then(() => undefined);
    done.catch((error: unknown) => {
      if (!settle) failedToOpen(error);
    });
  });
}

class PgliteClient extends EventEmitter implements PgPoolClient {
  #transaction: OpenTransaction | null = null;
  readonly #listening = new Map<string, () => Promise<void>>();

  constructor(private readonly db: PGlite) {
    super();
  }

  async query<R = unknown>(text: string, params?: readonly unknown[]): Promise<PgQueryResult<R>> {
    const head = statementHead(text);
    const listen = LISTEN.exec(head);
    if (listen?.[3]) {
      await (listen[1] ? this.#unlisten(listen[3]) : this.#listen(listen[3]));
      return { rows: [], rowCount: 0 };
    }
    if (this.#transaction) {
      const open = this.#transaction;
      if (TRANSACTION_COMMIT.test(head) || TRANSACTION_ROLLBACK.test(head)) {
        this.#transaction = null;
        await open.finish(TRANSACTION_COMMIT.test(head) ? "commit" : "rollback");
        return { rows: [], rowCount: 0 };
      }
      return (await run(open.tx, text, params)) as PgQueryResult<R>;
    }
    if (TRANSACTION_START.test(head)) {
      this.#transaction = await openTransaction(this.db);
      return { rows: [], rowCount: 0 };
    }
    return (await run(this.db, text, params)) as PgQueryResult<R>;
  }

  async #listen(channel: string): Promise<void> {
    if (this.#listening.has(channel)) return;
    const unsubscribe = await this.db.listen(channel, (payload) => {
      const notification: PgNotification = { channel, payload };
      this.emit("notification", notification);
    });
    this.#listening.set(channel, unsubscribe);
  }

  async #unlisten(channel: string): Promise<void> {
    const unsubscribe = this.#listening.get(channel);
    this.#listening.delete(channel);
    await unsubscribe?.();
  }

  release(): void {
    // A connection handed back mid-transaction is a bug in the caller; never leave it open.
    const open = this.#transaction;
    this.#transaction = null;
    if (open) open.finish("rollback").catch(() => {});
    for (const channel of [...this.#listening.keys()]) void this.#unlisten(channel).catch(() => {});
  }
}

class PglitePool extends EventEmitter implements PgPool {
  constructor(private readonly db: PGlite) {
    super();
    // Every queue and worker on the store listens for pool errors.
    this.setMaxListeners(0);
  }

  query<R = unknown>(text: string, params?: readonly unknown[]): Promise<PgQueryResult<R>> {
    return run(this.db, text, params) as Promise<PgQueryResult<R>>;
  }

  async connect(): Promise<PgPoolClient> {
    return new PgliteClient(this.db);
  }

  /** The database belongs to whoever opened it; ending the pool leaves it open. */
  async end(): Promise<void> {}
}

/** A node-postgres pool whose connections are sessions on one embedded database. */
export function createPglitePool(db: PGlite): PgPool {
  return new PglitePool(db);
}
