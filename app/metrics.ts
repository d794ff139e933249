import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { TRADING_MODES, type TradingMode } from "../domain/tradingState";

/** Queue depths by queue name and job state (waiting, active, delayed, failed). */
export type QueueDepths = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Where the gauges read their values at scrape time. */
export interface MetricsSources {
  /** Depth of each queue; absent in processes without queues. */
  readonly queueDepths?: () => Promise<QueueDepths>;
  /** Trading state of each account (by broker account row id). */
  readonly tradingStates?: () => Promise<ReadonlyArray<{ accountId: number; mode: TradingMode }>>;
}

/**
 * The desk's Prometheus metrics, in a registry of their own (no global state): order latency,
 * fills, rejections by code, slippage, queue depth, stream reconnects and trading state.
 */
export interface DeskMetrics {
  readonly registry: Registry;
  /** Seconds from submitting an order to the broker's answer, by order role and outcome. */
  readonly orderLatency: Histogram<"role" | "outcome">;
  /** Fills applied, by side. */
  readonly fills: Counter<"side">;
  /** Orders refused, by stable code and by who refused (risk checks, broker). */
  readonly rejections: Counter<"code" | "source">;
  /** Fill price against the expected price, in basis points (positive: worse for us). */
  readonly slippage: Histogram<"side">;
  /** Times the trade updates stream reconnected. */
  readonly streamReconnects: Counter;
  /** Pattern alerts received on /api/alerts, by outcome (accepted, duplicate, conflict, invalid, unauthorized). */
  readonly alerts: Counter<"outcome">;
  /** HTTP requests served, by route and status code. */
  readonly httpRequests: Counter<"route" | "status">;
  /**
   * Notices the outbox gave up (the trader never got them), by notice kind and why: `refused`
   * (Telegram refused the message or chat for good, or it cannot be rendered) or
   * `out_of_attempts`.
   */
  readonly noticesGivenUp: Counter<"kind" | "reason">;
  /** Wires the scrape-time gauges (queue depth, trading state) to their sources. */
  setSources(sources: MetricsSources): void;
  /** The metrics in Prometheus text format. */
  render(): Promise<string>;
}

/** How long a scrape waits for a source before leaving its series out (Redis or the database down). */
const SOURCE_TIMEOUT_MS = 2_000;

/**
 * A source's reading, or undefined when it fails or does not answer in time: a scrape must not
 * hang on Redis being down (its commands wait for the reconnection) nor fail as a whole, losing
 * every other series with it.
 */
async function readSource<T>(read: (() => Promise<T>) | undefined): Promise<T | undefined> {
  if (read === undefined) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SOURCE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([read(), timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Builds a fresh registry with the desk's metrics. */
export function createMetrics(): DeskMetrics {
  const registry = new Registry();
  let sources: MetricsSources = {};

  const orderLatency = new Histogram({
    name: "desk_order_latency_seconds",
    help: "Time from submitting an order to the broker's answer",
    labelNames: ["role", "outcome"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });
  const fills = new Counter({
    name: "desk_fills_total",
    help: "Fills applied to orders",
    labelNames: ["side"] as const,
    registers: [registry],
  });
  const rejections = new Counter({
    name: "desk_order_rejections_total",
    help: "Orders refused, by stable code",
    labelNames: ["code", "source"] as const,
    registers: [registry],
  });
  const slippage = new Histogram({
    name: "desk_fill_slippage_bps",
    help: "Fill price against the expected price in basis points; positive is worse for the desk",
    labelNames: ["side"] as const,
    buckets: [-50, -10, -5, 0, 5, 10, 25, 50, 100, 250],
    registers: [registry],
  });
  const streamReconnects = new Counter({
    name: "desk_stream_reconnects_total",
    help: "Times the trade updates stream reconnected",
    registers: [registry],
  });
  const alerts = new Counter({
    name: "desk_alerts_total",
    help: "Pattern alerts received on /api/alerts, by outcome",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: "desk_http_requests_total",
    help: "HTTP requests served, by route and status code",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const noticesGivenUp = new Counter({
    name: "desk_notices_given_up_total",
    help: "Notices the outbox gave up without delivering them, by notice kind and reason",
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "desk_queue_depth",
    help: "Jobs in each queue, by state",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const depths = (await readSource(sources.queueDepths)) ?? {};
      for (const [queue, states] of Object.entries(depths)) {
        for (const [state, count] of Object.entries(states)) this.set({ queue, state }, count);
      }
    },
  });
  new Gauge({
    name: "desk_trading_state",
    help: "1 for the trading state each account is in (ACTIVE, REDUCING, HALTED), 0 for the others",
    labelNames: ["account", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const states = (await readSource(sources.tradingStates)) ?? [];
      for (const { accountId, mode } of states) {
        for (const candidate of TRADING_MODES) {
          this.set({ account: String(accountId), state: candidate }, candidate === mode ? 1 : 0);
        }
      }
    },
  });

  return {
    registry,
    orderLatency,
    fills,
    rejections,
    slippage,
    streamReconnects,
    alerts,
    httpRequests,
    noticesGivenUp,
    setSources(next) {
      sources = next;
    },
    render: () => registry.metrics(),
  };
}
