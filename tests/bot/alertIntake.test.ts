/**
 * Alerts from the HTTP intake to the trader's buttons: a scanner posts a signed alert to
 * POST /api/alerts, the desk's fan-out sends it to the traders, and they press Approve or Adjust.
 */
import { createHmac } from "node:crypto";
import { sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createHttpServer } from "../../app/http/server";
import { createLogger } from "../../app/logger";
import { createMetrics } from "../../app/metrics";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { cancelFeature } from "../../bot/features/cancel";
import { createPlanFeature } from "../../bot/features/plan";
import { startFeature } from "../../bot/features/start";
import { findAlertByExternalId } from "../../db/alerts";
import { listDueDecisions } from "../../db/decisions";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

// Telegram's pacing kept in shape, its intervals shortened (see tests/support/telegramPacing.ts).
vi.mock("@grammyjs/transformer-throttler", async (original) =>
  (await import("../support/telegramPacing")).quickerThrottler(await original()),
);

const ANN = 6301;
const SECRET = "alert-intake-secret-0123456789";

describe("alerts from the HTTP intake to the bot", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let app: FastifyInstance;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "bot-alert-intake",
      users: { [ANN]: "trader" },
      features: [startFeature, cancelFeature, createPlanFeature(), alertsFeature],
      planning: { orderFollowMs: 0 },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    const notifier = createAlertNotifier(desk.bot.api, desk.deps);
    app = createHttpServer({
      logger: createLogger({ level: "silent" }),
      metrics: createMetrics(),
      health: [],
      alerts: {
        db: desk.database.db,
        now: desk.deps.now,
        signatureClock: () => new Date(),
        secret: SECRET,
        onAlertAccepted: async (alert) => {
          await notifier.onAlertAccepted(alert);
        },
      },
    });
    await app.ready();
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
    for (const symbol of ["AAPL", "MSFT", "NVDA", "AMZN"]) {
      await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
    }
  });

  afterAll(async () => {
    await app?.close();
    await desk?.stop();
  });

  /** Posts a body as a scanner does: the exact bytes signed with the shared secret. */
  async function post(body: string) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac("sha256", SECRET).update(`${timestamp}.${body}`).digest("hex");
    return app.inject({
      method: "POST",
      url: "/api/alerts",
      payload: body,
      headers: {
        "content-type": "application/json",
        "x-timestamp": timestamp,
        "x-signature": `sha256=${signature}`,
      },
    });
  }

  it("takes prices with floating-point noise as the tick the scanner meant, and Approve sends them", async () => {
    // What a scanner computing in binary floating point prints for 190.10, 186.10 and 200.10.
    const body =
      '{"id":"noise-aapl","symbol":"AAPL","pattern":"VCP","score":0.82,' +
      '"entry":190.10000000000002,"stop":186.09999999999997,"target":"200.10000000000002"}';
    const response = await post(body);
    expect(response.statusCode).toBe(202);
    const stored = await findAlertByExternalId(desk.database.db, "noise-aapl");
    expect(stored?.entryPrice?.toFixed()).toBe("190.1");
    expect(stored?.stopPrice?.toFixed()).toBe("186.1");
    expect(stored?.targetPrice?.toFixed()).toBe("200.1");

    const message = await ann.waitForMessage({ match: "AAPL" });
    expect(message.text).toMatch(/Entry \$190\.10 {3}Stop \$186\.10 {3}Target \$200\.10\n/);
    expect((await ann.press(message, "Approve")).text).toBe("Approved.");
    const [decision] = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (candidate) => candidate.alertId === stored?.id,
    );
    expect(decision?.entryPrice?.toFixed()).toBe("190.1");
    expect(decision?.stopPrice.toFixed()).toBe("186.1");
    expect(decision?.targetPrice?.toFixed()).toBe("200.1");
  });

  it("opens Adjust with the tick prices, not the noise", async () => {
    const body =
      '{"id":"noise-msft","symbol":"MSFT","pattern":"VCP","score":0.82,' +
      '"entry":190.10000000000002,"stop":186.09999999999997,"target":200.10000000000002}';
    expect((await post(body)).statusCode).toBe(202);
    const message = await ann.waitForMessage({ match: "MSFT" });
    await ann.press(message, "Adjust");
    const card = await ann.waitForMessage({ match: "Plan: MSFT" });
    expect(card.text).toMatch(/Entry: limit \$190\.10\n/);
    expect(card.text).toMatch(/Stop: \$186\.10 {3}Target: \$200\.10 /);
    expect(card.text).not.toContain("OFF_TICK");
    await ann.send("/cancel");
    // Its reply is in before the next test counts Ann's messages.
    await ann.waitForMessage({ match: "Cancelled" });
  });

  it("refuses a price off the tick grid by more than noise, saying what to send, and sends nothing", async () => {
    const before = ann.messages().length;
    const body =
      '{"id":"subpenny-nvda","symbol":"NVDA","pattern":"VCP","score":0.82,' +
      '"entry":190.105,"stop":"186.10","target":200.10}';
    const response = await post(body);
    expect(response.statusCode).toBe(400);
    const answer = response.json();
    expect(answer.error).toBe("INVALID_PAYLOAD");
    expect(answer.issues).toEqual([
      {
        path: "entry",
        message:
          "must be on the broker's price grid: whole cents at or above $1 (such as 190.10), at most 4 decimals below $1 (such as 0.1234); got 190.105",
      },
    ]);
    expect(await findAlertByExternalId(desk.database.db, "subpenny-nvda")).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ann.messages()).toHaveLength(before);
  });

  it("leaves the alert open when its decision could not be stored, so Approve works again", async () => {
    const body =
      '{"id":"db-fails-amzn","symbol":"AMZN","pattern":"VCP","score":0.82,' +
      '"entry":"190.10","stop":"186.10","target":"200.10"}';
    expect((await post(body)).statusCode).toBe(202);
    const stored = await findAlertByExternalId(desk.database.db, "db-fails-amzn");
    const message = await ann.waitForMessage({ match: "AMZN" });
    const db = desk.database.db;
    // The database refuses the decision's row (a full disk, a lost connection).
    await db.execute(
      sql.raw(
        "create function refuse_decisions() returns trigger as $$ begin raise exception 'no room'; end $$ language plpgsql",
      ),
    );
    await db.execute(
      sql.raw(
        "create trigger refuse_decisions before insert on decisions for each row execute function refuse_decisions()",
      ),
    );
    try {
      const failed = await ann.press(message, "Approve");
      expect(failed.text).toMatch(/^The database did not answer/);
      expect((await findAlertByExternalId(db, "db-fails-amzn"))?.status).toBe("sent");
    } finally {
      await db.execute(sql.raw("drop trigger refuse_decisions on decisions"));
      await db.execute(sql.raw("drop function refuse_decisions()"));
    }
    expect((await ann.press(message, "Approve")).text).toBe("Approved.");
    const decisions = (await listDueDecisions(db, desk.deps.now())).filter(
      (decision) => decision.alertId === stored?.id,
    );
    expect(decisions).toHaveLength(1);
  });
});
