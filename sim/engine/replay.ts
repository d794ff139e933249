import { type Dec, parseDec } from "./decimal";

/** One price print from a replayed bar. */
export interface ReplayTick {
  t: Date;
  symbol: string;
  price: Dec;
  size: number;
}

/** A historical bar read from a file, in the simulator's decimal type. */
export interface ReplayBar {
  symbol: string;
  t: Date;
  o: Dec;
  h: Dec;
  l: Dec;
  c: Dec;
  v: number;
}

/**
 * Plays bars as prices when the simulated clock passes their start time: open, then the extreme
 * nearer the open's direction, the other extreme, and the close, so stops and limits inside the
 * bar's range are reached the way the bar says they were.
 */
export class ReplayFeed {
  private readonly ticks: ReplayTick[];

  constructor(bars: ReplayBar[]) {
    this.ticks = bars
      .flatMap((b) => {
        const size = Math.max(1, Math.floor(b.v / 4));
        const path = b.c.gte(b.o) ? [b.o, b.l, b.h, b.c] : [b.o, b.h, b.l, b.c];
        return path.map((price, i) => ({
          t: new Date(b.t.getTime() + i * 15_000),
          symbol: b.symbol,
          price,
          size,
        }));
      })
      .sort((a, b) => a.t.getTime() - b.t.getTime());
  }

  /** Ticks with from < t <= to. */
  due(from: Date, to: Date): ReplayTick[] {
    return this.ticks.filter((tick) => tick.t > from && tick.t <= to);
  }

  size(): number {
    return this.ticks.length;
  }
}

function field(row: Record<string, unknown>, ...names: string[]): unknown {
  for (const n of names) if (row[n] !== undefined) return row[n];
  return undefined;
}

function toBar(row: Record<string, unknown>, fallbackSymbol: string | null): ReplayBar {
  const symbol = String(field(row, "symbol", "S") ?? fallbackSymbol ?? "").toUpperCase();
  const t = new Date(String(field(row, "t", "timestamp", "time")));
  const num = (...names: string[]) => {
    const d = parseDec(field(row, ...names));
    if (!d) throw new Error(`bar ${JSON.stringify(row)} lacks ${names[0]}`);
    return d;
  };
  if (!symbol || Number.isNaN(t.getTime()))
    throw new Error(`bar ${JSON.stringify(row)} lacks symbol or time`);
  return {
    symbol,
    t,
    o: num("o", "open"),
    h: num("h", "high"),
    l: num("l", "low"),
    c: num("c", "close"),
    v: Number(field(row, "v", "volume") ?? 0),
  };
}

/**
 * Reads bars from CSV (header with symbol,t,o,h,l,c,v or the long names) or JSON (Alpaca's
 * `{"bars": {"AAPL": [...]}}`, or an array of bars with a symbol each). `symbol` names the
 * instrument when the file holds one symbol without a symbol column.
 */
export function parseBarsFile(text: string, symbol: string | null = null): ReplayBar[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const json: unknown = JSON.parse(trimmed);
    if (Array.isArray(json)) return json.map((r) => toBar(r as Record<string, unknown>, symbol));
    const bars = (json as { bars?: unknown }).bars;
    if (Array.isArray(bars)) {
      const sym = (json as { symbol?: string }).symbol ?? symbol;
      return bars.map((r) => toBar(r as Record<string, unknown>, sym));
    }
    if (bars && typeof bars === "object") {
      return Object.entries(bars as Record<string, unknown[]>).flatMap(([sym, list]) =>
        list.map((r) => toBar(r as Record<string, unknown>, sym)),
      );
    }
    throw new Error("JSON bars file must be an array or {bars: ...}");
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (lines.shift() ?? "").split(",").map((h) => h.trim().toLowerCase());
  return lines.map((line) => {
    const cells = line.split(",").map((c) => c.trim());
    const row: Record<string, unknown> = {};
    header.forEach((h, i) => {
      row[h] = cells[i];
    });
    return toBar(row, symbol);
  });
}
