import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  claimDecisionForExecution,
  createDecisionOnce,
  type DecisionDraft,
  listDueDecisions,
} from "../../db/decisions";
import { readLog } from "../../db/executionLog";
import { dec } from "../../domain/money";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, T0 } from "./fixtures";

function draft(accountId: number, overrides: Partial<DecisionDraft> = {}): DecisionDraft {
  return {
    accountId,
    source: "manual",
    symbol: "AAPL",
    side: "buy",
    entryType: "market",
    entryPrice: null,
    stopPrice: dec("185.01"),
    targetPrice: dec("200.01"),
    quantity: dec("26"),
    riskAmount: dec("130"),
    createdBy: "user:7",
    ...overrides,
  };
}

const card = (key: string) => ({ key, requestHash: "card-hash", submitAnswer: {} });

/** A decision rejected at creation holds its key: what a cancelled plan card stores. */
describe.each(TEST_DRIVERS)("a key claimed by a rejected decision on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("keeps a later approval under the key from being stored, and is never executed", async () => {
    const accountId = await createAccount(t.db);
    const rejected = await createDecisionOnce(
      t.db,
      draft(accountId, { status: "rejected", statusReason: "PLAN_CANCELLED" }),
      card("plan/abc"),
      T0,
    );
    expect(rejected.created).toBe(true);
    expect(rejected.decision).toMatchObject({
      status: "rejected",
      statusReason: "PLAN_CANCELLED",
      decidedAt: T0,
      idempotencyKey: "plan/abc",
    });

    const late = await createDecisionOnce(
      t.db,
      draft(accountId, { status: "approved" }),
      card("plan/abc"),
      at(5),
    );
    expect(late).toEqual({ created: false, decision: rejected.decision });
    expect(await listDueDecisions(t.db, at(10))).toEqual([]);
    expect(await claimDecisionForExecution(t.db, rejected.decision.id, "test", at(10))).toBeNull();
    const log = await readLog(t.db, { decisionId: rejected.decision.id });
    expect(log.map((entry) => `${entry.event} ${entry.statusAfter}`)).toEqual(["CREATED rejected"]);
  });

  it("lets exactly one of a racing approval and rejection hold the key", async () => {
    const accountId = await createAccount(t.db);
    const [approved, rejected] = await Promise.all([
      createDecisionOnce(t.db, draft(accountId, { status: "approved" }), card("plan/race"), T0),
      createDecisionOnce(t.db, draft(accountId, { status: "rejected" }), card("plan/race"), T0),
    ]);
    expect([approved.created, rejected.created].filter(Boolean)).toHaveLength(1);
    expect(approved.decision).toEqual(rejected.decision);
  });
});
