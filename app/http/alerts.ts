import { createHmac, timingSafeEqual } from "node:crypto";
import { PgliteSession } from "drizzle-orm/pglite";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import {
  type Alert,
  type AlertInput,
  findAlert,
  findAlertByExternalId,
  recordAlert,
} from "../../db/alerts";
import type { Database } from "../../db/database";
import { lockName } from "../../db/lifecycleQueries";
import { type Decimal, dec, parseDecimal } from "../../domain/money";
import type { DeskMetrics } from "../metrics";
import { fieldIssues, sendError } from "./errors";
import { priceField, tickPriceField } from "./fields";

/** How far `X-Timestamp` may be from the server's clock, either way. */
export const ALERT_TIMESTAMP_WINDOW_SECONDS = 300;
/** Largest alert body accepted; a scanner alert is a few hundred bytes. */
export const ALERT_BODY_LIMIT_BYTES = 16 * 1024;

export interface AlertRouteDeps {
  readonly db: Database;
  readonly logger: Logger;
  readonly metrics: DeskMetrics;
  readonly now: () => Date;
  /** The clock the timestamp window is checked against (default `now`): real time, for senders. */
  readonly signatureClock?: () => Date;
  /** ALERT_WEBHOOK_SECRET; null: every request is refused (503). */
  readonly secret: string | null;
  /**
   * Called once per new alert after it is stored: the fan-out to traders. When it fails the
   * alert stays stored (status `received`) and the sender is answered 503 to send it again; a
   * resend of an alert still `received` is handed to the fan-out again.
   */
  readonly onAlertAccepted: (alert: Alert) => Promise<void>;
}

/**
 * The scanner's score: a JSON number or a decimal string, as every decimal of an alert may be
 * (DESIGN.md). Read from the number itself: String(1e-7) is "1e-7", which parseDecimal refuses.
 */
const scoreField = z
  .union([z.number(), z.string()], { error: "must be a number such as 0.82" })
  .transform((value, ctx): Decimal => {
    const score =
      typeof value === "number"
        ? Number.isFinite(value)
          ? dec(value)
          : null
        : // A decimal comma ("0,82") is refused like every other decimal, never read as 82.
          parseDecimal(value);
    if (score === null) {
      ctx.issues.push({ code: "custom", message: "must be a number such as 0.82", input: value });
      return z.NEVER;
    }
    return score;
  });

/** What a price field must be, said when it is not even a string or a number. */
const PRICE_TYPE = "must be a price above zero, as a decimal string or a number such as 190.10";

/** A price field of the alert, a value of the wrong type refused in words, not "Invalid input". */
function alertPrice<T extends z.ZodType<unknown, string | number>>(field: T) {
  return z.union([z.string(), z.number()], { error: PRICE_TYPE }).pipe(field);
}

/**
 * The alert body (DESIGN.md, public interface). Unknown fields are kept in the stored payload. An
 * optional field sent as null is taken as left out, as JSON writers commonly send a missing value.
 */
export const alertPayloadSchema = z
  .object({
    id: z
      .string()
      .trim()
      .min(1, { error: "must not be empty" })
      .max(200, { error: "must be at most 200 characters" }),
    symbol: z
      .string()
      .trim()
      .regex(/^[A-Za-z][A-Za-z0-9.]{0,9}$/, {
        error: "must be a ticker like AAPL or BRK.B (letters, digits, a dot; up to 10)",
      })
      .transform((symbol) => symbol.toUpperCase()),
    pattern: z.string().trim().min(1, { error: "must not be empty" }).max(100),
    score: scoreField,
    entry: alertPrice(tickPriceField),
    stop: alertPrice(tickPriceField),
    target: alertPrice(tickPriceField).nullish(),
    // The last trade, for information: prints can be sub-penny.
    price: alertPrice(priceField).nullish(),
    source: z.string().trim().min(1, { error: "must not be empty" }).max(100).nullish(),
    expires_at: z.iso
      .datetime({
        offset: true,
        // A time without its offset would be read in no one knows which zone: refused.
        error:
          "must be an ISO-8601 time with its offset, such as 2026-03-02T20:00:00Z or 2026-03-02T15:00:00-05:00",
      })
      .nullish(),
  })
  // The side is read from the stop (below the entry: long); an alert whose stop is at the entry
  // or whose target is on the stop's side could never be approved, so it is refused here.
  .superRefine((alert, ctx) => {
    if (alert.stop.eq(alert.entry)) {
      ctx.addIssue({
        code: "custom",
        path: ["stop"],
        message: "must differ from the entry: below it for a long, above it for a short",
      });
      return;
    }
    const long = alert.stop.lt(alert.entry);
    const target = alert.target;
    if (
      target !== undefined &&
      target !== null &&
      (long ? target.lte(alert.entry) : target.gte(alert.entry))
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: long
          ? "must be above the entry: the stop below it makes this a long"
          : "must be below the entry: the stop above it makes this a short",
      });
    }
  });

type SignatureProblem = { code: string; message: string } | null;

/** Checks `X-Signature: sha256=<hex>` = HMAC-SHA256(secret, `<X-Timestamp>.<raw body>`) and the time window. */
export function verifyAlertSignature(
  secret: string,
  headers: { timestamp: unknown; signature: unknown },
  rawBody: Buffer,
  now: Date,
): SignatureProblem {
  const { timestamp, signature } = headers;
  if (typeof timestamp !== "string" || typeof signature !== "string") {
    return {
      code: "MISSING_SIGNATURE",
      message: "X-Timestamp and X-Signature headers are required",
    };
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return { code: "INVALID_TIMESTAMP", message: "X-Timestamp must be unix time in seconds" };
  }
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(signature);
  const given = match?.[1];
  if (given === undefined) {
    return { code: "INVALID_SIGNATURE", message: "X-Signature must be sha256=<64 hex digits>" };
  }
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest();
  if (!timingSafeEqual(Buffer.from(given, "hex"), expected)) {
    return { code: "INVALID_SIGNATURE", message: "signature does not match the body" };
  }
  const skew = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (skew > ALERT_TIMESTAMP_WINDOW_SECONDS) {
    return {
      code: "STALE_TIMESTAMP",
      message: `X-Timestamp is ${Math.round(skew)} s away from the server's clock; the window is ${ALERT_TIMESTAMP_WINDOW_SECONDS} s`,
    };
  }
  return null;
}

/** The dotted path of the first key or string holding a NUL character, or null. */
function nulCharacterPath(value: unknown, path: readonly string[] = []): string | null {
  const here = () => (path.length === 0 ? "(root)" : path.join("."));
  if (typeof value === "string") return value.includes("\u0000") ? here() : null;
  if (value === null || typeof value !== "object") return null;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (key.includes("\u0000")) return [...path, key].join(".");
    const found = nulCharacterPath(item, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}

/** The same alert again: equal as JSON values, whatever the key order (jsonb reorders keys). */
function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Hands an alert to the fan-out unless another process has delivered it meanwhile: bot processes
 * sharing the database take the alert's fan-out one at a time (an advisory lock held while it
 * runs), and the one that waited reads the alert again, so a resend reaching another process
 * while the first fan-out runs waits for it instead of sending every trader a second copy. The
 * embedded database belongs to one process, whose own map of fan-outs suffices: a transaction
 * held there would block the fan-out's own queries.
 */
async function fanOutOnce(
  db: Database,
  alert: Alert,
  fanOut: (alert: Alert) => Promise<void>,
): Promise<void> {
  const session: unknown = db._.session;
  if (session instanceof PgliteSession) return fanOut(alert);
  await db.transaction(async (tx) => {
    await lockName(tx, `desk:alert-fanout:${alert.id}`);
    const current = await findAlert(tx, alert.id);
    if (current?.status !== "received") return;
    await fanOut(current);
  });
}

/**
 * `POST /api/alerts`: a signed pattern alert from a scanner. 202 `accepted` for a new alert and
 * `duplicate` for the same alert again; 401 for signature or timestamp problems; 400 for a body
 * that is not JSON or not an alert (with the fields at fault), a new alert already past its
 * expires_at included; 409 when an alert id comes back
 * with a different payload; 413 past the size limit; 503 without ALERT_WEBHOOK_SECRET, or
 * (ALERT_NOT_DELIVERED) when the alert is stored but its fan-out failed: the same alert sent
 * again retries the fan-out.
 */
export function registerAlertRoutes(app: FastifyInstance, deps: AlertRouteDeps): void {
  // Fan-outs under way in this process by alert id: a resend while one runs (a sender that timed
  // out waiting) waits for it instead of sending the traders a second copy; fanOutOnce does the
  // same across processes.
  const deliveries = new Map<number, Promise<boolean>>();
  app.register(async (scope) => {
    // The signature covers the exact bytes sent: keep the body raw whatever its content type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => {
      done(null, body);
    });

    scope.post("/api/alerts", { bodyLimit: ALERT_BODY_LIMIT_BYTES }, async (request, reply) => {
      const refuse = (
        status: number,
        outcome: string,
        code: string,
        message: string,
        issues?: Parameters<typeof sendError>[4],
      ): FastifyReply => {
        deps.metrics.alerts.inc({ outcome });
        deps.logger.warn({ code, status }, `alert refused: ${message}`);
        return sendError(reply, status, code, message, issues);
      };
      if (deps.secret === null) {
        return refuse(
          503,
          "disabled",
          "ALERTS_DISABLED",
          "alerts are disabled: ALERT_WEBHOOK_SECRET is not set",
        );
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const now = deps.now();
      const problem = verifyAlertSignature(
        deps.secret,
        { timestamp: request.headers["x-timestamp"], signature: request.headers["x-signature"] },
        raw,
        (deps.signatureClock ?? deps.now)(),
      );
      if (problem !== null) return refuse(401, "unauthorized", problem.code, problem.message);

      let json: unknown;
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch {
        return refuse(400, "invalid", "INVALID_JSON", "the body is not valid JSON");
      }
      if (json === null || typeof json !== "object" || Array.isArray(json)) {
        return refuse(400, "invalid", "INVALID_PAYLOAD", "the body must be a JSON object", [
          { path: "(root)", message: "must be an object" },
        ]);
      }
      // PostgreSQL stores no NUL in text or jsonb: refused here by name, not failed on insert.
      const nul = nulCharacterPath(json);
      if (nul !== null) {
        return refuse(
          400,
          "invalid",
          "INVALID_PAYLOAD",
          `the alert is invalid: ${nul} must not contain a NUL character (\\u0000)`,
          [{ path: nul, message: "must not contain a NUL character (\\u0000)" }],
        );
      }
      const parsed = alertPayloadSchema.safeParse(json);
      if (!parsed.success) {
        const issues = fieldIssues(parsed.error.issues);
        return refuse(
          400,
          "invalid",
          "INVALID_PAYLOAD",
          `the alert is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join("; ")}`,
          issues,
        );
      }
      const alert = parsed.data;
      const payload = json as Record<string, unknown>;
      const expiresAt = alert.expires_at == null ? null : new Date(alert.expires_at);
      // Stored, it would be expired unseen behind a 202 the scanner takes for delivered. A resend
      // of an alert stored in time is the same alert, answered below as before.
      if (
        expiresAt !== null &&
        expiresAt.getTime() <= now.getTime() &&
        (await findAlertByExternalId(deps.db, alert.id)) === null
      ) {
        const message = `is already past: ${expiresAt.toISOString()}, the desk's time is ${now.toISOString()}; no trader was sent the alert`;
        return refuse(
          400,
          "invalid",
          "INVALID_PAYLOAD",
          `the alert is invalid: expires_at ${message}`,
          [{ path: "expires_at", message }],
        );
      }
      const input: AlertInput = {
        externalId: alert.id,
        symbol: alert.symbol,
        pattern: alert.pattern,
        score: alert.score,
        entryPrice: alert.entry,
        stopPrice: alert.stop,
        targetPrice: alert.target ?? null,
        lastPrice: alert.price ?? null,
        source: alert.source ?? null,
        payload,
        expiresAt,
      };
      const { alert: stored, created } = await recordAlert(deps.db, input, now);
      // Hands the alert to the traders; false when that failed (the alert stays `received`).
      const deliver = (): Promise<boolean> => {
        const running = deliveries.get(stored.id);
        if (running !== undefined) return running;
        const delivery = Promise.resolve()
          .then(() => fanOutOnce(deps.db, stored, deps.onAlertAccepted))
          .then(
            () => true,
            (error: unknown) => {
              deps.logger.error(
                { err: error, alertId: stored.externalId },
                "alert fan-out failed; the alert stays stored",
              );
              return false;
            },
          )
          .finally(() => deliveries.delete(stored.id));
        deliveries.set(stored.id, delivery);
        return delivery;
      };
      // The status the fan-out left (sent; received when suppressed or no trader takes alerts),
      // not the one stored before it.
      const statusNow = async (alert: Alert) =>
        (await findAlert(deps.db, alert.id))?.status ?? alert.status;
      const undelivered = () =>
        refuse(
          503,
          "undelivered",
          "ALERT_NOT_DELIVERED",
          `alert ${alert.id} is stored but could not be sent to the traders; send it again (same id and body) to retry`,
        );
      if (!created) {
        if (!sameJson(stored.payload, payload)) {
          return refuse(
            409,
            "conflict",
            "ALERT_ID_CONFLICT",
            `alert ${alert.id} was already received with a different payload; send a new id for a new alert`,
          );
        }
        // An alert whose fan-out failed before is still `received`: this resend delivers it (or
        // waits for the fan-out under way).
        const pending = stored.status === "received" || deliveries.has(stored.id);
        if (pending && !(await deliver())) return undelivered();
        deps.metrics.alerts.inc({ outcome: "duplicate" });
        return reply.code(202).send({
          status: "duplicate",
          alertId: stored.externalId,
          id: stored.id,
          alertStatus: pending ? await statusNow(stored) : stored.status,
          receivedAt: stored.receivedAt.toISOString(),
        });
      }
      deps.logger.info(
        {
          alertId: stored.externalId,
          id: stored.id,
          symbol: stored.symbol,
          pattern: stored.pattern,
        },
        "alert accepted",
      );
      // Answering 202 to an alert no trader was sent would tell the scanner it is handled.
      if (!(await deliver())) return undelivered();
      deps.metrics.alerts.inc({ outcome: "accepted" });
      return reply.code(202).send({
        status: "accepted",
        alertId: stored.externalId,
        id: stored.id,
        alertStatus: await statusNow(stored),
        receivedAt: stored.receivedAt.toISOString(),
      });
    });
  });
}
