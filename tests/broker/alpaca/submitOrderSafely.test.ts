import { describe, expect, it } from "vitest";
import { brokerFailure } from "../../../broker/alpaca/errors";
import { fromOrder } from "../../../broker/alpaca/mapping";
import { submitOrderSafely } from "../../../broker/alpaca/submitOrderSafely";
import type { BrokerOrder, BrokerResult } from "../../../domain/broker";

const order: BrokerOrder = fromOrder({
  id: "b1",
  clientOrderId: "c1",
  symbol: "AAPL",
  side: "buy",
  type: "market",
  timeInForce: "day",
  status: "new",
  qty: "1",
});

const ok = (value: BrokerOrder): BrokerResult<BrokerOrder> => ({ ok: true, value });
const serverError = brokerFailure("SERVER_ERROR", "internal error", true, { httpStatus: 500 });
const notFound = brokerFailure("NOT_FOUND", "order not found", false, { httpStatus: 404 });

/** Plays the broker's answers in order and records which steps ran. */
function script(posts: BrokerResult<BrokerOrder>[], lookups: BrokerResult<BrokerOrder>[]) {
  const calls: string[] = [];
  return {
    calls,
    steps: {
      post: async () => {
        calls.push("post");
        const next = posts.shift();
        if (!next) throw new Error("unexpected post");
        return next;
      },
      lookUp: async () => {
        calls.push("lookup");
        const next = lookups.shift();
        if (!next) throw new Error("unexpected lookup");
        return next;
      },
      wait: async () => {
        calls.push("wait");
      },
    },
  };
}

describe("submitOrderSafely", () => {
  it("answers the order found after an ambiguous failure, without posting again", async () => {
    const { calls, steps } = script([serverError], [ok(order)]);
    expect(await submitOrderSafely(steps)).toEqual(ok(order));
    expect(calls).toEqual(["post", "lookup"]);
  });

  it("posts again only after the lookup says the order does not exist", async () => {
    const { calls, steps } = script([serverError, ok(order)], [notFound]);
    expect(await submitOrderSafely(steps)).toEqual(ok(order));
    expect(calls).toEqual(["post", "lookup", "wait", "post"]);
  });

  it("after a 429 pauses before the lookup too, and posts again without pausing twice", async () => {
    // The broker asked for a pause before any next request: a lookup at once would only earn
    // another 429, and a pause after it would wait the broker's pause a second time.
    const rateLimited = brokerFailure("RATE_LIMITED", "rate limit exceeded", true, {
      httpStatus: 429,
      retryAfterMs: 30_000,
    });
    const { calls, steps } = script([rateLimited, ok(order)], [notFound]);
    expect(await submitOrderSafely(steps)).toEqual(ok(order));
    expect(calls).toEqual(["post", "wait", "lookup", "post"]);

    const last = script([rateLimited], [notFound]);
    const result = await submitOrderSafely(last.steps, { maxAttempts: 1 });
    expect(result).toMatchObject({ ok: false, code: "RATE_LIMITED", retryable: true });
    expect(last.calls).toEqual(["post", "wait", "lookup"]);
  });

  it("pauses before the lookup for a server error that names its own pause", async () => {
    // A 503 with Retry-After (maintenance, overload): the broker asked not to be called before.
    const unavailable = brokerFailure("SERVER_ERROR", "service unavailable", true, {
      httpStatus: 503,
      retryAfterMs: 5_000,
    });
    const { calls, steps } = script([unavailable, ok(order)], [notFound]);
    expect(await submitOrderSafely(steps)).toEqual(ok(order));
    expect(calls).toEqual(["post", "wait", "lookup", "post"]);
  });

  it("never posts again when the lookup cannot tell", async () => {
    const timeout = brokerFailure("TIMEOUT", "slow", true);
    const { calls, steps } = script([serverError], [timeout]);
    const result = await submitOrderSafely(steps, { maxAttempts: 5 });
    expect(result).toMatchObject({ ok: false, code: "SERVER_ERROR", retryable: true });
    expect(calls).toEqual(["post", "lookup"]);
  });

  it("stops after the allowed attempts", async () => {
    const { calls, steps } = script([serverError, serverError], [notFound, notFound]);
    const result = await submitOrderSafely(steps, { maxAttempts: 2 });
    expect(result).toMatchObject({ ok: false, code: "SERVER_ERROR" });
    expect(calls).toEqual(["post", "lookup", "wait", "post", "lookup"]);
  });

  it("answers the existing order for a duplicate client order id", async () => {
    const duplicate = brokerFailure(
      "DUPLICATE_CLIENT_ORDER_ID",
      "client_order_id must be unique",
      false,
    );
    const { calls, steps } = script([duplicate], [ok(order)]);
    expect(await submitOrderSafely(steps)).toEqual(ok(order));
    expect(calls).toEqual(["post", "lookup"]);
  });

  it("answers a duplicate whose lookup fails as retryable: the order exists, it is no refusal", async () => {
    const duplicate = brokerFailure(
      "DUPLICATE_CLIENT_ORDER_ID",
      "client_order_id must be unique",
      false,
    );
    const { calls, steps } = script([duplicate], [serverError]);
    const result = await submitOrderSafely(steps);
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(calls).toEqual(["post", "lookup"]);
  });

  it("answers a failed first lookup as retryable, whatever the lookup's own failure", async () => {
    // An earlier attempt's order the adapter cannot read (unknown status) maps to a failure that
    // is not retryable; the order may well exist, so the outcome is unknown, not refused.
    const unreadable = brokerFailure("SERVER_ERROR", "unreadable broker answer", false);
    const { calls, steps } = script([], [unreadable]);
    const result = await submitOrderSafely(steps, { lookUpFirst: true });
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(calls).toEqual(["lookup"]);
  });

  it("does not look up after a plain refusal", async () => {
    const refused = brokerFailure("INSUFFICIENT_BUYING_POWER", "insufficient buying power", false);
    const { calls, steps } = script([refused], []);
    expect(await submitOrderSafely(steps)).toEqual(refused);
    expect(calls).toEqual(["post"]);
  });

  it("looks up first when asked, answering an earlier attempt's order without posting", async () => {
    const found = script([], [ok(order)]);
    expect(await submitOrderSafely(found.steps, { lookUpFirst: true })).toEqual(ok(order));
    expect(found.calls).toEqual(["lookup"]);

    const fresh = script([ok(order)], [notFound]);
    expect(await submitOrderSafely(fresh.steps, { lookUpFirst: true })).toEqual(ok(order));
    expect(fresh.calls).toEqual(["lookup", "post"]);

    const unknown = script([], [brokerFailure("NETWORK", "unreachable", true)]);
    const result = await submitOrderSafely(unknown.steps, { lookUpFirst: true });
    expect(result).toMatchObject({ ok: false, code: "NETWORK", retryable: true });
    expect(unknown.calls).toEqual(["lookup"]);
  });

  it("refuses, never answers, an order of another symbol or side found under the client order id", async () => {
    const theirs: BrokerOrder = { ...order, symbol: "MSFT" };
    const isSubmitted = (found: BrokerOrder) => found.symbol === "AAPL" && found.side === "buy";
    for (const [posts, policy] of [
      [[serverError], {}],
      [[brokerFailure("DUPLICATE_CLIENT_ORDER_ID", "client_order_id must be unique", false)], {}],
      [[], { lookUpFirst: true }],
    ] as const) {
      const { calls, steps } = script([...posts], [ok(theirs)]);
      const answer = await submitOrderSafely({ ...steps, isSubmitted }, policy);
      expect(answer).toMatchObject({
        ok: false,
        code: "DUPLICATE_CLIENT_ORDER_ID",
        retryable: false,
      });
      expect(calls).toEqual([...posts.map(() => "post"), "lookup"]);
    }
  });
});
