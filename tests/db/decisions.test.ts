import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  claimDecisionForExecution,
  createDecision,
  createDecisionOnce,
  type DecisionDraft,
  decideDecision,
  expireDecisions,
  finishDecisionExecution,
  listDueDecisions,
  recordDecisionMessage,
} from "../../db/decisions";
import { readLog } from "../../db/executionLog";
import { findDecisionMessage } from "../../db/noticeThreads";
import { upsertUser } from "../../db/users";
import { dec } from "../../domain/money";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, T0 } from "./fixtures";

function draft(accountId: number, overrides: Partial<DecisionDraft> = {}): DecisionDraft {
  return {
    accountId,
    source: "manual",
    symbol: "AAPL",
    side: "buy",
    entryType: "limit",
    entryPrice: dec("190.10"),
    stopPrice: dec("184.50"),
    targetPrice: dec("205.00"),
    quantity: dec("100"),
    riskAmount: dec("560"),
    createdBy: "user:7",
    ...overrides,
  };
}

describe.each(TEST_DRIVERS)("decisions on %s", (driver) => {
  let t: TestDatabase;
  let userId: number;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
    userId = (await upsertUser(t.db, { telegramUserId: 7, role: "trader" }, T0)).id;
  });
  afterAll(async () => {
    await t.close();
  });

  it("is decided once: the second answer changes nothing", async () => {
    const accountId = await createAccount(t.db);
    const decision = await createDecision(t.db, draft(accountId), T0);
    expect(decision.status).toBe("pending");
    expect(decision.entryPrice?.toFixed(2)).toBe("190.10");

    const approved = await decideDecision(
      t.db,
      decision.id,
      { approve: true, userId },
      "user:7",
      at(5),
    );
    expect(approved?.status).toBe("approved");
    expect(approved?.decidedByUserId).toBe(userId);
    expect(approved?.decidedAt?.toISOString()).toBe(at(5).toISOString());
    const second = await decideDecision(
      t.db,
      decision.id,
      { approve: false, userId, reason: "changed my mind" },
      "user:7",
      at(6),
    );
    expect(second).toBeNull();
    const events = await readLog(t.db, { decisionId: decision.id });
    expect(events.map((e) => [e.event, e.statusBefore, e.statusAfter])).toEqual([
      ["CREATED", null, "pending"],
      ["STATUS_APPROVED", "pending", "approved"],
    ]);
  });

  it("is claimed for execution by exactly one of many concurrent workers", async () => {
    const accountId = await createAccount(t.db);
    const decision = await createDecision(t.db, draft(accountId, { status: "approved" }), T0);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimDecisionForExecution(t.db, decision.id, `worker:${i}`, at(10)),
      ),
    );
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
    // The claimed row reads back as the query builder reads it: decimals, times, the status.
    const claimed = claims.find((c) => c !== null);
    expect(claimed).toEqual({ ...decision, status: "executing", updatedAt: at(10) });
    expect(await claimDecisionForExecution(t.db, decision.id, "worker:late", at(11))).toBeNull();

    const done = await finishDecisionExecution(
      t.db,
      decision.id,
      { executed: true },
      "worker:0",
      at(12),
    );
    expect(done?.status).toBe("executed");
    expect(done?.executedAt?.toISOString()).toBe(at(12).toISOString());
    const again = await finishDecisionExecution(
      t.db,
      decision.id,
      { executed: false, reason: "late" },
      "worker:1",
      at(13),
    );
    expect(again).toBeNull();
    const log = await readLog(t.db, { decisionId: decision.id });
    expect(log.map((e) => [e.event, e.statusBefore, e.statusAfter, e.source])).toEqual([
      ["CREATED", null, "approved", "user:7"],
      ["STATUS_EXECUTING", "approved", "executing", expect.stringMatching(/^worker:\d$/)],
      ["STATUS_EXECUTED", "executing", "executed", "worker:0"],
    ]);
    expect(log[1]?.accountId).toBe(accountId);
    expect(log[1]?.occurredAt.toISOString()).toBe(at(10).toISOString());
  });

  it("waits for its scheduled time, and expires when nobody acts in time", async () => {
    const accountId = await createAccount(t.db);
    const scheduled = await createDecision(
      t.db,
      draft(accountId, { status: "approved", scheduledFor: at(600), expiresAt: at(3600) }),
      T0,
    );
    const forgotten = await createDecision(t.db, draft(accountId, { expiresAt: at(60) }), T0);

    expect(await claimDecisionForExecution(t.db, scheduled.id, "worker", at(10))).toBeNull();
    const dueEarly = await listDueDecisions(t.db, at(10));
    expect(dueEarly.map((d) => d.id)).not.toContain(scheduled.id);
    const dueLater = await listDueDecisions(t.db, at(600));
    expect(dueLater.map((d) => d.id)).toContain(scheduled.id);

    const expired = await expireDecisions(t.db, at(120));
    expect(expired.map((d) => d.id)).toContain(forgotten.id);
    expect(expired.map((d) => d.id)).not.toContain(scheduled.id);
    expect(
      await decideDecision(t.db, forgotten.id, { approve: true, userId }, "u", at(121)),
    ).toBeNull();

    expect(await claimDecisionForExecution(t.db, scheduled.id, "worker", at(3600))).toBeNull();
    const claimed = await claimDecisionForExecution(t.db, scheduled.id, "worker", at(601));
    expect(claimed?.status).toBe("executing");
    const failed = await finishDecisionExecution(
      t.db,
      scheduled.id,
      { executed: false, reason: "MAX_POSITION_SIZE" },
      "worker",
      at(602),
    );
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toBe("MAX_POSITION_SIZE");
  });

  it("keeps the plan card it was confirmed on: its notices answer that message in that chat", async () => {
    const accountId = await createAccount(t.db);
    const decision = await createDecision(t.db, draft(accountId, { status: "approved" }), T0);
    expect(await findDecisionMessage(t.db, 9001, decision.id)).toBeNull();
    await recordDecisionMessage(t.db, decision.id, { chatId: 9001, messageId: 4242 });
    expect(await findDecisionMessage(t.db, 9001, decision.id)).toBe(4242);
    expect(await findDecisionMessage(t.db, 9002, decision.id)).toBeNull();
    const other = await createDecision(t.db, draft(accountId, { status: "approved" }), T0);
    expect(await findDecisionMessage(t.db, 9001, other.id)).toBeNull();
  });

  it("refuses a limit entry without a price", async () => {
    const accountId = await createAccount(t.db);
    await expect(
      createDecision(t.db, draft(accountId, { entryPrice: null }), T0),
    ).rejects.toThrow();
  });
  it("records one decision per account and idempotency key, also when requests race", async () => {
    const accountId = await createAccount(t.db);
    const keyed = (requestHash: string) => ({
      key: "client-key-0001",
      requestHash,
      submitAnswer: { status: "queued", quantity: "100" },
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        createDecisionOnce(t.db, draft(accountId, { status: "approved" }), keyed("h1"), T0),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const decision = results.find((r) => r.created)?.decision;
    for (const r of results) expect(r.decision).toEqual(decision);
    expect(decision).toMatchObject({
      idempotencyKey: "client-key-0001",
      requestHash: "h1",
      submitAnswer: { status: "queued", quantity: "100" },
    });
    // Taken: another request under the key writes nothing and is answered the holder.
    const later = await createDecisionOnce(t.db, draft(accountId), keyed("h2"), at(5));
    expect(later).toEqual({ created: false, decision });
    const log = await readLog(t.db, { accountId });
    expect(log.filter((e) => e.event === "CREATED" && e.entity === "decision")).toHaveLength(1);
    // The key is the account's own: another account may use it.
    const other = await createAccount(t.db);
    expect((await createDecisionOnce(t.db, draft(other), keyed("h1"), T0)).created).toBe(true);
  });
});
