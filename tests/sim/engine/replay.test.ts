import { describe, expect, it } from "vitest";
import { parseBarsFile, ReplayFeed } from "../../../sim/engine/replay";

describe("bars files", () => {
  it("reads CSV with short or long column names", () => {
    const short = parseBarsFile(
      "symbol,t,o,h,l,c,v\nspy,2026-03-02T14:30:00Z,560,561,559.5,560.5,1000\n",
    );
    const long = parseBarsFile(
      "timestamp,open,high,low,close,volume\n2026-03-02T14:30:00Z,560,561,559.5,560.5,1000",
      "SPY",
    );
    for (const bars of [short, long]) {
      expect(bars).toHaveLength(1);
      expect(bars[0]?.symbol).toBe("SPY");
      expect(bars[0]?.h.toFixed()).toBe("561");
      expect(bars[0]?.t.toISOString()).toBe("2026-03-02T14:30:00.000Z");
    }
  });

  it("reads Alpaca's multi-symbol and single-symbol bars JSON", () => {
    const multi = parseBarsFile(
      JSON.stringify({
        bars: {
          AAPL: [
            {
              t: "2026-03-02T14:30:00Z",
              o: 190,
              h: 191,
              l: 189,
              c: 190.5,
              v: 100,
              n: 3,
              vw: 190.2,
            },
          ],
          MSFT: [{ t: "2026-03-02T14:30:00Z", o: 410, h: 411, l: 409, c: 410.5, v: 50 }],
        },
        next_page_token: null,
      }),
    );
    expect(multi.map((b) => b.symbol)).toEqual(["AAPL", "MSFT"]);
    expect(multi[0]?.c.toFixed()).toBe("190.5");
    const single = parseBarsFile(
      JSON.stringify({
        symbol: "NVDA",
        bars: [{ t: "2026-03-02T14:30:00Z", o: 1, h: 2, l: 0.5, c: 1.5, v: 9 }],
      }),
    );
    expect(single[0]?.symbol).toBe("NVDA");
  });

  it("refuses bars without prices or time", () => {
    expect(() => parseBarsFile("symbol,t,o\nAAPL,2026-03-02T14:30:00Z,190")).toThrow(/lacks h/);
    expect(() => parseBarsFile('[{"symbol":"AAPL","o":1,"h":1,"l":1,"c":1}]')).toThrow(
      /symbol or time/,
    );
  });

  it("plays each bar as open, near extreme, far extreme, close", () => {
    const feed = new ReplayFeed(
      parseBarsFile(
        "symbol,t,o,h,l,c,v\nAAPL,2026-03-02T14:30:00Z,100,105,99,104,400\nAAPL,2026-03-02T14:31:00Z,104,104.5,98,99,400",
      ),
    );
    const ticks = feed.due(new Date("2026-03-02T14:29:59Z"), new Date("2026-03-02T14:32:00Z"));
    expect(ticks.map((t) => t.price.toFixed())).toEqual([
      "100",
      "99",
      "105",
      "104",
      "104",
      "104.5",
      "98",
      "99",
    ]);
    expect(ticks[1]?.t.toISOString()).toBe("2026-03-02T14:30:15.000Z");
    expect(
      feed.due(new Date("2026-03-02T14:30:30Z"), new Date("2026-03-02T14:30:59Z")),
    ).toHaveLength(1);
  });
});
