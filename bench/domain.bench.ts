/**
 * Domain benchmarks: pre-trade risk check latency against an account with 100 open positions,
 * and position sizing throughput. Inputs come from a seeded generator, so runs are comparable.
 */
import { Decimal, dec } from "../domain/money";
import {
  type AccountSnapshot,
  type AssetFlags,
  checkOrder,
  type PositionView,
  type ProposedOrder,
  prepareSnapshot,
  type QuoteView,
  type RecentOrder,
  type WorkingOrderView,
} from "../domain/riskChecks";
import { DEFAULT_RISK_LIMITS, type RiskLimits } from "../domain/riskLimits";
import { type SizingMethod, type SizingRequest, sizePosition } from "../domain/sizing";
import { roundToTick } from "../domain/tick";
import type { TradingState } from "../domain/tradingState";
import { seededRandom } from "../sim/engine/randomWalk";

const ORDERS = 100_000;
const WARM_UP = 20_000;
const POSITIONS = 100;
const SIZING_CALLS = 100_000;

const random = seededRandom(20260309);
const pick = <T>(items: readonly T[]): T => {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
};
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const cents = (n: number) => roundToTick(new Decimal(n.toFixed(4)), "nearest");

const SECTORS = [
  "Technology",
  "Energy",
  "Health",
  "Financials",
  "Industrials",
  "Consumer",
  "Utilities",
];
const NOW = Date.parse("2026-03-09T15:00:00Z");

interface Universe {
  readonly symbols: readonly string[];
  readonly mid: ReadonlyMap<string, number>;
  readonly snapshot: AccountSnapshot;
}

function buildUniverse(): Universe {
  const symbols = Array.from({ length: 160 }, (_, i) => `SYM${String(i).padStart(3, "0")}`);
  const mid = new Map<string, number>();
  const quotes = new Map<string, QuoteView>();
  const assets = new Map<string, AssetFlags>();
  const sectors = new Map<string, string>();
  for (const [i, symbol] of symbols.entries()) {
    const m = i % 40 === 0 ? between(0.2, 0.9) : between(5, 600);
    mid.set(symbol, m);
    const spread = m < 1 ? 0.0002 : 0.01;
    quotes.set(symbol, {
      bid: cents(m - spread),
      ask: cents(m + spread),
      last: cents(m),
    });
    assets.set(symbol, {
      tradable: random() > 0.02,
      shortable: random() > 0.1,
      fractionable: random() > 0.5,
    });
    if (random() > 0.05) sectors.set(symbol, pick(SECTORS));
  }
  const positions: PositionView[] = symbols.slice(0, POSITIONS).map((symbol) => {
    const m = mid.get(symbol) ?? 1;
    const qty = Math.max(1, Math.round(between(2000, 8000) / m));
    const signed = random() > 0.85 ? -qty : qty;
    return { symbol, quantity: dec(signed), marketValue: cents(signed * m).times(1) };
  });
  const workingOrders: WorkingOrderView[] = Array.from({ length: 40 }, (_, i) => {
    const symbol = pick(symbols);
    const m = mid.get(symbol) ?? 1;
    return {
      symbol,
      side: random() > 0.5 ? "buy" : "sell",
      role: i % 2 === 0 ? "ENTRY" : "STOP_LOSS",
      remainingQuantity: dec(Math.ceil(between(1, 50))),
      limitPrice: i % 2 === 0 ? cents(m) : null,
      stopPrice: i % 2 === 0 ? null : cents(m * 0.95),
    };
  });
  const recentOrders: RecentOrder[] = Array.from({ length: 60 }, () => {
    const symbol = pick(symbols);
    return {
      symbol,
      side: random() > 0.5 ? "buy" : "sell",
      quantity: dec(Math.ceil(between(1, 200))),
      limitPrice: cents(mid.get(symbol) ?? 1),
      stopPrice: null,
      submittedAt: NOW - Math.floor(between(0, 300_000)),
    };
  });
  const snapshot: AccountSnapshot = {
    equity: dec("1000000"),
    buyingPower: dec("1500000"),
    positions,
    workingOrders,
    recentOrders,
    quotes,
    assets,
    sectors,
    market: { open: true },
  };
  return { symbols, mid, snapshot };
}

function randomOrder(u: Universe): ProposedOrder {
  const symbol = pick(u.symbols);
  const m = u.mid.get(symbol) ?? 1;
  const side = random() > 0.3 ? "buy" : "sell";
  const market = random() < 0.2;
  const entry = m * between(0.93, 1.07);
  const stopDistance = entry * between(0.005, 0.06);
  const sign = side === "buy" ? 1 : -1;
  const offTick = random() < 0.02;
  return {
    symbol,
    side,
    type: market ? "market" : "limit",
    quantity: dec(Math.ceil(between(1, 400))),
    limitPrice: market ? null : offTick ? new Decimal(entry.toFixed(5)) : cents(entry),
    stopLossPrice: cents(entry - sign * stopDistance),
    takeProfitPrice: random() < 0.8 ? cents(entry + sign * stopDistance * between(1, 4)) : null,
  };
}

function percentile(sorted: BigInt64Array, p: number): bigint {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? 0n;
}

const micro = (ns: bigint) => (Number(ns) / 1000).toFixed(2);

function benchCheckOrder(): void {
  const universe = buildUniverse();
  const limits: RiskLimits = DEFAULT_RISK_LIMITS;
  const state: TradingState = { mode: "ACTIVE", setBy: "AUTO", reason: "", since: 0 };
  const orders = Array.from({ length: ORDERS }, () => randomOrder(universe));
  const warmUp = Array.from({ length: WARM_UP }, () => randomOrder(universe));

  // The per-snapshot work, paid once per fresh account snapshot.
  const prepareTimes = new BigInt64Array(2000);
  for (let i = 0; i < prepareTimes.length; i++) {
    const start = process.hrtime.bigint();
    prepareSnapshot(universe.snapshot);
    prepareTimes[i] = process.hrtime.bigint() - start;
  }
  prepareTimes.sort();

  const prepared = prepareSnapshot(universe.snapshot);
  for (const o of warmUp) checkOrder(o, prepared, limits, state, NOW);

  const times = new BigInt64Array(ORDERS);
  let passed = 0;
  const codes = new Map<string, number>();
  for (let i = 0; i < ORDERS; i++) {
    const o = orders[i];
    if (o === undefined) continue;
    const start = process.hrtime.bigint();
    const result = checkOrder(o, prepared, limits, state, NOW);
    times[i] = process.hrtime.bigint() - start;
    if (result.ok) passed++;
    else for (const v of result.violations) codes.set(v.code, (codes.get(v.code) ?? 0) + 1);
  }
  times.sort();

  const topCodes = [...codes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([code, n]) => `${code} ${((n / ORDERS) * 100).toFixed(0)}%`)
    .join(", ");
  process.stdout.write(
    [
      `checkOrder, ${ORDERS} random orders, ${POSITIONS} open positions, prepared snapshot:`,
      `  p50 ${micro(percentile(times, 50))} us  p99 ${micro(percentile(times, 99))} us  max ${micro(times[times.length - 1] ?? 0n)} us (target p99 <= 50 us)`,
      `  ${((passed / ORDERS) * 100).toFixed(1)}% passed; most frequent violations: ${topCodes}`,
      `prepareSnapshot (once per snapshot, ${prepareTimes.length} runs):`,
      `  p50 ${micro(percentile(prepareTimes, 50))} us  p99 ${micro(percentile(prepareTimes, 99))} us`,
      "",
    ].join("\n"),
  );
}

function benchSizing(): void {
  const methods: SizingMethod[] = ["risk_percent", "conservative", "aggressive", "half_kelly"];
  const requests: SizingRequest[] = Array.from({ length: SIZING_CALLS }, () => {
    const entry = between(1, 500);
    const long = random() > 0.3;
    const distance = entry * between(0.005, 0.08);
    const sign = long ? 1 : -1;
    return {
      method: pick(methods),
      side: long ? "long" : "short",
      entry: cents(entry),
      stop: cents(entry - sign * distance),
      target: cents(entry + sign * distance * between(1.5, 3)),
      equity: dec(Math.round(between(10_000, 1_000_000))),
      buyingPower: dec(Math.round(between(10_000, 2_000_000))),
      riskPercent: dec("1"),
      maxRiskPercent: dec("2"),
      maxPositionPercent: dec("5"),
      fractional: random() > 0.5,
      kelly: { winRate: dec(between(0.35, 0.65).toFixed(2)) },
    };
  });
  for (const r of requests.slice(0, 10_000)) sizePosition(r);
  let sized = 0;
  const start = process.hrtime.bigint();
  for (const r of requests) if (sizePosition(r).ok) sized++;
  const elapsedNs = process.hrtime.bigint() - start;
  const perSecond = (SIZING_CALLS * 1e9) / Number(elapsedNs);
  process.stdout.write(
    [
      `sizePosition, ${SIZING_CALLS} random requests (all four methods):`,
      `  ${Math.round(perSecond).toLocaleString("en-US")} calls/s (${(Number(elapsedNs) / SIZING_CALLS / 1000).toFixed(2)} us per call), ${((sized / SIZING_CALLS) * 100).toFixed(1)}% sized`,
      "",
    ].join("\n"),
  );
}

export default async function run(): Promise<void> {
  benchCheckOrder();
  benchSizing();
}
