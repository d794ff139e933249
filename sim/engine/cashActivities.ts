import { newYorkParts } from "./calendar";
import { type Dec, fmt } from "./decimal";

/**
 * The cash activity types the simulator books: deposit, withdrawal, cash journal, and cash moved
 * in or out between brokers (ACATS, signed).
 */
export const CASH_ACTIVITY_TYPES = ["CSD", "CSW", "JNLC", "ACATC"] as const;
export type CashActivityType = (typeof CASH_ACTIVITY_TYPES)[number];

export function isCashActivityType(type: unknown): type is CashActivityType {
  return (CASH_ACTIVITY_TYPES as readonly unknown[]).includes(type);
}

/** One cash movement booked on the account (a non-trade activity). */
export interface CashActivity {
  id: string;
  type: CashActivityType;
  /** Signed: positive into the account (a withdrawal is negative, as Alpaca reports it). */
  netAmount: Dec;
  createdAt: Date;
}

/**
 * An activity id in Alpaca's `<time>::<uuid>` form: the time part sorts the activities, so the id
 * of the last one on a page is the next page's token.
 */
export function cashActivityId(createdAt: Date, uuid: string, seq: number): string {
  const stamp = createdAt.toISOString().replace(/\D/g, "").slice(0, 17);
  return `${stamp}${String(seq).padStart(3, "0")}::${uuid}`;
}

/** A cash activity as `GET /v2/account/activities` prints it (a NonTradeActivity). */
export function cashActivityJson(a: CashActivity): Record<string, unknown> {
  return {
    id: a.id,
    activity_type: a.type,
    date: newYorkParts(a.createdAt).date,
    created_at: a.createdAt.toISOString(),
    net_amount: fmt(a.netAmount),
    currency: "USD",
    status: "executed",
  };
}

/** What `GET /v2/account/activities` was asked for. */
export interface ActivityQuery {
  /** Activity types asked for; null = every type. */
  types: readonly string[] | null;
  after: Date | null;
  until: Date | null;
  /** A `YYYY-MM-DD` New York date the activities were created on. */
  date: string | null;
  direction: "asc" | "desc";
  pageSize: number;
  pageToken: string | null;
}

/**
 * The page of cash activities a query answers: filtered by type and creation time, ordered by
 * id (time first), starting after the page token. Fills are not kept as activities here.
 */
export function listCashActivities(
  activities: readonly CashActivity[],
  q: ActivityQuery,
): CashActivity[] {
  const selected = activities.filter((a) => {
    // TRANS stands for both cash deposits and withdrawals.
    const asked =
      q.types === null ||
      q.types.includes(a.type) ||
      (q.types.includes("TRANS") && (a.type === "CSD" || a.type === "CSW"));
    if (!asked) return false;
    if (q.after && !(a.createdAt > q.after)) return false;
    if (q.until && !(a.createdAt < q.until)) return false;
    if (q.date && newYorkParts(a.createdAt).date !== q.date) return false;
    return true;
  });
  selected.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (q.direction === "desc") selected.reverse();
  const token = q.pageToken;
  const start =
    token === null
      ? 0
      : selected.findIndex((a) => (q.direction === "asc" ? a.id > token : a.id < token));
  return start < 0 ? [] : selected.slice(start, start + q.pageSize);
}
