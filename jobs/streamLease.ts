/**
 * One trade stream per account (Alpaca allows one connection), held by exactly one worker
 * process through a lease kept with the queues (see leases.ts). A holder that dies stops renewing; the lease lapses and
 * another worker takes it over at its next try. The holder hands every trade update to the order
 * handler itself when given one (events of a symbol one after another, in the order they came;
 * no queue hop between a fill and its stop), else, or when that fails or is busy, to the
 * `order-events` queue. After every (re)subscription it asks for a poll and a reconciliation,
 * because the stream never replays what it missed.
 */
import type { TradeUpdate, TradeUpdateSubscription } from "../domain/broker";
import type { JobDeps } from "./context";
import { createLease, type Lease } from "./leases";
import type { QueueConnection } from "./queueConnection";

export interface StreamSupervisorOptions {
  /** Where the leases are kept: the queues' Redis (not a blocking connection) or store. */
  readonly connection: QueueConnection;
  /** Key prefix for the lease keys (e.g. the BullMQ prefix). */
  readonly keyPrefix: string;
  /** The accounts whose streams this process may hold. */
  readonly accountIds: readonly number[];
  /**
   * Handles an event here (see `createStreamEventHandler`); answers false for an order it does
   * not know, which then goes to the queue. Without it every event goes to the queue.
   */
  readonly handleEvent?: (accountId: number, update: TradeUpdate) => Promise<boolean>;
  /** Names this process in its leases (`<name>:<id>`), e.g. the worker name: who holds a stream. */
  readonly holderName?: string;
}

export interface StreamSupervisor {
  /** Accounts whose stream this process holds now. */
  held(): readonly number[];
  /** Closes the streams and gives the leases up. */
  stop(): Promise<void>;
}

/** How long a streamed event waits for the handling of its symbol's previous one. */
const SYMBOL_TURN_WAIT_MS = 1_000;

/** Settles when `promise` does or after `ms`, whichever comes first (never rejects). */
function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const settle = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(settle, settle);
  });
}

/** The lease key of an account's stream. */
export function streamLeaseKey(keyPrefix: string, accountId: number): string {
  return `${keyPrefix}stream-lease:${accountId}`;
}

/**
 * Starts competing for the accounts' stream leases: every third of the lease time each lease is
 * renewed (or, when free, taken), so a dead holder's stream is picked up within about one lease
 * time.
 */
export function startStreamSupervisor(
  deps: JobDeps,
  options: StreamSupervisorOptions,
): StreamSupervisor {
  const ttlMs = deps.settings.streamLeaseMs;
  const holder =
    options.holderName === undefined ? deps.newId() : `${options.holderName}:${deps.newId()}`;
  const log = deps.logger.child({ component: "stream-lease", holder });
  const streams = new Map<
    number,
    {
      lease: Lease;
      subscription: TradeUpdateSubscription | null;
      /** Wall time the stream last reported trouble without listening again since (ms), or null. */
      downSince: number | null;
    }
  >();
  /** A stream down this long is closed and opened anew (its own reconnects may have stalled). */
  const recycleAfterMs = Math.max(3 * ttlMs, 5_000);
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  const publishChain = new Map<number, Promise<void>>();
  const publish = (accountId: number, work: () => Promise<void>): void => {
    const previous = publishChain.get(accountId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => {
      log.error({ err: error, accountId }, "could not hand a stream event to the queue");
      // The event is lost to the queue: a poll finds what it reported.
      void deps.jobs.requestPoll(accountId, "publish-failed").catch(() => {});
    });
    publishChain.set(accountId, next);
  };

  const toQueue = (accountId: number, update: TradeUpdate, redelivered = false): void =>
    publish(accountId, () => deps.jobs.publishTradeUpdate(accountId, update, { redelivered }));

  // Events handled here: a symbol's in the order they came (they would wait for each other on
  // the symbol's lock anyway, holding a connection each), at most `concurrency` at once; beyond
  // that the queue spreads them over the workers. An event waits for the one before it at most
  // SYMBOL_TURN_WAIT_MS: that one may be sending exits into a broker backing off (a 429), and a
  // fill behind it must not wait for that (the handler takes reports in any order).
  const symbolTurns = new Map<string, Promise<void>>();
  const inFlight = new Set<Promise<void>>();
  const deliver = (accountId: number, update: TradeUpdate): void => {
    const handleEvent = options.handleEvent;
    if (handleEvent === undefined || inFlight.size >= deps.settings.concurrency) {
      toQueue(accountId, update);
      return;
    }
    const key = `${accountId}:${update.order.symbol}`;
    const previous = symbolTurns.get(key);
    const turn =
      previous === undefined ? Promise.resolve() : waitAtMost(previous, SYMBOL_TURN_WAIT_MS);
    const done: Promise<void> = turn
      .then(async () => {
        try {
          if (!(await handleEvent(accountId, update))) toQueue(accountId, update);
        } catch (error) {
          log.warn(
            { err: error, accountId, event: update.event },
            "trade update not handled here; the queue retries it",
          );
          toQueue(accountId, update, true);
        }
      })
      .finally(() => {
        inFlight.delete(done);
        if (symbolTurns.get(key) === done) symbolTurns.delete(key);
      });
    inFlight.add(done);
    symbolTurns.set(key, done);
  };

  async function subscribe(accountId: number): Promise<TradeUpdateSubscription | null> {
    const broker = await deps.brokerFor(accountId);
    const opened = await broker.subscribeTradeUpdates({
      onTradeUpdate: (update) => deliver(accountId, update),
      onResyncNeeded: (signal) => {
        const entry = streams.get(accountId);
        if (entry) entry.downSince = null;
        publish(accountId, async () => {
          await deps.jobs.requestPoll(accountId, `stream-${signal.reason}`);
          await deps.jobs.requestReconcile(accountId, `stream-${signal.reason}`);
        });
      },
      onStreamError: (message) => {
        log.warn({ accountId, message }, "trade stream trouble");
        const entry = streams.get(accountId);
        if (entry && entry.downSince === null) entry.downSince = Date.now();
        // While the stream is away, polling is the source of order events.
        publish(accountId, () =>
          deps.jobs.requestPoll(accountId, "stream-down", { coalesce: true }),
        );
      },
    });
    if (!opened.ok) {
      log.warn(
        { accountId, code: opened.code, message: opened.message },
        "trade stream not opened",
      );
      return null;
    }
    log.info({ accountId }, "holding the trade stream");
    return opened.value;
  }

  async function tend(accountId: number): Promise<void> {
    let entry = streams.get(accountId);
    if (!entry) {
      entry = {
        lease: createLease(
          options.connection,
          streamLeaseKey(options.keyPrefix, accountId),
          holder,
          ttlMs,
        ),
        subscription: null,
        downSince: null,
      };
      streams.set(accountId, entry);
    }
    if (entry.subscription) {
      if (await entry.lease.renew()) {
        if (entry.downSince !== null) {
          log.debug({ accountId, downForMs: Date.now() - entry.downSince }, "stream away; polling");
          await deps.jobs.requestPoll(accountId, "stream-down", { coalesce: true });
          if (Date.now() - entry.downSince > recycleAfterMs) {
            log.warn({ accountId }, "trade stream did not come back; opening it anew");
            const stale = entry.subscription;
            entry.subscription = null;
            entry.downSince = null;
            await stale.close();
            await entry.lease.release();
          }
        }
        return;
      }
      log.warn({ accountId }, "stream lease lost; closing the stream");
      const lost = entry.subscription;
      entry.subscription = null;
      await lost.close();
      return;
    }
    if (!(await entry.lease.acquire())) return;
    const subscription = await subscribe(accountId);
    if (stopped || !subscription) {
      await subscription?.close();
      await entry.lease.release();
      return;
    }
    // The subscription may have taken longer than the lease: make sure it is still ours.
    if (!(await entry.lease.renew())) {
      await subscription.close();
      return;
    }
    entry.subscription = subscription;
  }

  const round = async (): Promise<void> => {
    for (const accountId of options.accountIds) {
      if (stopped) return;
      try {
        await tend(accountId);
      } catch (error) {
        log.error({ err: error, accountId }, "stream lease round failed");
      }
    }
  };
  running = round();
  const timer = setInterval(
    () => {
      running = running.then(round);
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );

  return {
    held: () => [...streams.entries()].filter(([, e]) => e.subscription).map(([id]) => id),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await Promise.all(
        [...streams.values()].map(async (entry) => {
          const subscription = entry.subscription;
          entry.subscription = null;
          if (subscription) await subscription.close();
          await entry.lease.release();
        }),
      );
      // Events in hand are finished (or handed to the queue) before the queue is waited for.
      await Promise.all(inFlight);
      await Promise.all(publishChain.values());
    },
  };
}
