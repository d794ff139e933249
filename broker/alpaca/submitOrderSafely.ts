/**
 * Order submission that never creates a second order for one client order id. Alpaca refuses a
 * reused client order id (422), but an ambiguous failure (network, timeout, 5xx, 429) leaves us
 * not knowing whether the first request landed; so before any resubmission we look the order up
 * by client order id, and a duplicate refusal answers the existing order. An order found under
 * the id for another symbol or side is not ours (the id was used before, e.g. by a desk whose
 * records started again against the same account): it is refused, never answered as ours.
 */
import type { BrokerFailure, BrokerOrder, BrokerResult } from "../../domain/broker";
import { brokerFailure, isAmbiguousSubmitFailure } from "./errors";

export interface SafeSubmitSteps {
  /** One POST of the order, no retries. */
  post(): Promise<BrokerResult<BrokerOrder>>;
  /** Looks the order up by its client order id (may retry reads itself). */
  lookUp(): Promise<BrokerResult<BrokerOrder>>;
  /** Waits before the next attempt; receives the failure that caused it. */
  wait(attempt: number, failure: BrokerFailure): Promise<void>;
  /** Whether an order found under the client order id is the one submitted (its symbol and side). */
  isSubmitted?(order: BrokerOrder): boolean;
}

export interface SafeSubmitPolicy {
  /** POST attempts at most (default 2); each one after the first follows a NOT_FOUND lookup. */
  readonly maxAttempts?: number;
  /** Look the order up before the first POST too (for a caller retrying an earlier attempt). */
  readonly lookUpFirst?: boolean;
}

/**
 * Submits through `steps`: answers the order, or the failure. On an ambiguous failure it looks
 * the order up (after a pause the broker asked for, once it is waited): found means submitted;
 * NOT_FOUND means it did not land, so it may post again while attempts remain; any other lookup
 * answer leaves the outcome unknown, reported as the original (retryable) failure so the caller
 * tries again later, starting with a lookup.
 */
export async function submitOrderSafely(
  steps: SafeSubmitSteps,
  policy: SafeSubmitPolicy = {},
): Promise<BrokerResult<BrokerOrder>> {
  const maxAttempts = Math.max(1, policy.maxAttempts ?? 2);
  const lookUp = async (): Promise<BrokerResult<BrokerOrder>> => {
    const found = await steps.lookUp();
    if (!found.ok || !steps.isSubmitted || steps.isSubmitted(found.value)) return found;
    const other = found.value;
    return brokerFailure(
      "DUPLICATE_CLIENT_ORDER_ID",
      `client order id ${other.clientOrderId} already names another order at the broker (${other.side} ${other.symbol}, ${other.status})`,
      false,
    );
  };
  if (policy.lookUpFirst) {
    const existing = await lookUp();
    if (!existing.ok && existing.code === "DUPLICATE_CLIENT_ORDER_ID") return existing;
    if (existing.ok) return existing;
    if (existing.code !== "NOT_FOUND") {
      // Retryable whatever the lookup's own failure: the earlier attempt may have landed, so
      // this is no refusal (the caller would close an order the broker holds).
      return {
        ...existing,
        retryable: true,
        message: `not submitted: could not check for an earlier attempt (${existing.message})`,
      };
    }
  }
  for (let attempt = 1; ; attempt++) {
    const posted = await steps.post();
    if (posted.ok) return posted;
    if (posted.code === "DUPLICATE_CLIENT_ORDER_ID") {
      const existing = await lookUp();
      // The order exists; a lookup that cannot show it yet leaves it to be looked up again.
      return existing.ok || existing.code === "DUPLICATE_CLIENT_ORDER_ID"
        ? existing
        : {
            ...posted,
            retryable: true,
            message: `${posted.message}; the existing order could not be read (${existing.message})`,
          };
    }
    if (!isAmbiguousSubmitFailure(posted)) return posted;

    // A 429, or an answer naming its own pause (a 503's Retry-After), asks for a pause before any
    // next request, the lookup too: looked up at once it would only earn the same answer again,
    // and the pause before the next POST would then be waited twice.
    const paused = posted.code === "RATE_LIMITED" || posted.retryAfterMs !== undefined;
    if (paused) await steps.wait(attempt, posted);
    const found = await lookUp();
    if (found.ok || found.code === "DUPLICATE_CLIENT_ORDER_ID") return found;
    if (found.code !== "NOT_FOUND") {
      return {
        ...posted,
        retryable: true,
        message: `${posted.message}; whether the order exists is unknown (lookup failed: ${found.message})`,
      };
    }
    if (attempt >= maxAttempts) return posted;
    if (!paused) await steps.wait(attempt, posted);
  }
}
