import type { IncomingHttpHeaders } from "node:http";

/** What a route handler sees of the request. */
export interface RequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** What a route handler answers: status, JSON body (undefined for none) and extra headers. */
export interface RouteResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => RouteResponse | Promise<RouteResponse>;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/** A small method + path router; `{name}` segments become params. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const source = path
      .split(/(\{[a-z_]+\})/)
      .map((part) => {
        const m = /^\{([a-z_]+)\}$/.exec(part);
        if (m?.[1]) {
          names.push(m[1]);
          return "([^/]+)";
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      })
      .join("");
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** The handler and params for a request; `allowed` lists methods when only the method is wrong. */
  find(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string> } | { allowed: string[] } | null {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] ?? "");
      });
      return { handler: route.handler, params };
    }
    return allowed.length > 0 ? { allowed } : null;
  }
}

/** A JSON response. */
export function json(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): RouteResponse {
  return headers ? { status, body, headers } : { status, body };
}
