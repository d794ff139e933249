import { describe, expect, it } from "vitest";
import { ORDER_STATUSES, type OrderStatus } from "../../domain/order";
import { isPendingRequest, isTerminal, ORDER_TRANSITIONS } from "../../domain/orderStateMachine";

/** The reference engine's statuses (docs: shared notes, ORDER-STATES.md). */
type ReferenceStatus =
  | "INITIALIZED"
  | "DENIED"
  | "SUBMITTED"
  | "ACCEPTED"
  | "TRIGGERED"
  | "PENDING_UPDATE"
  | "PENDING_CANCEL"
  | "PARTIALLY_FILLED"
  | "CANCELED"
  | "REJECTED"
  | "EXPIRED"
  | "FILLED";

/** The reference transition table, copied as data. */
const REFERENCE: Record<ReferenceStatus, readonly ReferenceStatus[]> = {
  INITIALIZED: ["DENIED", "SUBMITTED", "REJECTED", "ACCEPTED", "CANCELED", "EXPIRED", "TRIGGERED"],
  SUBMITTED: [
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "REJECTED",
    "CANCELED",
    "ACCEPTED",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  ACCEPTED: [
    "REJECTED",
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "CANCELED",
    "TRIGGERED",
    "EXPIRED",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  TRIGGERED: [
    "REJECTED",
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "CANCELED",
    "EXPIRED",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  PENDING_UPDATE: [
    "REJECTED",
    "ACCEPTED",
    "CANCELED",
    "EXPIRED",
    "TRIGGERED",
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  PENDING_CANCEL: [
    "REJECTED",
    "PENDING_CANCEL",
    "CANCELED",
    "EXPIRED",
    "ACCEPTED",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  PARTIALLY_FILLED: [
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "CANCELED",
    "EXPIRED",
    "PARTIALLY_FILLED",
    "FILLED",
  ],
  CANCELED: ["PARTIALLY_FILLED", "FILLED"],
  DENIED: [],
  REJECTED: [],
  EXPIRED: [],
  FILLED: [],
};

/**
 * Broker status -> reference status.
 * - pending_new / accepted: received by the broker, not yet working at the venue (SUBMITTED).
 * - new, accepted_for_bidding, held, done_for_day, suspended, calculated: acknowledged and resting,
 *   whether or not trading right now (ACCEPTED). `held` is a bracket leg at the broker.
 * - stopped: a trade is guaranteed but has not happened yet (TRIGGERED).
 * - replaced: the old order is finished and another takes its place (CANCELED, without late fills).
 * - pending_replace: PENDING_UPDATE. A local denial ends as `rejected` (the reference's DENIED is
 *   covered by SUBMITTED -> REJECTED, since our unsent orders start at pending_new).
 */
const MAPPING: Record<OrderStatus, ReferenceStatus> = {
  pending_new: "SUBMITTED",
  accepted: "SUBMITTED",
  accepted_for_bidding: "ACCEPTED",
  new: "ACCEPTED",
  held: "ACCEPTED",
  done_for_day: "ACCEPTED",
  suspended: "ACCEPTED",
  calculated: "ACCEPTED",
  stopped: "TRIGGERED",
  partially_filled: "PARTIALLY_FILLED",
  filled: "FILLED",
  canceled: "CANCELED",
  replaced: "CANCELED",
  expired: "EXPIRED",
  rejected: "REJECTED",
  pending_cancel: "PENDING_CANCEL",
  pending_replace: "PENDING_UPDATE",
};

const RESTING =
  "the broker distinguishes resting sub-states that the reference folds into ACCEPTED";
const RESTORE =
  "a rejected cancel/replace restores the status before the request, which may be unacknowledged";

/** Every transition of ours that the reference does not allow, with the reason it is ours anyway. */
const DELIBERATE_DIFFERENCES: ReadonlyArray<readonly [OrderStatus, OrderStatus, string]> = [
  [
    "pending_new",
    "accepted",
    "the broker reports two stages before the venue: received and routed",
  ],
  [
    "accepted",
    "pending_new",
    "the broker reports two stages before the venue: received and routed",
  ],
  ["pending_new", "expired", "a day order can expire before the acknowledgement reaches us"],
  ["accepted", "expired", "an order held outside market hours can expire unrouted"],
  ["accepted_for_bidding", "new", RESTING],
  ["new", "done_for_day", RESTING],
  ["new", "suspended", RESTING],
  ["new", "calculated", RESTING],
  ["done_for_day", "new", RESTING],
  ["done_for_day", "calculated", RESTING],
  ["suspended", "new", RESTING],
  ["held", "new", "a bracket leg activates when its entry fills"],
  ["held", "pending_new", "a bracket leg activates and is routed when its entry fills"],
  ["held", "accepted", "a bracket leg activates outside market hours and waits unrouted"],
  ["partially_filled", "done_for_day", "a partially filled day order rests until the next session"],
  ["pending_cancel", "pending_new", RESTORE],
  ["pending_cancel", "accepted", RESTORE],
  ["pending_replace", "pending_new", RESTORE],
  ["pending_replace", "accepted", RESTORE],
  [
    "canceled",
    "canceled",
    "a late partial fill after a cancel is applied but the order stays canceled: nothing works any more",
  ],
  [
    "expired",
    "expired",
    "a late partial fill on an order the books ended expired is applied; it stays expired",
  ],
  [
    "expired",
    "filled",
    "the books may end an order expired that the broker filled: real shares land on its trade",
  ],
  [
    "rejected",
    "rejected",
    "a late partial fill on an order the books ended rejected (never sent, they thought) is applied",
  ],
  [
    "rejected",
    "filled",
    "the books may end an order rejected as never sent that reached the broker and filled",
  ],
];

function referenceAllows(from: OrderStatus, to: OrderStatus): boolean {
  return REFERENCE[MAPPING[from]].includes(MAPPING[to]);
}

const ourTransitions = ORDER_STATUSES.flatMap((from) =>
  ORDER_TRANSITIONS[from].map((to) => [from, to] as const),
);

describe("order transition table against the reference", () => {
  it("has a row for every broker status and mentions only broker statuses", () => {
    expect(Object.keys(ORDER_TRANSITIONS).sort()).toEqual([...ORDER_STATUSES].sort());
    for (const [, to] of ourTransitions) expect(ORDER_STATUSES).toContain(to);
    for (const from of ORDER_STATUSES) {
      expect(new Set(ORDER_TRANSITIONS[from]).size).toBe(ORDER_TRANSITIONS[from].length);
    }
  });

  it.each(ourTransitions)(
    "%s -> %s is allowed by the reference or a listed decision",
    (from, to) => {
      const listed = DELIBERATE_DIFFERENCES.some(([f, t]) => f === from && t === to);
      expect(referenceAllows(from, to) || listed).toBe(true);
    },
  );

  it("lists only real differences: each is in our table and not allowed by the reference", () => {
    for (const [from, to, reason] of DELIBERATE_DIFFERENCES) {
      expect(ORDER_TRANSITIONS[from], `${from} -> ${to}`).toContain(to);
      expect(referenceAllows(from, to), `${from} -> ${to} is not a difference`).toBe(false);
      expect(reason.length).toBeGreaterThan(10);
    }
  });

  it("is final where the reference is final, but for late fills (replaced stricter than canceled)", () => {
    for (const from of ORDER_STATUSES) {
      if (REFERENCE[MAPPING[from]].length > 0) continue;
      for (const to of ORDER_TRANSITIONS[from]) expect(["filled", from]).toContain(to);
    }
    expect(ORDER_TRANSITIONS.filled).toEqual([]);
    expect(ORDER_TRANSITIONS.replaced).toEqual([]);
  });

  it("lets a terminal order move only by a late fill on canceled, expired or rejected", () => {
    for (const from of ORDER_STATUSES.filter(isTerminal)) {
      if (from === "canceled" || from === "expired" || from === "rejected")
        expect([...ORDER_TRANSITIONS[from]].sort()).toEqual([from, "filled"].sort());
      else expect(ORDER_TRANSITIONS[from]).toEqual([]);
    }
  });

  it("can restore every status a cancel or replace can be requested from", () => {
    for (const pending of ["pending_cancel", "pending_replace"] as const) {
      for (const from of ORDER_STATUSES) {
        if (isPendingRequest(from) || !ORDER_TRANSITIONS[from].includes(pending)) continue;
        expect(ORDER_TRANSITIONS[pending], `${pending} restores ${from}`).toContain(from);
      }
    }
  });

  it("reaches every status from a new order or a held leg", () => {
    const reached = new Set<OrderStatus>(["pending_new", "held"]);
    let frontier: OrderStatus[] = ["pending_new", "held"];
    while (frontier.length > 0) {
      frontier = frontier.flatMap((s) => ORDER_TRANSITIONS[s].filter((t) => !reached.has(t)));
      for (const s of frontier) reached.add(s);
    }
    expect([...reached].sort()).toEqual([...ORDER_STATUSES].sort());
  });
});
