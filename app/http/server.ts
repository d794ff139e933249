import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { Logger } from "pino";
import type { DeskMetrics } from "../metrics";
import { type AlertRouteDeps, registerAlertRoutes } from "./alerts";
import { sendError } from "./errors";
import { type ExecutionRouteDeps, registerExecutionRoutes } from "./execution";
import { type HealthCheck, registerHealthRoute } from "./health";
import { registerMetricsRoute } from "./metrics";

export interface HttpServerDeps {
  readonly logger: Logger;
  readonly metrics: DeskMetrics;
  /** Dependencies `/healthz` checks. */
  readonly health: readonly HealthCheck[];
  readonly healthTimeoutMs?: number;
  /** `/api/alerts`; absent in processes that do not receive alerts (a worker). */
  readonly alerts?: Omit<AlertRouteDeps, "logger" | "metrics">;
  /** `/api/execution/*`; absent in processes that do not serve the API (a worker). */
  readonly execution?: ExecutionRouteDeps;
  /** The Telegram bot's webhook route; absent when the bot polls or does not run here. */
  readonly telegramWebhook?: {
    readonly path: string;
    readonly handle: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  };
  /** Largest body of any other request (default 64 KiB). */
  readonly bodyLimitBytes?: number;
}

const STATUS_CODES: Readonly<Record<number, string>> = {
  400: "BAD_REQUEST",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
};

/**
 * The desk's HTTP server: `/api/alerts`, `/api/execution/*`, `/healthz`, `/metrics`, and the
 * Telegram webhook in webhook mode. Every
 * error is JSON `{ error, message }`; unexpected failures answer 500 without details and are
 * logged. Listen with `app.listen({ port, host })`; close with `app.close()`.
 */
export function createHttpServer(deps: HttpServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: "http" }) as FastifyBaseLogger,
    // Requests are logged once, at debug, by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes ?? 64 * 1024,
    // Answer health checks and scrapes while closing; in-flight requests finish first.
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    deps.metrics.httpRequests.inc({ route, status: String(reply.statusCode) });
    request.log.debug(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      "request served",
    );
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        error.code === "FST_ERR_CTP_INVALID_JSON_BODY" ||
        error.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
          ? "INVALID_JSON"
          : (STATUS_CODES[status] ?? "BAD_REQUEST");
      const message =
        status === 413 ? "the request body is larger than this endpoint accepts" : error.message;
      return sendError(reply, status, code, message);
    }
    request.log.error({ err: error, method: request.method, url: request.url }, "request failed");
    return sendError(
      reply,
      500,
      "INTERNAL_ERROR",
      "the request could not be completed; see the server log",
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`),
  );

  registerHealthRoute(app, deps.health, deps.healthTimeoutMs);
  registerMetricsRoute(app, deps.metrics);
  if (deps.alerts !== undefined) {
    registerAlertRoutes(app, {
      ...deps.alerts,
      logger: deps.logger.child({ component: "alerts" }),
      metrics: deps.metrics,
    });
  }
  if (deps.execution !== undefined) registerExecutionRoutes(app, deps.execution);
  if (deps.telegramWebhook !== undefined) {
    app.post(deps.telegramWebhook.path, deps.telegramWebhook.handle);
  }
  return app;
}
