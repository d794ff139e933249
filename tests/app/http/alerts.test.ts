import { createHmac } from "node:crypto";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ALERT_BODY_LIMIT_BYTES } from "../../../app/http/alerts";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics } from "../../../app/metrics";
import { type Alert, findAlertByExternalId, moveAlert } from "../../../db/alerts";
import { readLog } from "../../../db/executionLog";
import { alerts } from "../../../db/schema";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../../support/database";

const SECRET = "alert-secret-0123456789abcdef";
const NOW = new Date("2026-03-02T15:00:00Z");
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

const ALERT = {
  id: "scan-2026-03-02-AAPL-vcp",
  symbol: "AAPL",
  pattern: "VCP",
  score: 0.82,
  entry: "190.10",
  stop: "184.50",
  target: "205.00",
  price: "189.70",
  source: "legend-scanner",
  expires_at: "2026-03-02T20:00:00Z",
};

function sign(body: string, timestamp: number | string, secret = SECRET): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

describe.each(TEST_DRIVERS)("POST /api/alerts (%s)", (driver) => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let now = NOW;
  const accepted: Alert[] = [];
  let fanOutFailures = 0;
  /** While set, the fan-out waits for it: traders being priced and sent their copies. */
  let fanOutGate: Promise<void> | null = null;
  const logLines: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        logLines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    app = createHttpServer({
      logger: createLogger({ level: "info", destination }),
      metrics: createMetrics(),
      health: [],
      alerts: {
        db: database.db,
        now: () => now,
        secret: SECRET,
        // As the bot's fan-out does: the alert is marked sent once the traders have it.
        onAlertAccepted: async (alert) => {
          if (fanOutFailures > 0) {
            fanOutFailures -= 1;
            throw new Error("Telegram did not answer");
          }
          accepted.push(alert);
          await fanOutGate;
          await moveAlert(database.db, alert.id, ["received"], "sent", "system:alerts", now);
        },
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await database?.close();
  });
  beforeEach(async () => {
    await database.truncate();
    accepted.length = 0;
    fanOutFailures = 0;
    fanOutGate = null;
    now = NOW;
  });

  const post = (
    body: string,
    headers: Record<string, string> = {
      "x-timestamp": String(NOW_SECONDS),
      "x-signature": sign(body, NOW_SECONDS),
    },
  ) =>
    app.inject({
      method: "POST",
      url: "/api/alerts",
      payload: body,
      headers: { "content-type": "application/json", ...headers },
    });
  const signed = (value: unknown) => post(JSON.stringify(value));

  it("accepts a correctly signed alert with 202, stores it once and hands it to the fan-out", async () => {
    const response = await signed(ALERT);
    expect(response.statusCode).toBe(202);
    const body = response.json();
    // The status after the fan-out: sent to the traders.
    expect(body).toMatchObject({ status: "accepted", alertId: ALERT.id, alertStatus: "sent" });
    const stored = await findAlertByExternalId(database.db, ALERT.id);
    expect(stored?.symbol).toBe("AAPL");
    expect(stored?.entryPrice?.toString()).toBe("190.1");
    expect(stored?.stopPrice?.toString()).toBe("184.5");
    expect(stored?.expiresAt?.toISOString()).toBe("2026-03-02T20:00:00.000Z");
    expect(stored?.payload).toEqual(ALERT);
    expect(body.id).toBe(stored?.id);
    expect(accepted.map((a) => a.externalId)).toEqual([ALERT.id]);
    const log = await readLog(database.db, { entity: { type: "alert", id: body.id } });
    // Received here, sent by the fan-out.
    expect(log.map((e) => e.event)).toEqual(["RECEIVED", "STATUS_SENT"]);
  });

  it("accepts the minimal alert, decimals as numbers, whatever the content type", async () => {
    const minimal = {
      id: "m-1",
      symbol: "msft",
      pattern: "CUP",
      score: 1,
      entry: 410.5,
      stop: 401,
    };
    const body = JSON.stringify(minimal);
    const response = await app.inject({
      method: "POST",
      url: "/api/alerts",
      payload: body,
      headers: {
        "content-type": "text/plain",
        "x-timestamp": String(NOW_SECONDS),
        "x-signature": sign(body, NOW_SECONDS),
      },
    });
    expect(response.statusCode).toBe(202);
    const stored = await findAlertByExternalId(database.db, "m-1");
    expect(stored?.symbol).toBe("MSFT");
    expect(stored?.entryPrice?.toString()).toBe("410.5");
    expect(stored?.targetPrice).toBeNull();
  });

  it("accepts a short: the stop above the entry, the target below", async () => {
    const response = await signed({ ...ALERT, id: "short-1", stop: "195.00", target: "180.00" });
    expect(response.statusCode).toBe(202);
  });

  it("takes null for an optional field as the field left out", async () => {
    const response = await signed({
      ...ALERT,
      id: "nulls-1",
      target: null,
      price: null,
      source: null,
      expires_at: null,
    });
    expect(response.statusCode).toBe(202);
    const stored = await findAlertByExternalId(database.db, "nulls-1");
    expect(stored).toMatchObject({
      targetPrice: null,
      lastPrice: null,
      source: null,
      expiresAt: null,
    });
    // A required field is still required.
    const noEntry = await signed({ ...ALERT, id: "nulls-2", entry: null });
    expect(noEntry.statusCode).toBe(400);
  });

  it("keeps a score the sender's JSON writes with an exponent", async () => {
    const response = await post(
      '{"id":"tiny-score","symbol":"AAPL","pattern":"VCP","score":1e-7,"entry":"190.10","stop":"184.50"}',
    );
    expect(response.statusCode).toBe(202);
    const stored = await findAlertByExternalId(database.db, "tiny-score");
    expect(stored?.score?.toFixed()).toBe("0.0000001");
  });

  it("refuses an alert that expired before it arrived, naming expires_at, and stores nothing", async () => {
    const late = await signed({ ...ALERT, id: "late-1", expires_at: "2026-03-02T14:59:59Z" });
    expect(late.statusCode).toBe(400);
    expect(late.json()).toMatchObject({
      error: "INVALID_PAYLOAD",
      issues: [
        {
          path: "expires_at",
          message:
            "is already past: 2026-03-02T14:59:59.000Z, the desk's time is 2026-03-02T15:00:00.000Z; no trader was sent the alert",
        },
      ],
    });
    expect(await findAlertByExternalId(database.db, "late-1")).toBeNull();
    expect(accepted).toEqual([]);

    // An alert stored in time and sent again after its expiry is the same alert: a duplicate.
    expect((await signed(ALERT)).statusCode).toBe(202);
    now = new Date("2026-03-02T20:00:30Z");
    const timestamp = Math.floor(now.getTime() / 1000);
    const body = JSON.stringify(ALERT);
    const again = await post(body, {
      "x-timestamp": String(timestamp),
      "x-signature": sign(body, timestamp),
    });
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ status: "duplicate", alertId: ALERT.id });
  });

  it("accepts a score sent as a decimal string, as every decimal of an alert may be", async () => {
    const response = await signed({ ...ALERT, id: "score-text", score: "0.82" });
    expect(response.statusCode).toBe(202);
    const stored = await findAlertByExternalId(database.db, "score-text");
    expect(stored?.score?.toFixed()).toBe("0.82");
  });

  it("answers the same alert again as a duplicate, without a second fan-out", async () => {
    const first = await signed(ALERT);
    // Key order differs: the same JSON value is the same alert.
    const { id, ...rest } = ALERT;
    const again = await signed({ ...rest, id });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({
      status: "duplicate",
      alertId: ALERT.id,
      id: first.json().id,
      alertStatus: "sent",
    });
    expect(accepted).toHaveLength(1);
  });

  it("answers 503 while the traders could not be sent the alert, and a resend delivers it once", async () => {
    fanOutFailures = 1;
    const first = await signed(ALERT);
    expect(first.statusCode).toBe(503);
    expect(first.json()).toMatchObject({ error: "ALERT_NOT_DELIVERED" });
    expect(first.json().message).toMatch(/send it again/);
    expect((await findAlertByExternalId(database.db, ALERT.id))?.status).toBe("received");
    expect(accepted).toEqual([]);

    const again = await signed(ALERT);
    expect(again.statusCode).toBe(202);
    // Delivered by this resend: its answer says so.
    expect(again.json()).toMatchObject({
      status: "duplicate",
      alertId: ALERT.id,
      alertStatus: "sent",
    });
    expect(accepted.map((a) => a.externalId)).toEqual([ALERT.id]);
    expect((await findAlertByExternalId(database.db, ALERT.id))?.status).toBe("sent");

    // Delivered: a further resend is only a duplicate.
    expect((await signed(ALERT)).statusCode).toBe(202);
    expect(accepted).toHaveLength(1);
  });

  it("does not fan an alert out twice when it is sent again while its fan-out runs", async () => {
    let release = () => {};
    fanOutGate = new Promise((resolve) => {
      release = resolve;
    });
    const first = signed(ALERT);
    while (accepted.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The sender timed out and sends it again.
    const again = signed(ALERT);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    expect((await first).statusCode).toBe(202);
    expect((await again).json()).toMatchObject({ status: "duplicate" });
    expect(accepted).toHaveLength(1);
  });

  it("refuses the same id with a different payload with 409 and keeps the first", async () => {
    await signed(ALERT);
    const changed = await signed({ ...ALERT, stop: "185.00" });
    expect(changed.statusCode).toBe(409);
    expect(changed.json()).toMatchObject({ error: "ALERT_ID_CONFLICT" });
    const stored = await findAlertByExternalId(database.db, ALERT.id);
    expect(stored?.stopPrice?.toString()).toBe("184.5");
    expect(accepted).toHaveLength(1);
  });

  it("refuses a signature made with another secret, or over another body", async () => {
    const body = JSON.stringify(ALERT);
    const wrongKey = await post(body, {
      "x-timestamp": String(NOW_SECONDS),
      "x-signature": sign(body, NOW_SECONDS, "another-secret-0123456789"),
    });
    expect(wrongKey.statusCode).toBe(401);
    expect(wrongKey.json()).toMatchObject({ error: "INVALID_SIGNATURE" });

    const tampered = await post(body.replace("184.50", "150.00"), {
      "x-timestamp": String(NOW_SECONDS),
      "x-signature": sign(body, NOW_SECONDS),
    });
    expect(tampered.statusCode).toBe(401);

    // The timestamp is signed too: changing it breaks the signature.
    const movedTime = await post(body, {
      "x-timestamp": String(NOW_SECONDS + 1),
      "x-signature": sign(body, NOW_SECONDS),
    });
    expect(movedTime.statusCode).toBe(401);
    expect(movedTime.json()).toMatchObject({ error: "INVALID_SIGNATURE" });

    const malformed = await post(body, {
      "x-timestamp": String(NOW_SECONDS),
      "x-signature": "md5=abc",
    });
    expect(malformed.statusCode).toBe(401);
    expect(await findAlertByExternalId(database.db, ALERT.id)).toBeNull();
  });

  it("refuses requests without the signature headers", async () => {
    const body = JSON.stringify(ALERT);
    for (const headers of <Record<string, string>[]>[
      {},
      { "x-timestamp": String(NOW_SECONDS) },
      { "x-signature": sign(body, NOW_SECONDS) },
    ]) {
      const response = await post(body, headers);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ error: "MISSING_SIGNATURE" });
    }
    const notANumber = await post(body, {
      "x-timestamp": "yesterday",
      "x-signature": sign(body, "yesterday"),
    });
    expect(notANumber.statusCode).toBe(401);
    expect(notANumber.json()).toMatchObject({ error: "INVALID_TIMESTAMP" });
  });

  it("refuses stale and future timestamps beyond 300 s, accepts them at the edge", async () => {
    const body = JSON.stringify(ALERT);
    for (const offset of [-301, 301, -3600]) {
      const ts = NOW_SECONDS + offset;
      const response = await post(body, {
        "x-timestamp": String(ts),
        "x-signature": sign(body, ts),
      });
      expect(response.statusCode, `offset ${offset}`).toBe(401);
      expect(response.json()).toMatchObject({ error: "STALE_TIMESTAMP" });
    }
    const edge = NOW_SECONDS - 300;
    const atEdge = await post(body, {
      "x-timestamp": String(edge),
      "x-signature": sign(body, edge),
    });
    expect(atEdge.statusCode).toBe(202);
  });

  it("refuses a captured request replayed after the window", async () => {
    const body = JSON.stringify({ ...ALERT, id: "replayed" });
    const headers = { "x-timestamp": String(NOW_SECONDS), "x-signature": sign(body, NOW_SECONDS) };
    expect((await post(body, headers)).statusCode).toBe(202);
    now = new Date(NOW.getTime() + 301_000);
    const replay = await post(body, headers);
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ error: "STALE_TIMESTAMP" });
  });

  it("refuses a body that is not JSON with 400", async () => {
    const response = await post("{not json");
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: "INVALID_JSON" });
    const array = await post("[1,2]");
    expect(array.statusCode).toBe(400);
    expect(array.json()).toMatchObject({ error: "INVALID_PAYLOAD" });
  });

  const badFields: ReadonlyArray<[string, Record<string, unknown>, string]> = [
    ["missing id", { id: undefined }, "id"],
    ["empty id", { id: "  " }, "id"],
    ["id not a string", { id: 42 }, "id"],
    ["missing symbol", { symbol: undefined }, "symbol"],
    ["symbol with spaces", { symbol: "AA PL" }, "symbol"],
    ["missing pattern", { pattern: undefined }, "pattern"],
    ["score as text", { score: "high" }, "score"],
    ["missing entry", { entry: undefined }, "entry"],
    ["entry not a number", { entry: "abc" }, "entry"],
    ["target with a decimal comma", { target: "205,00" }, "target"],
    ["negative stop", { stop: "-1" }, "stop"],
    ["zero target", { target: 0 }, "target"],
    ["price as object", { price: { value: 1 } }, "price"],
    ["empty source", { source: "" }, "source"],
    ["expiry not a time", { expires_at: "tomorrow" }, "expires_at"],
    ["id with a NUL character", { id: "scan\u0000-1" }, "id"],
    ["source with a NUL character", { source: "legend\u0000" }, "source"],
    ["a NUL character in an extra field", { note: "a\u0000b" }, "note"],
    ["stop at the entry", { stop: "190.1" }, "stop"],
    ["target below the entry of a long", { target: "189.00" }, "target"],
    ["target at the entry", { target: "190.10" }, "target"],
    ["target above the entry of a short", { stop: "195.00" }, "target"],
  ];
  it.each(badFields)(
    "refuses an alert with %s (400, field named)",
    async (_name, change, field) => {
      const alert: Record<string, unknown> = { ...ALERT, ...change };
      const response = await signed(JSON.parse(JSON.stringify(alert)));
      expect(response.statusCode).toBe(400);
      const body = response.json();
      expect(body.error).toBe("INVALID_PAYLOAD");
      expect(body.issues.map((i: { path: string }) => i.path)).toContain(field);
      // Nothing stored (looked up whole: a NUL in the id could not even be looked up).
      expect(await database.db.select().from(alerts)).toEqual([]);
    },
  );

  it("says what a price or an expiry must be, not only that the input is invalid", async () => {
    const cases: ReadonlyArray<[Record<string, unknown>, string, string]> = [
      [
        { entry: null },
        "entry",
        "must be a price above zero, as a decimal string or a number such as 190.10",
      ],
      [
        { stop: true },
        "stop",
        "must be a price above zero, as a decimal string or a number such as 190.10",
      ],
      [
        { price: { value: 1 } },
        "price",
        "must be a price above zero, as a decimal string or a number such as 190.10",
      ],
      [
        { expires_at: "2026-03-02T20:00:00" },
        "expires_at",
        "must be an ISO-8601 time with its offset, such as 2026-03-02T20:00:00Z or 2026-03-02T15:00:00-05:00",
      ],
    ];
    for (const [change, path, message] of cases) {
      const response = await signed({ ...ALERT, ...change });
      expect(response.statusCode).toBe(400);
      expect(response.json().issues).toEqual([{ path, message }]);
    }
  });

  it("refuses a body over the size limit with 413 before reading it", async () => {
    const big = JSON.stringify({ ...ALERT, notes: "x".repeat(ALERT_BODY_LIMIT_BYTES) });
    const response = await signed(JSON.parse(big));
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: "PAYLOAD_TOO_LARGE" });
  });

  it("never writes the secret or a signature into the log", () => {
    const text = logLines.join("\n");
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/sha256=[0-9a-f]{64}/);
  });
});

describe("POST /api/alerts without ALERT_WEBHOOK_SECRET", () => {
  it("refuses every request with 503", async () => {
    const database = await createTestDatabase("pglite");
    const app = createHttpServer({
      logger: createLogger({ level: "silent" }),
      metrics: createMetrics(),
      health: [],
      alerts: { db: database.db, now: () => NOW, secret: null, onAlertAccepted: async () => {} },
    });
    try {
      const body = JSON.stringify(ALERT);
      const response = await app.inject({
        method: "POST",
        url: "/api/alerts",
        payload: body,
        headers: { "x-timestamp": String(NOW_SECONDS), "x-signature": sign(body, NOW_SECONDS) },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error: "ALERTS_DISABLED" });
    } finally {
      await app.close();
      await database.close();
    }
  });
});
