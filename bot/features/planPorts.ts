/**
 * What /plan and the alert buttons need from outside the bot. The bot never sends orders: a
 * confirmed plan is stored as a decision and handed to the jobs through `DecisionSubmitter`
 * (runtime: jobs/client.ts `executeDecision`).
 *
 * `MarketFacts` is the one read path from the bot to the broker: read-only facts a plan must show
 * or check while the trader answers (is the symbol tradable or shortable, the last quote, the
 * account's equity, positions and orders for the pre-trade checks). The runtime implements it
 * with the broker adapter (getAsset, getLatestQuotes, app/accountSnapshot.ts), tests with the same
 * adapter against the simulator. Nothing else in bot/ may reach the broker.
 */
import type { Alert } from "../../db/alerts";
import type { AlertOwnExpiry } from "../../domain/alertSession";
import type { AccountSnapshot } from "../../domain/riskChecks";

/** The broker's facts about a symbol. */
export interface AssetFacts {
  readonly symbol: string;
  readonly name: string;
  /** Tradable and active at the broker. */
  readonly tradable: boolean;
  readonly shortable: boolean;
  readonly fractionable: boolean;
}

/** The latest quote, decimals as strings (null when the broker has none). */
export interface QuoteFacts {
  readonly bid: string | null;
  readonly ask: string | null;
  readonly last: string | null;
}

/** Read-only broker facts. Failed I/O throws; an unknown symbol is null. */
export interface MarketFacts {
  getAsset(symbol: string): Promise<AssetFacts | null>;
  getLatestQuote(symbol: string): Promise<QuoteFacts | null>;
  /** A fresh snapshot of the account for the pre-trade checks, with these symbols' quotes and flags. */
  getAccountSnapshot(accountId: number, symbols: readonly string[]): Promise<AccountSnapshot>;
}

/** Hands an approved decision to the jobs; idempotent by decision id. */
export interface DecisionSubmitter {
  submit(decisionId: number): Promise<void>;
}

/** Timings of plans and alerts; every field has a default. */
export interface PlanningSettings {
  /** How long a plan card's Confirm stays valid (default 2 minutes). */
  readonly confirmationMs?: number;
  /**
   * How long an alert without its own expiry can be approved (default 30 minutes), from its
   * receipt, or from the next open for one that arrives while the market is closed.
   */
  readonly alertLifetimeMs?: number;
  /** A symbol alerted again within this window is not sent again (default 6 hours). */
  readonly alertSuppressionMs?: number;
  /** How long a confirmed plan's message follows its order (default 10 minutes; 0: not at all). */
  readonly orderFollowMs?: number;
}

export const DEFAULT_CONFIRMATION_MS = 2 * 60_000;
export const DEFAULT_ALERT_LIFETIME_MS = 30 * 60_000;
export const DEFAULT_ALERT_SUPPRESSION_MS = 6 * 60 * 60_000;
export const DEFAULT_ORDER_FOLLOW_MS = 10 * 60_000;

/**
 * An alert's own expiry: the scanner's `expires_at`, else the desk's lifetime. The lifetime is
 * counted from the open of the alert's session when it arrives outside one (alertDeadline,
 * domain/alertSession.ts), so an alert issued overnight is not expired before any session opens.
 */
export function alertOwnExpiry(
  alert: Pick<Alert, "expiresAt">,
  deps: { readonly planning?: PlanningSettings | undefined },
): AlertOwnExpiry {
  if (alert.expiresAt !== null) return { at: alert.expiresAt.getTime() };
  return { lifetimeMs: deps.planning?.alertLifetimeMs ?? DEFAULT_ALERT_LIFETIME_MS };
}
