import { and, asc, eq, isNull, lte, or } from "drizzle-orm";
import type { Decimal } from "../domain/money";
import { initialTradingState, type TradingState } from "../domain/tradingState";
import type { Database } from "./database";
import { appendLog } from "./executionLog";
import { type AccountEnvironment, brokerAccounts } from "./schema";

/** A broker account row: credentials stay encrypted, the trading state is in its own fields. */
export type BrokerAccount = typeof brokerAccounts.$inferSelect;

export interface BrokerAccountInput {
  readonly broker?: string;
  readonly environment: AccountEnvironment;
  readonly brokerAccountId: string;
  readonly label?: string | null;
  readonly ownerUserId?: number | null;
  /** Already encrypted with SECRETS_KEY; never plain keys. */
  readonly encryptedCredentials?: string | null;
}

/**
 * Returns the account with this broker, environment and broker account id, creating it (ACTIVE,
 * set automatically) if it does not exist. Safe when two processes start together.
 */
export async function ensureBrokerAccount(
  db: Database,
  input: BrokerAccountInput,
  at: Date,
): Promise<BrokerAccount> {
  const broker = input.broker ?? "alpaca";
  return db.transaction(async (tx) => {
    const initial = initialTradingState(at.getTime());
    const [created] = await tx
      .insert(brokerAccounts)
      .values({
        broker,
        environment: input.environment,
        brokerAccountId: input.brokerAccountId,
        label: input.label ?? null,
        ownerUserId: input.ownerUserId ?? null,
        encryptedCredentials: input.encryptedCredentials ?? null,
        tradingState: initial.mode,
        tradingStateSource: initial.setBy,
        tradingStateReason: initial.reason,
        tradingStateSetBy: "system",
        tradingStateSince: at,
        createdAt: at,
        updatedAt: at,
      })
      .onConflictDoNothing()
      .returning();
    if (created) {
      await appendLog(tx, {
        entity: "account",
        entityId: created.id,
        event: "CREATED",
        statusAfter: created.tradingState,
        details: { broker, environment: input.environment, brokerAccountId: input.brokerAccountId },
        source: "system",
        accountId: created.id,
        occurredAt: at,
      });
      return created;
    }
    const [existing] = await tx
      .select()
      .from(brokerAccounts)
      .where(
        and(
          eq(brokerAccounts.broker, broker),
          eq(brokerAccounts.environment, input.environment),
          eq(brokerAccounts.brokerAccountId, input.brokerAccountId),
        ),
      );
    if (!existing) throw new Error("broker account neither inserted nor found");
    return existing;
  });
}

/** The account with this id, or null. */
export async function findBrokerAccount(db: Database, id: number): Promise<BrokerAccount | null> {
  const [row] = await db.select().from(brokerAccounts).where(eq(brokerAccounts.id, id));
  return row ?? null;
}

/** Every account, oldest first. */
export async function listBrokerAccounts(db: Database): Promise<BrokerAccount[]> {
  return db.select().from(brokerAccounts).orderBy(asc(brokerAccounts.id));
}

/** Stores new (already encrypted) credentials. */
export async function storeEncryptedCredentials(
  db: Database,
  accountId: number,
  encryptedCredentials: string,
  at: Date,
): Promise<void> {
  await db
    .update(brokerAccounts)
    .set({ encryptedCredentials, updatedAt: at })
    .where(eq(brokerAccounts.id, accountId));
}

/** The broker's figures for an account at one moment. */
export interface AccountBalances {
  readonly equity: Decimal;
  readonly lastEquity: Decimal;
  readonly cash: Decimal;
  readonly buyingPower: Decimal;
}

/**
 * Records the account figures the broker gave at `at`, unless figures of a later sync are stored
 * already: a valuation that read the broker earlier and finishes later must not roll the account
 * back (the session open and /resume weigh these figures against the loss limits). Answers
 * whether they were written.
 */
export async function recordAccountSync(
  db: Database,
  accountId: number,
  balances: AccountBalances,
  at: Date,
): Promise<boolean> {
  const written = await db
    .update(brokerAccounts)
    .set({ ...balances, lastSyncedAt: at, updatedAt: at })
    .where(
      and(
        eq(brokerAccounts.id, accountId),
        or(isNull(brokerAccounts.lastSyncedAt), lte(brokerAccounts.lastSyncedAt, at)),
      ),
    )
    .returning({ id: brokerAccounts.id });
  return written.length > 0;
}

/** The trading state stored on an account row, as the domain type. */
export function tradingStateOf(account: BrokerAccount): TradingState {
  const state: TradingState = {
    mode: account.tradingState,
    setBy: account.tradingStateSource,
    reason: account.tradingStateReason,
    since: account.tradingStateSince.getTime(),
  };
  return account.tradingStateRestoresTo
    ? { ...state, restoresTo: account.tradingStateRestoresTo }
    : state;
}

/** An account's trading state; null if there is no such account. */
export async function loadTradingState(
  db: Database,
  accountId: number,
): Promise<TradingState | null> {
  const account = await findBrokerAccount(db, accountId);
  return account ? tradingStateOf(account) : null;
}

export interface TradingStateChange {
  readonly before: TradingState;
  readonly after: TradingState;
  readonly changed: boolean;
}

/**
 * Changes an account's trading state under a row lock: `decide` gets the current state (from the
 * domain: `nextTradingState`, `setTradingStateManually`) and returns the next one. A change is
 * stored with who made it and logged in the same transaction; the same state again is a no-op.
 * Null if there is no such account.
 */
export async function changeTradingState(
  db: Database,
  accountId: number,
  decide: (current: TradingState) => TradingState,
  actor: string,
  at: Date,
): Promise<TradingStateChange | null> {
  return db.transaction(async (tx) => {
    const [account] = await tx
      .select()
      .from(brokerAccounts)
      .where(eq(brokerAccounts.id, accountId))
      .for("update");
    if (!account) return null;
    const before = tradingStateOf(account);
    const after = decide(before);
    const changed =
      after.mode !== before.mode ||
      after.setBy !== before.setBy ||
      after.reason !== before.reason ||
      after.since !== before.since ||
      JSON.stringify(after.restoresTo ?? null) !== JSON.stringify(before.restoresTo ?? null);
    if (!changed) return { before, after: before, changed: false };
    await tx
      .update(brokerAccounts)
      .set({
        tradingState: after.mode,
        tradingStateSource: after.setBy,
        tradingStateReason: after.reason,
        tradingStateSetBy: actor,
        tradingStateSince: new Date(after.since),
        tradingStateRestoresTo: after.restoresTo ?? null,
        updatedAt: at,
      })
      .where(eq(brokerAccounts.id, accountId));
    await appendLog(tx, {
      entity: "account",
      entityId: accountId,
      event: "TRADING_STATE_CHANGED",
      statusBefore: before.mode,
      statusAfter: after.mode,
      details: { setBy: after.setBy, reason: after.reason, restoresTo: after.restoresTo ?? null },
      source: actor,
      accountId,
      occurredAt: at,
    });
    return { before, after, changed: true };
  });
}
