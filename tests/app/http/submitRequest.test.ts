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
