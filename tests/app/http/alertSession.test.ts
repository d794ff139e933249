/**
 * An alert is approvable through the session it was issued for, not on a later session's prices:
 * a scanner's expiry days away no longer keeps it open past its session's close. Through POST
 * /api/alerts and the bot's Approve, against the simulator's calendar.
 */
import { createHmac } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics } from "../../../app/metrics";
import { alertsFeature, createAlertNotifier } from "../../../bot/features/alerts";
import { cancelFeature } from "../../../bot/features/cancel";
import { createPlanFeature } from "../../../bot/features/plan";
import { startFeature } from "../../../bot/features/start";
import { findAlertByExternalId } from "../../../db/alerts";
import { listDueDecisions } from "../../../db/decisions";
import { type PlanDesk, startPlanDesk } from "../../bot/planDesk";
import { MARKET_OPEN_TIME } from "../../support/simulator";
import type { TestUser } from "../../support/telegram";

const ANN = 6401;
const SECRET = "alert-session-secret-0123456789";
const DAY_MS = 24 * 60 * 60_000;

describe("an alert's session", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let app: FastifyInstance;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "alert-session",
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
    await desk.sim.control("/sim/reset", { cash: "100000", time: MARKET_OPEN_TIME });
  });
  afterAll(async () => {
    await app?.close();
    await desk?.stop();
  });

  async function post(alert: Record<string, unknown>) {
    const body = JSON.stringify(alert);
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

  async function quote(symbol: string) {
    await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
  }

  it("refuses Approve on the next session's prices though the scanner's expiry is days away, saying why", async () => {
    await quote("AAPL");
    // Monday 09:35 New York; the scanner lets it run to Wednesday's close.
    const response = await post({
      id: "session-aapl",
      symbol: "AAPL",
      pattern: "VCP",
      score: 0.8,
      entry: "190.10",
      stop: "186.10",
      target: "200.10",
      expires_at: "2026-03-04T21:00:00Z",
    });
    expect(response.statusCode).toBe(202);
    const message = await ann.waitForMessage({ match: "AAPL" });

    // Tuesday 09:35: the market is open again, with Tuesday's prices.
    desk.advanceClock(DAY_MS);
    await desk.sim.control("/sim/clock", { advanceSeconds: DAY_MS / 1000 });
    await quote("AAPL");
    const answer = await ann.press(message, "Approve");
    expect(answer.text).toBe(
      "Too late: this alert was for the session of Mon, Mar 2, which has closed; it is not approved on a later session's prices. /plan AAPL plans the trade anew.",
    );
    const stored = await findAlertByExternalId(desk.database.db, "session-aapl");
    expect(stored?.status).toBe("expired");
    const decisions = (await listDueDecisions(desk.database.db, desk.deps.now())).filter(
      (decision) => decision.alertId === stored?.id,
    );
    expect(decisions).toEqual([]);
  });

  it("keeps an alert approvable through its own session", async () => {
    await quote("MSFT");
    const response = await post({
      id: "session-msft",
      symbol: "MSFT",
      pattern: "VCP",
      score: 0.8,
      entry: "190.10",
      stop: "186.10",
      target: "200.10",
      expires_at: "2026-03-05T21:00:00Z",
    });
    expect(response.statusCode).toBe(202);
    const message = await ann.waitForMessage({ match: "MSFT" });
    desk.advanceClock(60 * 60_000);
    await desk.sim.control("/sim/clock", { advanceSeconds: 3600 });
    await quote("MSFT");
    expect((await ann.press(message, "Approve")).text).toBe("Approved.");
  });
});
