import { describe, expect, it } from "vitest";
import { renderAlert } from "../../../bot/views/alert";
import type { Alert } from "../../../db/alerts";
import { dec } from "../../../domain/money";

const RECEIVED = new Date("2026-03-02T15:00:00Z");

const alert: Alert = {
  id: 1,
  externalId: "scan-1",
  accountId: null,
  symbol: "AAPL",
  pattern: "VCP",
  score: dec("0.82"),
  entryPrice: dec("190.10"),
  stopPrice: dec("186.10"),
  targetPrice: dec("200.10"),
  lastPrice: null,
  source: null,
  payload: {},
  status: "sent",
  receivedAt: RECEIVED,
  expiresAt: null,
  updatedAt: RECEIVED,
};

describe("renderAlert", () => {
  it("gives the expiry's time alone when it is today", () => {
    const text = renderAlert(
      alert,
      null,
      new Date("2026-03-02T15:30:00Z"),
      "America/New_York",
      RECEIVED,
    );
    expect(text.endsWith("Expires 10:30 EST.")).toBe(true);
  });

  it("gives the expiry's date when it is another day, so a later one is not taken for past", () => {
    const text = renderAlert(
      alert,
      null,
      new Date("2026-03-03T15:30:00Z"),
      "America/New_York",
      RECEIVED,
    );
    expect(text.endsWith("Expires Mar 3, 10:30 EST.")).toBe(true);
  });
});
