import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordAlert } from "../../db/alerts";
import { traceOrder } from "../../db/audit";
import {
  claimDecisionForExecution,
  createDecision,
  decideDecision,
  finishDecisionExecution,
} from "../../db/decisions";
import { applyFill, applyOrderUpdate } from "../../db/orderEvents";
import { listOrdersForTrade } from "../../db/orders";
import { findTradeByDecision, listTrades, recordTradeEntry } from "../../db/trades";
import { upsertUser } from "../../db/users";
import { dec } from "../../domain/money";
import { createOrder } from "../../domain/order";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, createAccount, T0 } from "./fixtures";

describe.each(TEST_DRIVERS)("trades on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("executes an alert's decision once and can tell the whole story of its order", async () => {
    const accountId = await createAccount(t.db);
    const user = await upsertUser(t.db, { telegramUserId: 501, role: "trader" }, T0);
    const { alert } = await recordAlert(
      t.db,
      {
        externalId: "scan-2026-03-02-AAPL-vcp",
        accountId,
        symbol: "AAPL",
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("184.50"),
        source: "legend-scanner",
        payload: { id: "scan-2026-03-02-AAPL-vcp" },
      },
      T0,
    );
    const decision = await createDecision(
      t.db,
      {
        accountId,
        source: "alert",
        alertId: alert.id,
        symbol: "AAPL",
        side: "buy",
        entryType: "limit",
        entryPrice: dec("190.10"),
        stopPrice: dec("184.50"),
        targetPrice: dec("201.30"),
        quantity: dec("50"),
        riskAmount: dec("280"),
        createdBy: `alert:${alert.externalId}`,
      },
      at(1),
    );
    await decideDecision(t.db, decision.id, { approve: true, userId: user.id }, "user:501", at(2));

    const entryInput = {
      accountId,
      decisionId: decision.id,
      plan: {
        symbol: "AAPL",
        side: "long" as const,
        plannedEntryPrice: dec("190.10"),
        plannedStopPrice: dec("184.50"),
        plannedTargetPrice: dec("201.30"),
        plannedQuantity: dec("50"),
        plannedRisk: dec("280"),
      },
      entry: {
        order: createOrder(
          {
            clientOrderId: `dec-${decision.id}-entry`,
            symbol: "AAPL",
            side: "buy",
            type: "limit",
            timeInForce: "day",
            orderClass: "simple",
            role: "ENTRY",
            quantity: dec("50"),
            limitPrice: dec("190.10"),
            stopPrice: null,
          },
          at(3).toISOString(),
        ),
        expectedPrice: dec("190.10"),
        estimatedSlippage: dec("0.02"),
      },
    };
    const claims = await Promise.all(
      [1, 2].map((w) => claimDecisionForExecution(t.db, decision.id, `worker:${w}`, at(3))),
    );
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
    const claimedBy = claims[0] ? "worker:1" : "worker:2";
    // A retried execute job records the same trade and entry again: nothing new is written.
    const recorded = await Promise.all(
      [1, 2, 3].map(() => recordTradeEntry(t.db, entryInput, "worker:1", at(3))),
    );
    expect(recorded.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(recorded.map((r) => r.entry.id)).size).toBe(1);
    const entry = recorded[0]?.entry;
    if (!entry) throw new Error("no entry");
    expect((await listOrdersForTrade(t.db, entry.tradeId ?? 0)).map((o) => o.id)).toEqual([
      entry.id,
    ]);

    await applyOrderUpdate(
      t.db,
      { clientOrderId: entry.order.clientOrderId },
      { event: "new", brokerOrderId: "b-aapl", at: at(4).toISOString() },
      { source: "stream", recordedAt: at(4) },
    );
    await finishDecisionExecution(t.db, decision.id, { executed: true }, "worker:1", at(4));
    await applyFill(
      t.db,
      { brokerOrderId: "b-aapl" },
      { executionId: "aapl-1", quantity: dec("50"), price: dec("190.08"), at: at(5), final: true },
      "stream",
      at(5),
    );

    const trace = await traceOrder(t.db, entry.id);
    expect(trace?.decision?.decidedByUserId).toBe(user.id);
    expect(trace?.alert?.externalId).toBe("scan-2026-03-02-AAPL-vcp");
    expect(trace?.order.order.status).toBe("filled");
    expect(trace?.trade?.trade.status).toBe("POSITION");
    expect(trace?.events.map((e) => `${e.entity}:${e.event}:${e.source}`)).toEqual([
      "alert:RECEIVED:alert:legend-scanner",
      "decision:CREATED:alert:scan-2026-03-02-AAPL-vcp",
      "decision:STATUS_APPROVED:user:501",
      `decision:STATUS_EXECUTING:${claimedBy}`,
      "trade:CREATED:worker:1",
      "order:CREATED:worker:1",
      "order:NEW:stream",
      "decision:STATUS_EXECUTED:worker:1",
      "order:FILL:stream",
      "position:OPENED:stream",
      "trade:OPENED:stream",
    ]);
    expect((await findTradeByDecision(t.db, decision.id))?.trade.averageEntryPrice?.toFixed()).toBe(
      "190.08",
    );
    expect((await listTrades(t.db, accountId, { statuses: ["POSITION"] })).length).toBe(1);
  });

  it("journals an adopted position once per entry client order id", async () => {
    const accountId = await createAccount(t.db);
    const adoption = {
      accountId,
      decisionId: null,
      plan: {
        symbol: "COST",
        side: "long" as const,
        plannedEntryPrice: dec("900"),
        plannedStopPrice: dec("855"),
        plannedTargetPrice: null,
        plannedQuantity: dec("3"),
        plannedRisk: dec("135"),
      },
      entry: {
        order: createOrder(
          {
            clientOrderId: `adopt-${accountId}-COST-1`,
            symbol: "COST",
            side: "buy",
            type: "market",
            timeInForce: "day",
            orderClass: "simple",
            role: "ENTRY",
            quantity: dec("3"),
            limitPrice: null,
            stopPrice: null,
          },
          T0.toISOString(),
        ),
      },
    };
    const first = await recordTradeEntry(t.db, adoption, "reconcile", T0);
    const again = await recordTradeEntry(t.db, adoption, "reconcile", at(1));
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.trade.id).toBe(first.trade.id);
    expect(again.entry.id).toBe(first.entry.id);
    expect(await listTrades(t.db, accountId)).toHaveLength(1);
  });
});
