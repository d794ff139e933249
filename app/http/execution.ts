import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { roundAveragePrice } from "../../domain/averagePrice";
import { type Decimal, parseDecimal, ZERO } from "../../domain/money";
import { ORDER_STATUSES, type OrderStatus } from "../../domain/order";
import type { PlannedSize, PricedPlan, TradeInput } from "../../domain/planTrade";
import { brokerStateOf, unsentOrderMessage } from "../execution/brokerState";
import type { ExecutionService, SubmitIdempotency } from "../execution/service";
import { fieldIssues, sendError } from "./errors";
import { tickPriceField } from "./fields";

export interface ExecutionRouteDeps {
  /** API_TOKEN; null: every request is refused (503). */
  readonly apiToken: string | null;
  /** Null in a process that does not serve the API (e.g. a worker). */
  readonly service: ExecutionService;
}

const SUBMIT_FIELDS =
  "ticker, quantity, order_type, price_type, limit_price, stop_loss, target_price, strategy, notes";

/**
 * Seed 000 section 6.5's submit request; decimals as strings or numbers. Unknown fields are
 * refused, not ignored: a misspelt `qty` would otherwise change the order silently (sized by the
 * rules), and an `idempotency_key` in the body would not protect a retry (the key is the
 * `Idempotency-Key` header).
 */
export const submitRequestSchema = z
  .strictObject(
    {
      ticker: z
        .string()
        .trim()
        .regex(/^[A-Za-z][A-Za-z0-9.]{0,9}$/, { error: "must be a ticker like AAPL" })
        .transform((s) => s.toUpperCase()),
      quantity: z
        .union([z.number(), z.string()])
        .transform((value, ctx): Decimal => {
          // A decimal comma ("1,5") is refused, never read as 15.
          const parsed = parseDecimal(String(value));
          if (parsed === null || !parsed.gt(ZERO) || !parsed.isInteger()) {
            ctx.issues.push({
              code: "custom",
              message: "must be a whole number of shares above zero",
              input: value,
            });
            return z.NEVER;
          }
          return parsed;
        })
        .optional(),
      order_type: z.enum(["BUY", "SELL", "SHORT", "COVER"], {
        error: "must be BUY, SELL, SHORT or COVER",
      }),
      price_type: z
        .enum(["MARKET", "LIMIT"], { error: "must be MARKET or LIMIT" })
        .default("MARKET"),
      // The same reading as alert intake: a price within floating-point noise of a tick is that
      // tick (190.10000000000002 from a client computing in binary floating point); one really
      // off the grid is refused, never moved.
      limit_price: tickPriceField.optional(),
      stop_loss: tickPriceField,
      target_price: tickPriceField.optional(),
      strategy: z.enum(["market", "limit", "smart"]).optional(),
      notes: z.string().max(500).optional(),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.join(", ")}; the fields are ${SUBMIT_FIELDS}${issue.keys.includes("idempotency_key") ? "; send an idempotency key as the Idempotency-Key header" : ""}`
          : undefined,
    },
  )
  .superRefine((request, ctx) => {
    if (request.price_type === "LIMIT" && request.limit_price === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["limit_price"],
        message: "is required for a LIMIT order",
      });
    }
    // price_type defaults to MARKET: a limit price sent without it must not be dropped and the
    // order sent at any price.
    if (request.price_type === "MARKET" && request.limit_price !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["limit_price"],
        message: `is only for a LIMIT order: send price_type LIMIT to enter at ${request.limit_price.toString()} or better, or leave limit_price out for a market order`,
      });
    }
    // The entry is what price_type says; a strategy saying otherwise would be ignored, and the
    // order sent in a way the client did not mean ("smart" leaves it to price_type).
    if (request.strategy === "limit" && request.price_type !== "LIMIT") {
      ctx.addIssue({
        code: "custom",
        path: ["strategy"],
        message:
          "limit asks for a limit entry: send price_type LIMIT with limit_price, or leave strategy out for a market order",
      });
    }
    if (request.strategy === "market" && request.price_type !== "MARKET") {
      ctx.addIssue({
        code: "custom",
        path: ["strategy"],
        message:
          "market asks for a market entry: leave price_type and limit_price out, or strategy out for a LIMIT order",
      });
    }
  });

/** `Idempotency-Key`: a UUID or another client-made id, unique per order the client means. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;
const IDEMPOTENCY_KEY_RULE =
  "must be 8 to 128 letters, digits, '-', '_', '.' or ':' (a UUID fits), one key per order";

type SubmitRequest = z.output<typeof submitRequestSchema>;

/**
 * The request as read, hashed: a retry of the same order hashes the same however its decimals
 * were written ("185.00" or 185), and any field changed changes the hash.
 */
function requestHashOf(body: SubmitRequest): string {
  const canonical = [
    body.ticker,
    body.quantity?.toString() ?? null,
    body.order_type,
    body.price_type,
    body.limit_price?.toString() ?? null,
    body.stop_loss.toString(),
    body.target_price?.toString() ?? null,
    body.strategy ?? null,
    body.notes ?? null,
  ];
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}

/** The accepted submit's answer but for the decision's id and time (stored for retries). */
function acceptedAnswer(plan: PricedPlan, size: PlannedSize): Record<string, unknown> {
  return {
    status: "queued",
    ticker: plan.symbol,
    side: plan.orderSide,
    quantity: size.quantity.toString(),
    price_type: plan.entryType.toUpperCase(),
    limit_price: text(plan.limitPrice),
    expected_entry: plan.expectedEntry.toString(),
    stop_loss: plan.stop.toString(),
    target_price: plan.target.toString(),
    risk_amount: size.riskAmount.toFixed(2),
    sized_quantity: size.sizing?.quantity.toString() ?? null,
  };
}

const FILLED_STATUSES: readonly OrderStatus[] = ["filled"];
const CANCELLED_STATUSES: readonly OrderStatus[] = [
  "canceled",
  "expired",
  "rejected",
  "replaced",
  "done_for_day",
];

/** The seed's order filter words and the broker statuses they cover: every status in one. */
const ORDER_STATUS_FILTERS: Readonly<
  Record<"PENDING" | "FILLED" | "CANCELLED", readonly OrderStatus[]>
> = {
  PENDING: ORDER_STATUSES.filter(
    (status) => !FILLED_STATUSES.includes(status) && !CANCELLED_STATUSES.includes(status),
  ),
  FILLED: FILLED_STATUSES,
  CANCELLED: CANCELLED_STATUSES,
};

const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before_id: z.coerce.number().int().positive().optional(),
};
const timeQuery = z.iso
  .datetime({ offset: true, error: "must be an ISO-8601 time" })
  .transform((s) => new Date(s));

/** Ticker, time range and page: what the order and fill listings filter by. */
const listQuery = {
  ticker: z
    .string()
    .trim()
    .min(1)
    .transform((s) => s.toUpperCase())
    .optional(),
  from: timeQuery.optional(),
  to: timeQuery.optional(),
  ...pageQuery,
};
const ordersQuerySchema = z.object({
  status: z.enum(["PENDING", "FILLED", "CANCELLED"]).optional(),
  ...listQuery,
});
const fillsQuerySchema = z.object(listQuery);
const logQuerySchema = z.object(pageQuery);

/** A listing query as the repositories' filter (absent fields left out). */
function listFilterOf(q: {
  ticker?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  limit: number;
  before_id?: number | undefined;
}) {
  return {
    ...(q.ticker === undefined ? {} : { symbol: q.ticker }),
    ...(q.from === undefined ? {} : { from: q.from }),
    ...(q.to === undefined ? {} : { to: q.to }),
    limit: q.limit,
    ...(q.before_id === undefined ? {} : { beforeId: q.before_id }),
  };
}

/** Parses a query string; when it does not fit, answers 400 with the fields at fault and returns null. */
function queryOf<T extends z.ZodType>(
  schema: T,
  query: unknown,
  reply: FastifyReply,
): z.output<T> | null {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  sendError(reply, 400, "INVALID_QUERY", "the query is invalid", fieldIssues(parsed.error.issues));
  return null;
}

const text = (value: Decimal | null | undefined): string | null =>
  value == null ? null : value.toString();

/** An average of fills, which need not terminate, as the desk's views show it: four decimals. */
const averageText = (value: Decimal | null | undefined): string | null =>
  value == null ? null : roundAveragePrice(value).toString();

function bearerMatches(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization;
  if (typeof header !== "string") return false;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  const given = Buffer.from(match?.[1] ?? "", "utf8");
  const expected = Buffer.from(token, "utf8");
  // Compare equal lengths only (timingSafeEqual requires it); the length itself is not secret enough to matter.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `/api/execution/*` (seed 000, section 6.5) behind a bearer token: submit (the same checks as
 * Telegram, refusals as 422 with their codes, acceptance as 202 with the queued decision),
 * positions, orders (with fills), orders/:id/cancel (enqueued), fills, account, execution-log.
 */
export function registerExecutionRoutes(app: FastifyInstance, deps: ExecutionRouteDeps): void {
  app.register(async (scope) => {
    scope.addHook("onRequest", async (request, reply) => {
      if (deps.apiToken === null) {
        return sendError(
          reply,
          503,
          "API_DISABLED",
          "the execution API is disabled: API_TOKEN is not set",
        );
      }
      if (request.headers.authorization === undefined) {
        reply.header("WWW-Authenticate", 'Bearer realm="execution"');
        return sendError(reply, 401, "MISSING_TOKEN", "send Authorization: Bearer <API_TOKEN>");
      }
      if (!bearerMatches(request, deps.apiToken)) {
        reply.header("WWW-Authenticate", 'Bearer realm="execution", error="invalid_token"');
        return sendError(reply, 401, "INVALID_TOKEN", "the bearer token is not valid");
      }
    });

    scope.post("/api/execution/submit", async (request, reply) => {
      const key = request.headers["idempotency-key"];
      if (key !== undefined && (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key))) {
        return sendError(
          reply,
          400,
          "INVALID_IDEMPOTENCY_KEY",
          `the Idempotency-Key header ${IDEMPOTENCY_KEY_RULE}`,
          [{ path: "Idempotency-Key", message: IDEMPOTENCY_KEY_RULE }],
        );
      }
      const parsed = submitRequestSchema.safeParse(request.body ?? {});
      if (!parsed.success) {
        const issues = fieldIssues(parsed.error.issues);
        return sendError(
          reply,
          400,
          "INVALID_REQUEST",
          `the order is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join("; ")}`,
          issues,
        );
      }
      const body = parsed.data;
      if (body.order_type === "SELL" || body.order_type === "COVER") {
        return sendError(
          reply,
          422,
          "UNSUPPORTED_ORDER_TYPE",
          `${body.order_type} closes a position: exits are the desk's stop and target orders, or /close in Telegram; submit BUY or SHORT entries here`,
        );
      }
      const proposal: TradeInput = {
        symbol: body.ticker,
        side: body.order_type === "BUY" ? "long" : "short",
        entryType: body.price_type === "LIMIT" ? "limit" : "market",
        limitPrice: body.price_type === "LIMIT" ? (body.limit_price ?? null) : null,
        stop: { kind: "price", price: body.stop_loss },
        target:
          body.target_price === undefined ? null : { kind: "price", price: body.target_price },
        quantity: body.quantity ?? null,
      };
      const idempotency: SubmitIdempotency | undefined =
        key === undefined
          ? undefined
          : { key, requestHash: requestHashOf(body), answerOf: acceptedAnswer };
      const outcome = await deps.service.submit(proposal, "api", body.notes ?? null, idempotency);
      if (!outcome.ok) {
        if (outcome.kind === "unavailable")
          return sendError(reply, 503, outcome.code, outcome.message);
        if (outcome.kind === "key_reused") {
          return sendError(
            reply,
            422,
            "IDEMPOTENCY_KEY_REUSED",
            `this Idempotency-Key was used for another order (decision ${outcome.decision.id}); send a new key for a new order, or the original request to get its decision again`,
          );
        }
        return reply.code(422).send({
          success: false,
          error: "RISK_CHECK_FAILED",
          message: outcome.violations.map((v) => v.message).join(" "),
          violations: outcome.violations.map((v) => ({ code: v.code, message: v.message })),
        });
      }
      const { decision } = outcome;
      // A retry answers what the first request was answered, marked as such.
      if (outcome.replayed) reply.header("Idempotent-Replayed", "true");
      return reply.code(202).send({
        success: true,
        decision_id: decision.id,
        ...(outcome.replayed
          ? (decision.submitAnswer ?? {})
          : acceptedAnswer(outcome.plan, outcome.size)),
        notes: decision.notes,
        created_at: decision.createdAt.toISOString(),
      });
    });

    scope.get("/api/execution/positions", async () => {
      const positions = await deps.service.positions();
      return {
        positions: positions.map((p) => {
          const quantity = p.position.quantity;
          const cost = p.averageCost.times(quantity.abs());
          return {
            ticker: p.position.symbol,
            quantity: quantity.toString(),
            avg_cost: averageText(p.averageCost),
            current_price: text(p.markPrice),
            market_value: text(p.marketValue),
            unrealized_pnl: text(p.unrealizedPnl),
            unrealized_pnl_pct:
              p.unrealizedPnl === null || cost.isZero()
                ? null
                : p.unrealizedPnl.div(cost).times(100).toFixed(2),
            opened_at: p.openedAt.toISOString(),
            marked_at: p.markedAt?.toISOString() ?? null,
          };
        }),
      };
    });

    scope.get("/api/execution/orders", async (request, reply) => {
      const q = queryOf(ordersQuerySchema, request.query, reply);
      if (q === null) return reply;
      const rows = await deps.service.orders({
        ...listFilterOf(q),
        ...(q.status === undefined ? {} : { statuses: ORDER_STATUS_FILTERS[q.status] }),
      });
      const last = rows.at(-1);
      return {
        orders: rows.map(({ order, fills }) => ({
          order_id: order.id,
          client_order_id: order.clientOrderId,
          broker_order_id: order.brokerOrderId,
          trade_id: order.tradeId,
          ticker: order.symbol,
          role: order.role,
          side: order.side,
          type: order.type,
          order_class: order.orderClass,
          time_in_force: order.timeInForce,
          quantity: order.quantity.toString(),
          filled_quantity: order.filledQuantity.toString(),
          avg_fill_price: averageText(order.filledAvgPrice),
          limit_price: text(order.limitPrice),
          stop_price: text(order.stopPrice),
          status: order.status,
          // Only "not_sent" when certain: an order not yet acknowledged may still go out.
          broker_state: brokerStateOf(order),
          rejection_reason: order.rejectionReason,
          created_at: order.createdAt.toISOString(),
          updated_at: order.updatedAt.toISOString(),
          fills: fills.map(fillView),
        })),
        next_before_id: rows.length === q.limit && last !== undefined ? last.order.id : null,
      };
    });

    scope.post<{ Params: { id: string } }>(
      "/api/execution/orders/:id/cancel",
      async (request, reply) => {
        const id = Number(request.params.id);
        if (!Number.isSafeInteger(id) || id <= 0) {
          return sendError(
            reply,
            400,
            "INVALID_ORDER_ID",
            "the order id must be a positive whole number",
            [{ path: "id", message: "must be a positive whole number" }],
          );
        }
        const outcome = await deps.service.cancelOrder(id, "api");
        if (!outcome.ok) return sendError(reply, outcome.status, outcome.code, outcome.message);
        return reply.code(202).send({
          success: true,
          order_id: outcome.order.id,
          trade_id: outcome.tradeId,
          status: "cancel_requested",
          message: "the cancel is queued; the order's status changes when the broker confirms it",
        });
      },
    );

    scope.get("/api/execution/fills", async (request, reply) => {
      const q = queryOf(fillsQuerySchema, request.query, reply);
      if (q === null) return reply;
      const fills = await deps.service.fills(listFilterOf(q));
      const last = fills.at(-1);
      return {
        fills: fills.map(fillView),
        next_before_id: fills.length === q.limit && last !== undefined ? last.id : null,
      };
    });

    scope.get("/api/execution/account", async () => {
      const account = await deps.service.account();
      const live = account.broker;
      return {
        account_id: live?.accountId ?? null,
        account_number: live?.accountNumber ?? null,
        account_type: live === null ? null : live.multiplier?.gt(1) ? "margin" : "cash",
        status: live?.status ?? null,
        buying_power: text(live?.buyingPower ?? account.stored.buyingPower),
        available_cash: text(live?.cash ?? account.stored.cash),
        total_equity: text(live?.equity ?? account.stored.equity),
        last_equity: text(live?.lastEquity),
        margin_available:
          live === null
            ? null
            : live.buyingPower.minus(live.cash).gt(0)
              ? live.buyingPower.minus(live.cash).toString()
              : "0",
        trading_state: account.tradingState?.mode ?? null,
        trading_state_reason: account.tradingState?.reason ?? null,
        last_synced_at: account.lastSyncedAt?.toISOString() ?? null,
        stale: live === null,
        broker_error: account.brokerError,
      };
    });

    scope.get("/api/execution/execution-log", async (request, reply) => {
      const q = queryOf(logQuerySchema, request.query, reply);
      if (q === null) return reply;
      const events = await deps.service.executionLog({
        limit: q.limit,
        ...(q.before_id === undefined ? {} : { beforeId: q.before_id }),
      });
      const last = events.at(-1);
      return {
        events: events.map((e) => ({
          id: e.id,
          event_type: e.event,
          event_time: e.occurredAt.toISOString(),
          entity: e.entity,
          entity_id: e.entityId,
          status_before: e.statusBefore,
          status_after: e.statusAfter,
          details: e.details,
          source: e.source,
          decision_id: e.decisionId,
          trade_id: e.tradeId,
          order_id: e.orderId,
          // An order the broker did not know: what it means now, and what to do about it.
          ...(e.unsentOrder === null
            ? {}
            : {
                broker_state: brokerStateOf(e.unsentOrder.order),
                message: unsentOrderMessage(
                  brokerStateOf(e.unsentOrder.order),
                  e.unsentOrder.order.status,
                ),
              }),
        })),
        next_before_id: events.length === q.limit && last !== undefined ? last.id : null,
      };
    });
  });
}

function fillView(fill: {
  id: number;
  orderId: number;
  symbol: string;
  side: string;
  quantity: Decimal;
  price: Decimal;
  commission: Decimal;
  orderAvgPrice: Decimal;
  filledAt: Date;
  executionId: string;
}) {
  return {
    fill_id: fill.id,
    order_id: fill.orderId,
    execution_id: fill.executionId,
    ticker: fill.symbol,
    side: fill.side,
    quantity: fill.quantity.toString(),
    fill_price: fill.price.toString(),
    fill_time: fill.filledAt.toISOString(),
    commission: fill.commission.toString(),
    fees: "0",
    avg_fill_price: averageText(fill.orderAvgPrice),
  };
}
