/**
 * What the desk's trading commands hand to the rest of the system. The bot never calls the
 * broker: it records the request in the database and asks the jobs to carry it out through these
 * ports, which the runtime implements with the job client (jobs/client.ts).
 */

/** Requests the bot enqueues for the lifecycle jobs. Each must be idempotent by its ids. */
export interface TradingRequests {
  /** Cancels a trade's working entry (the CANCEL execute job). */
  cancelEntry(request: {
    readonly accountId: number;
    readonly tradeId: number;
    readonly reason: string;
    readonly requestedBy: string;
  }): Promise<void>;
  /**
   * Closes a position with a market exit (MANUAL_EXIT): all of it when `percent` is null, else
   * that percentage of the open quantity. `requestId` is unique per confirmation.
   */
  closePosition(request: {
    readonly accountId: number;
    readonly symbol: string;
    /** Percent as a decimal string ("50"), or null for the whole position. */
    readonly percent: string | null;
    readonly requestedBy: string;
    readonly requestId: string;
  }): Promise<void>;
  /**
   * Cancels every working entry of the account at the broker (stops and targets stay): what a
   * halt means. Idempotent; the jobs sweep again shortly after for entries still in flight.
   */
  cancelWorkingEntries(request: {
    readonly accountId: number;
    readonly reason: string;
  }): Promise<void>;
  /** Closes every position (FLATTENED); the account is already HALTED when this is called. */
  flatten(request: {
    readonly accountId: number;
    readonly requestedBy: string;
    readonly requestId: string;
  }): Promise<void>;
}

/** Whether /resume may lift a halt now, as far as the day's loss goes. */
export type ResumeVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly message: string };

/**
 * The daily-loss check /resume asks before lifting a halt: refused while the day's loss is beyond
 * the limit unless a reason is given. The kill-switch work supplies it; without it, allowed.
 */
export type DailyLossAllowsResume = (request: {
  readonly accountId: number;
  readonly reason: string | null;
}) => Promise<ResumeVerdict>;

/** The default until the kill switch provides the real check. */
export const alwaysAllowResume: DailyLossAllowsResume = async () => ({ allowed: true });
