import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findAlertByExternalId,
  findAlertDecision,
  listAlertMessages,
  moveAlert,
  recordAlert,
  recordAlertMessage,
  reopenAlert,
} from "../../db/alerts";
import { dec } from "../../domain/money";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, T0 } from "./fixtures";

function alertInput(externalId: string) {
  return {
    externalId,
    symbol: "AAPL",
    pattern: "VCP",
    score: dec("0.82"),
    entryPrice: dec("190.10"),
    stopPrice: dec("184.50"),
    targetPrice: dec("205.00"),
    source: "legend-scanner",
    payload: { id: externalId, symbol: "AAPL", entry: "190.10" },
    expiresAt: at(3600),
  };
}

describe.each(TEST_DRIVERS)("alerts on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("stores an alert once per external id, however often and concurrently it is sent", async () => {
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => recordAlert(t.db, alertInput("scan-AAPL-vcp"), T0)),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.alert.id)).size).toBe(1);
    const stored = await findAlertByExternalId(t.db, "scan-AAPL-vcp");
    expect(stored?.score?.toFixed()).toBe("0.82");
    expect(stored?.payload).toEqual({ id: "scan-AAPL-vcp", symbol: "AAPL", entry: "190.10" });
  });

  it("remembers the Telegram messages it was sent as", async () => {
    const { alert } = await recordAlert(t.db, alertInput("scan-msgs"), T0);
    await recordAlertMessage(t.db, { alertId: alert.id, chatId: 100, messageId: 5 }, at(1));
    await recordAlertMessage(t.db, { alertId: alert.id, chatId: 200, messageId: 9 }, at(1));
    await recordAlertMessage(t.db, { alertId: alert.id, chatId: 100, messageId: 5 }, at(2));
    const messages = await listAlertMessages(t.db, alert.id);
    expect(messages.map((m) => [m.chatId, m.messageId])).toEqual([
      [100, 5],
      [200, 9],
    ]);
  });

  it("moves through its statuses once and expires when nobody decides", async () => {
    const { alert } = await recordAlert(t.db, alertInput("scan-moves"), T0);
    const { alert: stale } = await recordAlert(t.db, alertInput("scan-stale"), T0);
    expect((await moveAlert(t.db, alert.id, ["received"], "sent", "system", at(1)))?.status).toBe(
      "sent",
    );
    const taps = await Promise.all(
      [1, 2, 3].map(() =>
        moveAlert(t.db, alert.id, ["received", "sent"], "approved", "user:7", at(2)),
      ),
    );
    expect(taps.filter((r) => r !== null)).toHaveLength(1);
    // Expired as the periodic pass does: only one nobody decided.
    const expire = (id: number) =>
      moveAlert(t.db, id, ["received", "sent"], "expired", "system:expiry", at(3600));
    expect((await expire(stale.id))?.status).toBe("expired");
    expect(await expire(alert.id)).toBeNull();
  });

  it("keeps who made its latest approval and what it was logged with", async () => {
    const { alert } = await recordAlert(t.db, alertInput("scan-approver"), T0);
    expect(await findAlertDecision(t.db, alert.id, "approved")).toBeNull();
    await moveAlert(t.db, alert.id, ["received"], "approved", "user:1", at(1), {
      deciderName: "Ann",
    });
    await reopenAlert(t.db, alert.id, "QUEUE_UNAVAILABLE", "user:1", at(2));
    await moveAlert(t.db, alert.id, ["received"], "approved", "user:2", at(3), {
      deciderName: "Bob",
    });
    expect(await findAlertDecision(t.db, alert.id, "approved")).toEqual({
      source: "user:2",
      details: { deciderName: "Bob" },
    });
  });
});
