/**
 * The broker with the desk's metrics around it: order latency and broker refusals on every
 * submission, fills, slippage against the price the order was sent expecting, and stream
 * reconnects. Behaviour is unchanged; a metrics failure never reaches the caller.
 */
import type { Logger } from "pino";
import type { Database } from "../db/database";
import { findOrderByClientOrderId } from "../db/orders";
import type { Broker, TradeUpdate } from "../domain/broker";
import type { DeskMetrics } from "./metrics";

const BASIS_POINTS = 10_000;

/** Wraps a broker so its traffic feeds the metrics. */
export function instrumentBroker(
  broker: Broker,
  metrics: DeskMetrics,
  db: Database,
  logger: Logger,
): Broker {
  const observeFill = async (update: TradeUpdate): Promise<void> => {
    const { order, price } = update;
    metrics.fills.inc({ side: order.side });
    if (price === null) return;
    const stored = await findOrderByClientOrderId(db, order.clientOrderId);
    const expected = stored?.expectedPrice ?? order.limitPrice;
    if (expected === null || expected === undefined || expected.isZero()) return;
    const worse = order.side === "buy" ? price.minus(expected) : expected.minus(price);
    // A histogram takes a number; basis points are a display figure, never money arithmetic.
    metrics.slippage.observe(
      { side: order.side },
      worse.div(expected).times(BASIS_POINTS).toNumber(),
    );
  };

  return {
    ...broker,
    async submitOrder(request, options) {
      const started = performance.now();
      const result = await broker.submitOrder(request, options);
      metrics.orderLatency.observe(
        { role: request.orderClass, outcome: result.ok ? "accepted" : result.code },
        (performance.now() - started) / 1000,
      );
      if (!result.ok) metrics.rejections.inc({ code: result.code, source: "broker" });
      return result;
    },
    subscribeTradeUpdates(listener, options) {
      return broker.subscribeTradeUpdates(
        {
          onTradeUpdate(update) {
            if (update.event === "fill" || update.event === "partial_fill") {
              observeFill(update).catch((error: unknown) =>
                logger.warn({ err: error }, "fill metrics failed"),
              );
            } else if (update.event === "rejected") {
              metrics.rejections.inc({ code: "REJECTED", source: "broker" });
            }
            listener.onTradeUpdate(update);
          },
          onResyncNeeded(signal) {
            if (signal.reason === "reconnected") metrics.streamReconnects.inc();
            listener.onResyncNeeded(signal);
          },
          onStreamError(message) {
            listener.onStreamError?.(message);
          },
        },
        options,
      );
    },
  };
}
