import { describe, expect, it } from "vitest";
import { submitRequestSchema } from "../../../app/http/execution";

const ORDER = { ticker: "AAPL", order_type: "BUY", stop_loss: "185.00" };

describe("the submit request", () => {
  it("reads a quantity with thousands commas, and refuses a decimal comma", () => {
    const grouped = submitRequestSchema.safeParse({ ...ORDER, quantity: "1,000" });
    expect(grouped.success && grouped.data.quantity?.toString()).toBe("1000");
    for (const quantity of ["1,0", "10,5"]) {
      const parsed = submitRequestSchema.safeParse({ ...ORDER, quantity });
      expect(parsed.success, quantity).toBe(false);
    }
  });
});

describe("the submit request's fields", () => {
  const issuesOf = (body: Record<string, unknown>) => {
    const parsed = submitRequestSchema.safeParse(body);
    return parsed.success ? [] : parsed.error.issues.map((i) => [i.path.join("."), i.message]);
  };

  it("refuses a limit price on a market order instead of sending it at market", () => {
    for (const body of [
      { ...ORDER, limit_price: "189.00" },
      { ...ORDER, price_type: "MARKET", limit_price: 189 },
    ]) {
      expect(issuesOf(body)).toEqual([
        [
          "limit_price",
          "is only for a LIMIT order: send price_type LIMIT to enter at 189 or better, or leave limit_price out for a market order",
        ],
      ]);
    }
  });

  it("refuses a strategy the price type contradicts instead of sending it otherwise", () => {
    expect(issuesOf({ ...ORDER, strategy: "limit" })).toEqual([
      [
        "strategy",
        "limit asks for a limit entry: send price_type LIMIT with limit_price, or leave strategy out for a market order",
      ],
    ]);
    expect(
      issuesOf({ ...ORDER, strategy: "market", price_type: "LIMIT", limit_price: 189 }),
    ).toEqual([
      [
        "strategy",
        "market asks for a market entry: leave price_type and limit_price out, or strategy out for a LIMIT order",
      ],
    ]);
    expect(
      issuesOf({ ...ORDER, strategy: "limit", price_type: "LIMIT", limit_price: 189 }),
    ).toEqual([]);
    expect(issuesOf({ ...ORDER, strategy: "market" })).toEqual([]);
    expect(issuesOf({ ...ORDER, strategy: "smart" })).toEqual([]);
  });

  it("refuses fields it does not know instead of ignoring them", () => {
    expect(issuesOf({ ...ORDER, qty: 10, idempotency_key: "k-1" })).toEqual([
      [
        "",
        "unknown fields qty, idempotency_key; the fields are ticker, quantity, order_type, price_type, limit_price, stop_loss, target_price, strategy, notes; send an idempotency key as the Idempotency-Key header",
      ],
    ]);
  });
});
