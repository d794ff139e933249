/**
 * Alert intake in two bot processes on one PostgreSQL database (two HTTP servers, each with its
 * own connection pool, as two processes have): a resend that reaches the other process while the
 * first fan-out runs must not fan the alert out a second time.
 */
import { createHmac } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics } from "../../../app/metrics";
import { type Alert, findAlertByExternalId, moveAlert } from "../../../db/alerts";
import { type OpenDatabase, openDatabase } from "../../../db/database";
import { createTestDatabase, type TestDatabase } from "../../support/database";

const SECRET = "alert-secret-0123456789abcdef";
const NOW = new Date("2026-03-02T15:00:00Z");
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const ALERT = {
  id: "scan-2026-03-02-MSFT-flag",
  symbol: "MSFT",
  pattern: "FLAG",
  score: 0.7,
  entry: "410.00",
  stop: "400.00",
  target: "430.00",
};

describe("POST /api/alerts in two processes", () => {
  let database: TestDatabase;
  let second: OpenDatabase;
  const apps: FastifyInstance[] = [];
  /** Fan-outs started, by process. */
  const fanOuts: string[] = [];
  let release = () => {};
  let gate: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    second = await openDatabase({ url: database.url, maxConnections: 5 });
    for (const [name, db] of [
      ["a", database.db],
      ["b", second.db],
    ] as const) {
      const app = createHttpServer({
        logger: createLogger({ level: "silent" }),
        metrics: createMetrics(),
        health: [],
        alerts: {
          db,
          now: () => NOW,
          secret: SECRET,
          // As the bot's fan-out does: traders priced and sent copies, then the alert marked sent.
          onAlertAccepted: async (alert: Alert) => {
            fanOuts.push(name);
            await gate;
            await moveAlert(db, alert.id, ["received"], "sent", "system:alerts", NOW);
          },
        },
      });
      await app.ready();
      apps.push(app);
    }
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await second?.close();
    await database?.close();
  });

  const postTo = (app: FastifyInstance) => {
    const body = JSON.stringify(ALERT);
    const signature = createHmac("sha256", SECRET).update(`${NOW_SECONDS}.${body}`).digest("hex");
    return app.inject({
      method: "POST",
      url: "/api/alerts",
      payload: body,
      headers: {
        "content-type": "application/json",
        "x-timestamp": String(NOW_SECONDS),
        "x-signature": `sha256=${signature}`,
      },
    });
  };

  it("fans an alert out once when its resend reaches the other process while the first fan-out runs", async () => {
    const [a, b] = apps as [FastifyInstance, FastifyInstance];
    gate = new Promise((resolve) => {
      release = resolve;
    });
    const first = postTo(a);
    while (fanOuts.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The scanner timed out waiting and sends it again; the balancer picks the other process.
    const again = postTo(b);
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    expect((await first).statusCode).toBe(202);
    const resent = await again;
    expect(resent.statusCode).toBe(202);
    expect(fanOuts).toEqual(["a"]);
    expect(resent.json()).toMatchObject({ status: "duplicate", alertId: ALERT.id });
    expect(fanOuts).toEqual(["a"]);
    expect((await findAlertByExternalId(database.db, ALERT.id))?.status).toBe("sent");
    // Delivered: a further resend to either process is only a duplicate.
    expect((await postTo(b)).json()).toMatchObject({ status: "duplicate" });
    expect(fanOuts).toEqual(["a"]);
  });
});
