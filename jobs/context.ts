/**
 * What every processor receives: the database, a broker per account, the clock, a logger, the
 * job client for the next step, ids, and the settings. Processors are built by factories
 * (`createExecuteProcessor(deps)`), never from module state, so tests and a second account
 * wire their own.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Database } from "../db/database";
import type { Broker } from "../domain/broker";
import type { JobClient } from "./client";

/**
 * When entries are sent: at once, or only inside a daily window in New York time on trading
 * days (seed 004 ran its executor at 09:45 ET). A decision due outside the window waits for the
 * next window opening.
 */
export type ExecutionWindow =
  | { readonly kind: "immediate" }
  | {
      readonly kind: "window";
      /** `HH:MM` New York time, inclusive. */
      readonly start: string;
      /** `HH:MM` New York time, exclusive; cut at the session close on a half day. */
      readonly end: string;
    };

export interface JobSettings {
  readonly executionWindow: ExecutionWindow;
  /**
   * Send entries as native brackets when they can be (default true). Off, every entry is a
   * simple order and the protect job places an OCO stop and target on each fill.
   */
  readonly nativeBrackets: boolean;
  /** How far back polling lists orders (default 24 h). */
  readonly pollLookbackMs: number;
  /** Longest an account's stream lease lives without renewal (default 15 s). */
  readonly streamLeaseMs: number;
  /** Workers per queue in one process (default 8). */
  readonly concurrency: number;
}

export const DEFAULT_JOB_SETTINGS: JobSettings = {
  executionWindow: { kind: "immediate" },
  nativeBrackets: true,
  pollLookbackMs: 24 * 3600 * 1000,
  streamLeaseMs: 15_000,
  concurrency: 8,
};

export interface JobDeps {
  readonly db: Database;
  /** The broker of an account (the Alpaca adapter, or the simulator through it). */
  brokerFor(accountId: number): Broker | Promise<Broker>;
  /** The clock; never read elsewhere. */
  now(): Date;
  readonly logger: Logger;
  /** Enqueues the next step. */
  readonly jobs: JobClient;
  /** A fresh unique id (for lease tokens and the like). */
  newId(): string;
  readonly settings: JobSettings;
  /**
   * Telegram chats told about an account's events. Defaults to the account owner, or every
   * admin and trader when the account has no owner (see `notices.ts`).
   */
  recipientsFor?(accountId: number): Promise<readonly number[]>;
}

/** Fills the optional parts of the dependencies with their defaults. */
export function createJobDeps(
  deps: Omit<JobDeps, "now" | "newId" | "settings"> & {
    readonly now?: () => Date;
    readonly newId?: () => string;
    readonly settings?: Partial<JobSettings>;
  },
): JobDeps {
  return {
    ...deps,
    now: deps.now ?? (() => new Date()),
    newId: deps.newId ?? randomUUID,
    settings: { ...DEFAULT_JOB_SETTINGS, ...deps.settings },
  };
}
