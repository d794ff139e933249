import { describe, expect, it } from "vitest";
import { roundAveragePrice } from "../../domain/averagePrice";
import { dec } from "../../domain/money";

describe("roundAveragePrice", () => {
  it("rounds an average of fills half up to four decimals and leaves a short one as it is", () => {
    expect(roundAveragePrice(dec("28517.5").div(150)).toString()).toBe("190.1167");
    expect(roundAveragePrice(dec("190.11665")).toString()).toBe("190.1167");
    expect(roundAveragePrice(dec("190.1")).toString()).toBe("190.1");
    expect(roundAveragePrice(dec("0.12345")).toString()).toBe("0.1235");
  });
});
