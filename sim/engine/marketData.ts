import { type Dec, roundToTick } from "./decimal";
import type { Quote } from "./types";

/** One OHLCV bar in the simulator's own decimal type. */
export interface Bar {
  t: Date;
  o: Dec;
  h: Dec;
  l: Dec;
  c: Dec;
  v: number;
  n: number;
  notional: Dec; // sum of price * size, for the VWAP
}

const MINUTE = 60_000;

/** Latest quotes, last trades and one-minute bars per symbol, recorded from the price feed. */
export class MarketData {
  private readonly quotes = new Map<string, Quote>();
  private readonly minuteBars = new Map<string, Bar[]>();
  private tradeSeq = 0;

  quote(symbol: string): Quote | undefined {
    return this.quotes.get(symbol);
  }

  symbols(): string[] {
    return [...this.quotes.keys()];
  }

  /**
   * Sets a quote; `last` defaults to the mid (rounded to the tick) and is recorded as a trade of
   * `lastSize` shares in the minute bar.
   */
  setQuote(
    symbol: string,
    input: { bid: Dec | null; ask: Dec | null; last?: Dec | null; size?: number },
    time: Date,
  ): Quote {
    const mid =
      input.bid && input.ask
        ? roundToTick(input.bid.plus(input.ask).div(2))
        : (input.bid ?? input.ask);
    const last = input.last ?? mid ?? this.quotes.get(symbol)?.last;
    if (!last) throw new Error(`quote for ${symbol} has no price`);
    const size = input.size ?? 100;
    this.tradeSeq += 1;
    const quote: Quote = {
      bid: input.bid,
      ask: input.ask,
      bidSize: 100,
      askSize: 100,
      last,
      lastSize: size,
      time,
      tradeId: this.tradeSeq,
    };
    this.quotes.set(symbol, quote);
    this.recordTrade(symbol, last, size, time);
    return quote;
  }

  private recordTrade(symbol: string, price: Dec, size: number, time: Date): void {
    const t = new Date(Math.floor(time.getTime() / MINUTE) * MINUTE);
    const bars = this.minuteBars.get(symbol) ?? [];
    const lastBar = bars[bars.length - 1];
    if (lastBar && lastBar.t.getTime() === t.getTime()) {
      lastBar.h = price.gt(lastBar.h) ? price : lastBar.h;
      lastBar.l = price.lt(lastBar.l) ? price : lastBar.l;
      lastBar.c = price;
      lastBar.v += size;
      lastBar.n += 1;
      lastBar.notional = lastBar.notional.plus(price.times(size));
    } else if (!lastBar || lastBar.t < t) {
      bars.push({
        t,
        o: price,
        h: price,
        l: price,
        c: price,
        v: size,
        n: 1,
        notional: price.times(size),
      });
    }
    this.minuteBars.set(symbol, bars);
  }

  /** Adds historical bars (from a replay file) without touching the latest quote. */
  addBars(symbol: string, bars: Bar[]): void {
    const existing = this.minuteBars.get(symbol) ?? [];
    const byTime = new Map(existing.map((b) => [b.t.getTime(), b]));
    for (const b of bars) byTime.set(b.t.getTime(), b);
    this.minuteBars.set(
      symbol,
      [...byTime.values()].sort((a, b) => a.t.getTime() - b.t.getTime()),
    );
  }

  /** Bars aggregated to a bucket size, within [start, end). */
  bars(symbol: string, bucket: (t: Date) => Date, start: Date, end: Date): Bar[] {
    const out: Bar[] = [];
    for (const b of this.minuteBars.get(symbol) ?? []) {
      if (b.t < start || b.t >= end) continue;
      const t = bucket(b.t);
      const cur = out[out.length - 1];
      if (cur && cur.t.getTime() === t.getTime()) {
        cur.h = b.h.gt(cur.h) ? b.h : cur.h;
        cur.l = b.l.lt(cur.l) ? b.l : cur.l;
        cur.c = b.c;
        cur.v += b.v;
        cur.n += b.n;
        cur.notional = cur.notional.plus(b.notional);
      } else {
        out.push({ ...b, t });
      }
    }
    return out;
  }

  clear(): void {
    this.quotes.clear();
    this.minuteBars.clear();
  }
}
