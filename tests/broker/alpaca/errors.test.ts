import {
  ApiError,
  AuthError,
  FetchError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  ValidationError,
} from "@alpacahq/alpaca-trade-api";
import { describe, expect, it } from "vitest";
import {
  isAmbiguousSubmitFailure,
  toBrokerFailure,
  UnreadableBrokerResponse,
} from "../../../broker/alpaca/errors";

const response = (status: number): Response => new Response(null, { status });

describe("toBrokerFailure", () => {
  it("maps each SDK error class to a coded outcome with a retryable flag", () => {
    const cases = [
      [
        new AuthError(response(401), 401, 40110000, "request is not authorized"),
        "UNAUTHORIZED",
        false,
      ],
      [
        new PermissionError(response(403), 403, 40310000, "insufficient buying power"),
        "INSUFFICIENT_BUYING_POWER",
        false,
      ],
      [
        new PermissionError(response(403), 403, 40310000, "insufficient qty available for order"),
        "INSUFFICIENT_QUANTITY",
        false,
      ],
      [
        new PermissionError(response(403), 403, 40310000, "trading is blocked for this account"),
        "FORBIDDEN",
        false,
      ],
      [new NotFoundError(response(404), 404, 40410000, "order not found"), "NOT_FOUND", false],
      [
        new ValidationError(response(422), 422, 40010001, "client_order_id must be unique"),
        "DUPLICATE_CLIENT_ORDER_ID",
        false,
      ],
      [new ValidationError(response(422), 422, 42210000, "invalid limit_price"), "INVALID", false],
      [
        new ValidationError(response(400), 400, 40010000, "request body format is invalid"),
        "INVALID",
        false,
      ],
      [
        new RateLimitError(response(429), 429, undefined, "too many requests", undefined, 1500),
        "RATE_LIMITED",
        true,
      ],
      [new ApiError(response(500), 500, undefined, "internal server error"), "SERVER_ERROR", true],
      [new ApiError(response(503), 503, undefined, "unavailable"), "SERVER_ERROR", true],
      [new ApiError(response(408), 408, undefined, "request timeout"), "TIMEOUT", true],
    ] as const;
    for (const [error, code, retryable] of cases) {
      const failure = toBrokerFailure(error);
      expect({ code: failure.code, retryable: failure.retryable }, error.message).toEqual({
        code,
        retryable,
      });
      expect(failure.httpStatus).toBe(error.status);
      expect(failure.message).toBe(error.message);
    }
  });

  it("keeps the broker's code and suggested wait", () => {
    const failure = toBrokerFailure(
      new RateLimitError(response(429), 429, 42910000, "rate limit exceeded", undefined, 2500),
    );
    expect(failure.brokerCode).toBe("42910000");
    expect(failure.retryAfterMs).toBe(2500);
  });

  it("suggests a wait from the rate-limit reset only for a 429", () => {
    const reset = String(Math.ceil(Date.now() / 1000) + 30);
    const headers = { "X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "150" };
    const serverError = new Response(null, { status: 500, headers });
    const failure = toBrokerFailure(
      new ApiError(serverError, 500, undefined, "boom", undefined, 30_000),
    );
    expect(failure.retryAfterMs).toBeUndefined();
    const unavailable = new Response(null, { status: 503, headers: { "Retry-After": "2" } });
    expect(
      toBrokerFailure(new ApiError(unavailable, 503, undefined, "busy", undefined, 2_000))
        .retryAfterMs,
    ).toBe(2_000);
  });

  it("tells a proxy's error page in a line, not as the broker's message", () => {
    // A gateway or firewall in front of the broker answers with a page of HTML: it would fill
    // the log line, the job's failure and the trader's notice.
    const page = `<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>${"<p>cf-ray</p>".repeat(400)}</body></html>`;
    const gateway = toBrokerFailure(new ApiError(response(502), 502, undefined, page));
    expect(gateway).toMatchObject({ code: "SERVER_ERROR", retryable: true, httpStatus: 502 });
    expect(gateway.message).toContain("502 Bad Gateway");
    expect(gateway.message).not.toContain("<");
    expect(gateway.message.length).toBeLessThanOrEqual(200);

    const blocked = toBrokerFailure(
      new PermissionError(response(403), 403, undefined, "<html><body>Access denied</body></html>"),
    );
    expect(blocked).toMatchObject({ code: "FORBIDDEN", retryable: false });
    expect(blocked.message).not.toContain("<");
    expect(blocked.message).toContain("403");

    // Whatever else the body holds is kept, but not without end.
    const long = toBrokerFailure(new ApiError(response(500), 500, undefined, "x".repeat(5_000)));
    expect(long.message.length).toBeLessThanOrEqual(500);
  });

  it("tells a timeout from a network failure", () => {
    const timeout = new FetchError(new DOMException("timed out", "TimeoutError"), "aborted");
    expect(toBrokerFailure(timeout)).toMatchObject({ code: "TIMEOUT", retryable: true });
    const refused = new FetchError(new TypeError("fetch failed"), "failed");
    expect(toBrokerFailure(refused)).toMatchObject({ code: "NETWORK", retryable: true });
  });

  it("reports unreadable answers as the broker's fault and rethrows programming errors", () => {
    expect(toBrokerFailure(new UnreadableBrokerResponse('order status: "odd"'))).toMatchObject({
      code: "SERVER_ERROR",
      retryable: false,
    });
    expect(() => toBrokerFailure(new TypeError("x is undefined"))).toThrow("x is undefined");
  });

  it("treats only failures that may have reached the broker as ambiguous for a submit", () => {
    const ambiguous = (error: Error) => isAmbiguousSubmitFailure(toBrokerFailure(error));
    expect(ambiguous(new ApiError(response(502), 502, undefined, "bad gateway"))).toBe(true);
    expect(ambiguous(new RateLimitError(response(429), 429, undefined, "slow down"))).toBe(true);
    expect(ambiguous(new FetchError(new TypeError("socket hang up")))).toBe(true);
    expect(ambiguous(new ValidationError(response(422), 422, 42210000, "invalid"))).toBe(false);
    expect(ambiguous(new PermissionError(response(403), 403, 40310000, "insufficient"))).toBe(
      false,
    );
  });
});
