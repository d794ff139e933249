import { describe, expect, it } from "vitest";
import { alpacaUrls } from "../../../broker/alpaca/client";

describe("alpacaUrls", () => {
  it("picks paper or live hosts, market data on one host", () => {
    expect(alpacaUrls(true)).toEqual({
      tradingUrl: "https://paper-api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
    expect(alpacaUrls(false)).toEqual({
      tradingUrl: "https://api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://api.alpaca.markets/stream",
    });
  });

  it("takes overrides, such as the simulator's address, and ignores empty ones", () => {
    expect(
      alpacaUrls(true, {
        tradingUrl: "http://127.0.0.1:5800",
        dataUrl: "http://127.0.0.1:5800",
        streamUrl: "",
      }),
    ).toEqual({
      tradingUrl: "http://127.0.0.1:5800",
      dataUrl: "http://127.0.0.1:5800",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
  });
});
