import {
  ApiError,
  AuthError,
  FetchError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  ValidationError,
} from "@alpacahq/alpaca-trade-api";
import type { BrokerErrorCode, BrokerFailure } from "../../domain/broker";

/** A broker answer the adapter cannot read (missing fields, unknown status): the broker's fault. */
export class UnreadableBrokerResponse extends Error {
  override name = "UnreadableBrokerResponse";
}

/** Builds a failure value. */
export function brokerFailure(
  code: BrokerErrorCode,
  message: string,
  retryable: boolean,
  extra: { httpStatus?: number; brokerCode?: string; retryAfterMs?: number } = {},
): BrokerFailure {
  return { ok: false, code, message, retryable, ...extra };
}

function isDuplicateClientOrderId(message: string): boolean {
  return /client[_ ]order[_ ]id/i.test(message) && /unique|duplicate|already/i.test(message);
}

/**
 * Alpaca answers 403 with code 40310000 for "insufficient buying power", for "insufficient qty
 * available" (the shares are held by other orders, or not there) and for other refusals (e.g.
 * trading blocked), so the message decides.
 */
function isInsufficient(message: string): boolean {
  return /buying power|insufficient|not sufficient/i.test(message);
}

function isInsufficientQuantity(message: string): boolean {
  return /\bqty\b|quantity/i.test(message);
}

/**
 * The broker's suggested wait. The SDK derives one from `X-RateLimit-Reset` too, which Alpaca
 * sends on every answer: that is only meaningful for a 429; other statuses count only an
 * explicit `Retry-After`.
 */
function suggestedWait(error: ApiError): number | undefined {
  if (error instanceof RateLimitError) return error.retryAfterMs;
  const header = error.response?.headers?.get?.("Retry-After");
  return header ? error.retryAfterMs : undefined;
}

/** The longest message kept from an answer's body (Alpaca's are one short line). */
const MAX_MESSAGE_CHARS = 400;

/**
 * The broker's message. An HTML page (a gateway's or a firewall's, in front of the broker) is
 * told by its status and title: the SDK hands its whole text on as the message, which would fill
 * the log, the job's failure and the trader's notice.
 */
function messageOf(error: ApiError): string {
  const text = (error.message || `HTTP ${error.status}`).trim();
  if (/^<(!doctype|html|head|body|\?xml)/i.test(text)) {
    const title = /<title[^>]*>([^<]*)</i.exec(text)?.[1]?.replace(/\s+/g, " ").trim() ?? "";
    const named = title === "" ? "" : ` (${title.slice(0, 100)})`;
    return `HTTP ${error.status}: a web page answered, not the broker's API${named}`;
  }
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

function fromApiError(error: ApiError): BrokerFailure {
  const brokerCode = error.code === undefined ? undefined : String(error.code);
  const message = messageOf(error);
  const extra = {
    httpStatus: error.status,
    ...(brokerCode === undefined ? {} : { brokerCode }),
    ...(suggestedWait(error) === undefined ? {} : { retryAfterMs: suggestedWait(error) }),
  };
  if (error instanceof AuthError) return brokerFailure("UNAUTHORIZED", message, false, extra);
  if (error instanceof PermissionError) {
    if (!isInsufficient(message)) return brokerFailure("FORBIDDEN", message, false, extra);
    return isInsufficientQuantity(message)
      ? brokerFailure("INSUFFICIENT_QUANTITY", message, false, extra)
      : brokerFailure("INSUFFICIENT_BUYING_POWER", message, false, extra);
  }
  if (error instanceof NotFoundError) return brokerFailure("NOT_FOUND", message, false, extra);
  if (error instanceof ValidationError) {
    return isDuplicateClientOrderId(message)
      ? brokerFailure("DUPLICATE_CLIENT_ORDER_ID", message, false, extra)
      : brokerFailure("INVALID", message, false, extra);
  }
  if (error instanceof RateLimitError) return brokerFailure("RATE_LIMITED", message, true, extra);
  if (error.status === 408) return brokerFailure("TIMEOUT", message, true, extra);
  if (error.status >= 500) return brokerFailure("SERVER_ERROR", message, true, extra);
  return brokerFailure("INVALID", message, false, extra);
}

function isTimeout(error: FetchError): boolean {
  const name = (error.cause as { name?: unknown } | undefined)?.name;
  return name === "TimeoutError" || name === "AbortError";
}

/**
 * A connection lost while an answer was being read: fetch rejects the body read with a TypeError
 * ("terminated") caused by a socket error, and the SDK, which wraps only failures to get an
 * answer, passes it on as it is.
 */
function isConnectionLost(error: unknown): error is TypeError {
  if (!(error instanceof TypeError)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return (
    error.message === "terminated" ||
    (typeof code === "string" && /^(UND_ERR_|E[A-Z]+$)/.test(code))
  );
}

/**
 * Maps anything the SDK (or the adapter's reading of its answers) throws to a coded failure.
 * Errors that are not the broker's or the network's (programming errors) are rethrown.
 */
export function toBrokerFailure(error: unknown): BrokerFailure {
  if (error instanceof ApiError) return fromApiError(error);
  if (error instanceof FetchError) {
    const cause = error.cause instanceof Error ? error.cause.message : "";
    return isTimeout(error)
      ? brokerFailure("TIMEOUT", `broker did not answer in time${cause ? `: ${cause}` : ""}`, true)
      : brokerFailure("NETWORK", `broker unreachable${cause ? `: ${cause}` : ""}`, true);
  }
  if (isConnectionLost(error)) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return brokerFailure("NETWORK", `connection lost while reading the answer${cause}`, true);
  }
  if (error instanceof UnreadableBrokerResponse) {
    return brokerFailure("SERVER_ERROR", `unreadable broker answer: ${error.message}`, false);
  }
  if (error instanceof SyntaxError) {
    return brokerFailure("SERVER_ERROR", `unreadable broker answer: ${error.message}`, false);
  }
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return brokerFailure("TIMEOUT", `broker did not answer in time: ${error.message}`, true);
  }
  throw error;
}

/**
 * Failures after which a submitted order may or may not exist at the broker: the request may
 * have reached it. Only these need a lookup by client order id before any resubmission.
 */
export function isAmbiguousSubmitFailure(failure: BrokerFailure): boolean {
  return (
    failure.code === "NETWORK" ||
    failure.code === "TIMEOUT" ||
    failure.code === "SERVER_ERROR" ||
    failure.code === "RATE_LIMITED"
  );
}
