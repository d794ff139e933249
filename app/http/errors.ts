import type { FastifyReply } from "fastify";

/** One problem with a request field: where (dotted path, e.g. `entry` or `legs.0.price`) and what. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** The JSON body of every error answer: a stable code, a sentence, and field issues when there are any. */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly issues?: readonly FieldIssue[];
}

/** Sends a JSON error answer. */
export function sendError(
  reply: FastifyReply,
  status: number,
  error: string,
  message: string,
  issues?: readonly FieldIssue[],
): FastifyReply {
  const body: ErrorBody = issues === undefined ? { error, message } : { error, message, issues };
  return reply.code(status).type("application/json; charset=utf-8").send(body);
}

/** Zod issues as field issues with dotted paths (`(root)` for the whole body). */
export function fieldIssues(
  issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>,
): FieldIssue[] {
  return issues.map((issue) => ({
    path: issue.path.length === 0 ? "(root)" : issue.path.map(String).join("."),
    message: issue.message,
  }));
}
