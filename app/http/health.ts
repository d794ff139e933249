import type { FastifyInstance } from "fastify";
import { redactText } from "../redact";

/** What one dependency check found: up or down, with a short detail for the operator. */
export interface ComponentStatus {
  readonly ok: boolean;
  readonly detail?: string;
}

/** One dependency the process needs (database, Redis, broker, stream, Telegram). */
export interface HealthCheck {
  readonly name: string;
  /** A required component being down makes the whole process unhealthy (503). */
  readonly required: boolean;
  check(): Promise<ComponentStatus>;
}

export interface HealthReport {
  readonly status: "ok" | "degraded" | "down";
  readonly components: Record<
    string,
    {
      readonly status: "up" | "down";
      readonly required: boolean;
      readonly detail?: string;
      readonly ms: number;
    }
  >;
}

export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

/**
 * Runs every check at once, each bounded by `timeoutMs` (a hung dependency counts as down).
 * `ok` when all are up, `degraded` when only optional ones are down, `down` otherwise.
 */
export async function checkHealth(
  checks: readonly HealthCheck[],
  timeoutMs: number = DEFAULT_HEALTH_TIMEOUT_MS,
): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check) => {
      const started = performance.now();
      const status = await withTimeout(check, timeoutMs);
      return { check, status, ms: Math.round(performance.now() - started) };
    }),
  );
  const components: Record<string, HealthReport["components"][string]> = {};
  let requiredDown = false;
  let optionalDown = false;
  for (const { check, status, ms } of results) {
    components[check.name] = {
      status: status.ok ? "up" : "down",
      required: check.required,
      ...(status.detail === undefined ? {} : { detail: status.detail }),
      ms,
    };
    if (!status.ok && check.required) requiredDown = true;
    if (!status.ok && !check.required) optionalDown = true;
  }
  return { status: requiredDown ? "down" : optionalDown ? "degraded" : "ok", components };
}

async function withTimeout(check: HealthCheck, timeoutMs: number): Promise<ComponentStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ComponentStatus>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      check.check().catch(
        (error: unknown): ComponentStatus => ({
          ok: false,
          // Connection errors can quote a URL with its password.
          detail: redactText(error instanceof Error ? error.message : String(error)),
        }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `GET /healthz`: 200 when every required component is up, 503 otherwise; JSON per component. */
export function registerHealthRoute(
  app: FastifyInstance,
  checks: readonly HealthCheck[],
  timeoutMs: number = DEFAULT_HEALTH_TIMEOUT_MS,
): void {
  app.get("/healthz", async (_request, reply) => {
    const report = await checkHealth(checks, timeoutMs);
    return reply.code(report.status === "down" ? 503 : 200).send(report);
  });
}
