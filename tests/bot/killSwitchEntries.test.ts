/**
 * Entries refused while the account is halted, on the bot's paths: a /plan card confirmed after
 * the halt, and a pattern alert approved after the halt. The halt comes after the card or the
 * alert was shown. Both re-check the persisted state at the press and refuse there: no decision is
 * written and nothing reaches the broker. (The execute job's own check, the last line of defence,
 * is proven in tests/jobs/killSwitch.test.ts.)
 */

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { createPlanFeature } from "../../bot/features/plan";
import { startFeature } from "../../bot/features/start";
import { recordAlert } from "../../db/alerts";
import { changeTradingState } from "../../db/brokerAccounts";
import { decisions } from "../../db/schema";
import { dec } from "../../domain/money";
import { setTradingStateManually } from "../../domain/tradingState";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const TRADER = 6301;

describe("entries refused on the bot's paths while halted", () => {
  let desk: PlanDesk;
  let trader: TestUser;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-killswitch",
      users: { [TRADER]: "trader" },
      features: [startFeature, createPlanFeature(), alertsFeature],
      planning: { orderFollowMs: 0 },
      workers: true,
    });
    trader = desk.emulator.user({ userId: TRADER, firstName: "Ann" });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    await desk.sim.control("/sim/quotes", { symbol: "AAPL", bid: "189.99", ask: "190.01" });
    const now = desk.deps.now();
    await changeTradingState(
      desk.database.db,
      desk.accountId,
      () => setTradingStateManually("ACTIVE", "test start", now.getTime()),
      "test",
      now,
    );
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function halt(): Promise<void> {
    const now = desk.deps.now();
    await changeTradingState(
      desk.database.db,
      desk.accountId,
      () => setTradingStateManually("HALTED", "/halt by @ann", now.getTime()),
      "user:1",
      now,
    );
  }

  async function answer(text: string) {
    await trader.send(text);
    return trader.waitForMessage({ timeoutMs: 10_000 });
  }

  /** The decision made by the press fails in the execute job and no order reaches the broker. */
  async function countDecisions(): Promise<number> {
    return (await desk.database.db.select().from(decisions).where(eq(decisions.symbol, "AAPL")))
      .length;
  }

  it("refuses a /plan card confirmed after the halt", async () => {
    await answer("/plan AAPL");
    await answer("long");
    await answer("market");
    await answer("185.01");
    await answer("skip");
    await answer("skip");
    const card = await answer("skip");
    expect(card.buttons.flat().map((b) => b.text)).toContain("Confirm");
    const before = await countDecisions();
    await halt();
    await trader.press(card, "Confirm");
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = trader.messages().find((message) => message.messageId === card.messageId);
      if (now?.text.includes("Not sent")) {
        expect(now.text).toContain("Trading is halted");
        break;
      }
      if (Date.now() > deadline) throw new Error(`card never refused: ${now?.text}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await countDecisions()).toBe(before);
    expect(await desk.queues.execute.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });
    const orders = await desk.broker.listOrders({ status: "all", symbols: ["AAPL"] });
    expect(orders.ok && orders.value.length).toBe(0);
  });

  it("refuses an alert approved after the halt", async () => {
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: "scan-halted-AAPL",
        symbol: "AAPL",
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        source: "legend-scanner",
        payload: { id: "scan-halted-AAPL" },
        expiresAt: null,
      },
      desk.deps.now(),
    );
    await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert);
    const shown = await trader.waitForMessage({ match: "Pattern alert" });
    const before = await countDecisions();
    await halt();
    // The approval re-checks the state at the press: refused there, no decision written.
    const pressed = await trader.press(shown, "Approve");
    expect(pressed).toMatchObject({ showAlert: true });
    expect(pressed.text).toContain("TRADING_HALTED");
    expect(await countDecisions()).toBe(before);
    expect(await desk.queues.execute.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });
  });
});
