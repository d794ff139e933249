/**
 * One trade stream per account (Alpaca allows one connection), held by exactly one worker
 * process through a lease kept with the queues (see leases.ts). A holder that dies stops renewing; the lease lapses and
 * another worker takes it over at its next try. The holder hands every trade update to the order
 * handler itself when given one (events of a symbol one after another, in the order they came;
 * no queue hop between a fill and its stop), else, or when that fails or is busy, to the
 * `order-events` queue. After every (re)subscription it asks for a poll and a reconciliation,
 * because the stream never replays what it missed.
 *
 * A holder counts its lease as held only until its last confirmed renewal's time plus the lease
 * time (measured from when the renewal was sent): past that, another worker may hold it, so the
 * holder drops what its stream still brings and closes the stream, even when Redis does not
 * answer at all (a renewal that hangs never says the lease was lost). Whoever opens the stream
 * next polls for what was dropped.
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

/** The longest pause before trying again a stream whose credentials were refused. */
const MAX_REFUSED_WAIT_MS = 5 * 60_000;

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
      /** Until when (`performance.now()` ms) the lease is surely ours: a confirmed take or renewal's send time plus the lease time. */
      heldUntil: number;
      /** Whether events were dropped since the lease was last confirmed (a poll was asked for). */
      dropped: boolean;
      /** Refused logins in a row, and when (`performance.now()` ms) the next may be tried. */
      refusals: number;
      retryAt: number;
    }
  >();
  /** A stream down this long is closed and opened anew (its own reconnects may have stalled). */
  const recycleAfterMs = Math.max(3 * ttlMs, 5_000);
  let stopped = false;
  // A stop gives up an open in progress rather than wait out its connect time.
  const stopping = new AbortController();
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

  type Entry = NonNullable<ReturnType<typeof streams.get>>;

  /** Takes or renews the lease; a confirmation extends how long it is surely held. */
  const confirm = async (entry: Entry, call: () => Promise<boolean>): Promise<boolean> => {
    const sentAt = performance.now();
    const confirmed = await call();
    if (confirmed) {
      entry.heldUntil = sentAt + ttlMs;
      entry.dropped = false;
    }
    return confirmed;
  };

  const leaseLapsed = (entry: Entry): boolean => performance.now() >= entry.heldUntil;

  /**
   * Closes a stream whose lease may be another's by now, whatever Redis says (or does not say):
   * two holders would handle one account's events side by side.
   */
  const letGo = (accountId: number, entry: Entry): void => {
    const subscription = entry.subscription;
    if (!subscription) return;
    log.warn({ accountId }, "stream lease not renewed in time; closing the stream");
    entry.subscription = null;
    entry.downSince = null;
    void subscription.close().catch((error: unknown) => {
      log.warn({ err: error, accountId }, "could not close the trade stream");
    });
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
    const entry = streams.get(accountId);
    if (!entry || leaseLapsed(entry)) {
      if (!entry) return;
      if (!entry.dropped) {
        entry.dropped = true;
        // Whoever holds the stream next polls when it connects; this one may renew in time
        // and keep its stream, so it asks for a poll too.
        publish(accountId, () => deps.jobs.requestPoll(accountId, "stream-lease-lapsed"));
      }
      letGo(accountId, entry);
      return;
    }
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

  async function subscribe(
    accountId: number,
  ): Promise<TradeUpdateSubscription | { refused: boolean }> {
    const broker = await deps.brokerFor(accountId);
    const opened = await broker.subscribeTradeUpdates(
      {
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
      },
      { signal: stopping.signal },
    );
    if (!opened.ok) {
      log.warn(
        { accountId, code: opened.code, message: opened.message },
        "trade stream not opened",
      );
      return { refused: opened.code === "UNAUTHORIZED" || opened.code === "FORBIDDEN" };
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
        heldUntil: 0,
        dropped: false,
        refusals: 0,
        retryAt: 0,
      };
      streams.set(accountId, entry);
    }
    const lease = entry.lease;
    if (entry.subscription) {
      if (await confirm(entry, () => lease.renew())) {
        if (entry.subscription && entry.downSince !== null) {
          log.debug({ accountId, downForMs: Date.now() - entry.downSince }, "stream away; polling");
          await deps.jobs.requestPoll(accountId, "stream-down", { coalesce: true });
          const stale = entry.subscription;
          const downSince = entry.downSince;
          if (stale && downSince !== null && Date.now() - downSince > recycleAfterMs) {
            log.warn({ accountId }, "trade stream did not come back; opening it anew");
            entry.subscription = null;
            entry.downSince = null;
            await stale.close();
            await entry.lease.release();
          }
        }
        return;
      }
      // Closed meanwhile when the renewal took longer than the lease.
      const lost = entry.subscription;
      if (!lost) return;
      log.warn({ accountId }, "stream lease lost; closing the stream");
      entry.subscription = null;
      await lost.close();
      return;
    }
    if (performance.now() < entry.retryAt) return;
    if (!(await confirm(entry, () => lease.acquire()))) return;
    const subscription = await subscribe(accountId);
    if (stopped) {
      if (!("refused" in subscription)) await subscription.close();
      await entry.lease.release();
      return;
    }
    if ("refused" in subscription) {
      // Credentials the broker refuses stay refused until someone changes them: trying again
      // every round would log in with them every few seconds, for ever.
      entry.refusals = subscription.refused ? entry.refusals + 1 : 0;
      if (subscription.refused) {
        entry.retryAt =
          performance.now() + Math.min(ttlMs * 2 ** entry.refusals, MAX_REFUSED_WAIT_MS);
      }
      await entry.lease.release();
      // No stream: polling is the source of order events, as while a held one is away (the
      // schedule polls only in the session).
      publish(accountId, () =>
        deps.jobs.requestPoll(accountId, "stream-unavailable", { coalesce: true }),
      );
      return;
    }
    entry.refusals = 0;
    // The subscription may have taken longer than the lease: make sure it is still ours.
    if (!(await confirm(entry, () => lease.renew())) || leaseLapsed(entry)) {
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

  // Apart from the rounds, which wait on Redis: a lease whose renewal hangs lapses all the same.
  const watchdog = setInterval(
    () => {
      for (const [accountId, entry] of streams) {
        if (entry.subscription && leaseLapsed(entry)) letGo(accountId, entry);
      }
    },
    Math.max(25, Math.floor(ttlMs / 6)),
  );

  return {
    held: () => [...streams.entries()].filter(([, e]) => e.subscription).map(([id]) => id),
    async stop() {
      stopped = true;
      stopping.abort();
      clearInterval(timer);
      clearInterval(watchdog);
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
