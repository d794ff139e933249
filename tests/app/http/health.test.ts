import { describe, expect, it } from "vitest";
import type { HealthCheck } from "../../../app/http/health";
import { createHttpServer } from "../../../app/http/server";
import { createLogger } from "../../../app/logger";
import { createMetrics } from "../../../app/metrics";

function serverWith(health: HealthCheck[]) {
  return createHttpServer({
    logger: createLogger({ level: "silent" }),
    metrics: createMetrics(),
    health,
    healthTimeoutMs: 200,
  });
}

const up = (name: string, required = true): HealthCheck => ({
  name,
  required,
  check: async () => ({ ok: true, detail: "fine" }),
});

describe("GET /healthz", () => {
  it("answers 200 with every component when all are up", async () => {
    const app = serverWith([up("database"), up("redis")]);
    const response = await app.inject({ method: "GET", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: "ok",
      components: { database: { status: "up", required: true }, redis: { status: "up" } },
    });
    await app.close();
  });

  it("answers 503 when a required component fails, hangs past the timeout, or throws", async () => {
    const app = serverWith([
      up("database"),
      {
        name: "broker",
        required: true,
        check: async () => ({ ok: false, detail: "UNAUTHORIZED" }),
      },
      { name: "redis", required: true, check: () => new Promise(() => {}) },
      {
        name: "stream",
        required: true,
        check: async () => {
          throw new Error("connect ECONNREFUSED postgres://desk:hunter2hunter2@db/desk");
        },
      },
    ]);
    const started = Date.now();
    const response = await app.inject({ method: "GET", url: "/healthz" });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.statusCode).toBe(503);
    const body = response.json();
    expect(body.status).toBe("down");
    expect(body.components.broker).toMatchObject({ status: "down", detail: "UNAUTHORIZED" });
    expect(body.components.redis).toMatchObject({
      status: "down",
      detail: "no answer within 200 ms",
    });
    expect(body.components.stream.status).toBe("down");
    expect(response.body).not.toContain("hunter2hunter2");
    await app.close();
  });

  it("stays 200 (degraded) when only an optional component is down", async () => {
    const app = serverWith([
      up("database"),
      { name: "telegram", required: false, check: async () => ({ ok: false }) },
    ]);
    const response = await app.inject({ method: "GET", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.json().status).toBe("degraded");
    await app.close();
  });

  it("serves Prometheus text on /metrics and JSON 404s elsewhere", async () => {
    const app = serverWith([]);
    const metrics = await app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers["content-type"]).toContain("text/plain");
    expect(metrics.body).toContain("# TYPE desk_order_latency_seconds histogram");
    expect(metrics.body).toContain("# TYPE desk_stream_reconnects_total counter");
    const missing = await app.inject({ method: "GET", url: "/nothing?x=1" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: "NOT_FOUND", message: "no route GET /nothing" });
    await app.close();
  });
});
