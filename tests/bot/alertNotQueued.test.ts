/**
 * An alert whose approval made a decision the job queue could not be handed: the decision is
 * withdrawn (failed, QUEUE_UNAVAILABLE) and nothing is sent, so the alert must not stay taken.
 * It goes back to the traders, every copy still approvable, by Approve as by an adjusted plan.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { cancelFeature } from "../../bot/features/cancel";
import { createPlanFeature } from "../../bot/features/plan";
import type { DecisionSubmitter } from "../../bot/features/planPorts";
import { startFeature } from "../../bot/features/start";
import { type Alert, findAlert, recordAlert } from "../../db/alerts";
import { findDecision, listDueDecisions } from "../../db/decisions";
import { decisions } from "../../db/schema";
import { dec } from "../../domain/money";
import type { BotMessage, TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ANN = 6801;
const BOB = 6802;

describe("an alert whose approval the job queue could not take", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-alert-not-queued",
      users: { [ANN]: "trader", [BOB]: "trader" },
      features: [startFeature, cancelFeature, createPlanFeature(), alertsFeature],
      planning: { orderFollowMs: 0 },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function deliver(symbol: string): Promise<Alert> {
    await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: `scan-nq-${symbol}`,
        symbol,
        pattern: "VCP",
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: `scan-nq-${symbol}` },
      },
      desk.deps.now(),
    );
    const delivery = await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert);
    expect(delivery).toEqual({ status: "sent", recipients: 2 });
    return alert;
  }

  async function withQueueDown<T>(run: () => Promise<T>): Promise<T> {
    const submitter = desk.deps.decisions as DecisionSubmitter;
    Object.assign(desk.deps, {
      decisions: {
        async submit() {
          throw new Error("Connection is closed.");
        },
      } satisfies DecisionSubmitter,
    });
    try {
      return await run();
    } finally {
      Object.assign(desk.deps, { decisions: submitter });
    }
  }

  const statusOf = async (alert: Alert) => (await findAlert(desk.database.db, alert.id))?.status;
  const copyOf = (chatId: number, message: BotMessage) =>
    desk.emulator.messagesIn(chatId).find((m) => m.messageId === message.messageId)?.text ?? "";

  async function waitForText(user: TestUser, message: BotMessage, match: RegExp) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = user.messages().find((candidate) => candidate.messageId === message.messageId);
      if (now !== undefined && match.test(now.text)) return now;
      if (Date.now() > deadline) throw new Error(`message never matched ${match}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("gives the alert back after an Approve whose decision was withdrawn; another trader approves it", async () => {
    const alert = await deliver("AAPL");
    const toAnn = await ann.waitForMessage({ match: "AAPL" });
    const toBob = await bob.waitForMessage({ match: "AAPL" });

    const press = await withQueueDown(() => ann.press(toAnn, "Approve"));
    expect(press.showAlert).toBe(true);
    expect(press.text).toMatch(/^The job queue did not answer: decision #\d+ was withdrawn/);
    const [withdrawn] = await desk.database.db.select().from(decisions);
    expect(withdrawn).toMatchObject({ status: "failed", statusReason: "QUEUE_UNAVAILABLE" });
    expect(await statusOf(alert)).toBe("sent");
    // No copy says it was taken.
    await desk.idle();
    expect(copyOf(ANN, toAnn)).not.toMatch(/Approved/);
    expect(copyOf(BOB, toBob)).not.toMatch(/Approved/);

    expect((await bob.press(toBob, "Approve")).text).toBe("Approved.");
    expect(await statusOf(alert)).toBe("approved");
    const due = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === alert.id,
    );
    expect(due).toHaveLength(1);
    await waitForText(ann, toAnn, /<b>Approved<\/b> by Bob/);
  });

  it("gives the alert back after an adjusted plan whose decision was withdrawn", async () => {
    const alert = await deliver("MSFT");
    const toAnn = await ann.waitForMessage({ match: "MSFT" });
    const toBob = await bob.waitForMessage({ match: "MSFT" });
    await ann.press(toAnn, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: MSFT" });

    await withQueueDown(async () => {
      await ann.press(card, "Confirm");
      await waitForText(ann, card, /Not sent/);
      await desk.idle();
    });
    expect(await statusOf(alert)).toBe("sent");
    expect(copyOf(BOB, toBob)).not.toMatch(/Approved/);

    expect((await bob.press(toBob, "Approve")).text).toBe("Approved.");
    expect(await statusOf(alert)).toBe("approved");
  });

  it("withdraws the decision and gives the alert back together: a failed give-back withdraws nothing", async () => {
    const alert = await deliver("NVDA");
    const toAnn = await ann.waitForMessage({ match: "NVDA" });
    const db = desk.database.db;
    // The database fails the alert's give-back (a lost connection, the process stopping) after
    // the decision's withdrawal was written.
    await db.execute(
      sql.raw(
        "create function refuse_reopen() returns trigger as $$ begin if old.status = 'approved' and new.status <> 'approved' then raise exception 'connection lost'; end if; return new; end $$ language plpgsql",
      ),
    );
    await db.execute(
      sql.raw(
        "create trigger refuse_reopen before update on alerts for each row execute function refuse_reopen()",
      ),
    );
    const submitted: number[] = [];
    const submitter = desk.deps.decisions as DecisionSubmitter;
    Object.assign(desk.deps, {
      decisions: {
        async submit(decisionId: number) {
          submitted.push(decisionId);
          throw new Error("Connection is closed.");
        },
      } satisfies DecisionSubmitter,
    });
    try {
      const press = await ann.press(toAnn, "Approve");
      expect(press.showAlert).toBe(true);
    } finally {
      Object.assign(desk.deps, { decisions: submitter });
      await db.execute(sql.raw("drop trigger refuse_reopen on alerts"));
      await db.execute(sql.raw("drop function refuse_reopen()"));
    }
    // Never a withdrawn decision beside an alert still taken by it: both stay as the approval
    // left them, one record of one approval.
    const [decisionId] = submitted;
    const decision = await findDecision(db, decisionId ?? 0);
    expect({ decision: decision?.status, alert: await statusOf(alert) }).toEqual({
      decision: "approved",
      alert: "approved",
    });
  });
});
