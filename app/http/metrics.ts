import type { FastifyInstance } from "fastify";
import type { DeskMetrics } from "../metrics";

/** `GET /metrics`: the desk's metrics in Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, metrics: DeskMetrics): void {
  app.get("/metrics", async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
