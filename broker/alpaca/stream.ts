/**
 * The trade updates stream over the SDK's `TradingStream`, made to reconnect without limit (the
 * SDK gives up after 10 tries by default) and to say "resync needed" once it is listening again,
 * because Alpaca does not replay the events sent while the connection was down.
 */
import { streaming } from "@alpacahq/alpaca-trade-api";
import type { Logger } from "pino";
import type {
  BrokerResult,
  ResyncNeeded,
  TradeUpdateListener,
  TradeUpdateSubscription,
} from "../../domain/broker";
import { brokerFailure } from "./errors";
import { fromTradeUpdate, isStockOrder } from "./mapping";

export interface TradeStreamOptions {
  /** `wss://paper-api.alpaca.markets/stream`, or the simulator's `ws://.../stream`. */
  readonly url: string;
  readonly keyId: string;
  readonly secretKey: string;
  readonly logger?: Logger;
  /** How long the first connection may take to be listening (default 15 000 ms). */
  readonly connectTimeoutMs?: number;
  /** First reconnect delay (default 500 ms), doubling up to `maxReconnectMs` (default 30 000). */
  readonly initialReconnectMs?: number;
  readonly maxReconnectMs?: number;
  /** Keepalive ping interval (default 10 000 ms); a missing pong drops and reconnects. */
  readonly pingIntervalMs?: number;
  /** Gives an open in progress up (e.g. the worker stops); no effect once listening. */
  readonly signal?: AbortSignal;
}

/**
 * The SDK's stream, telling when the broker refused a login: a refusal on reconnecting closes
 * it for good (retrying refused credentials would loop), with nothing but a bare "auth failed"
 * error and a disconnect that looks like any other.
 */
class TradeStream extends streaming.TradingStream {
  refusal: string | null = null;

  protected override failAuthentication(message: string, code?: number): void {
    this.refusal = message;
    super.failAuthentication(message, code);
  }
}

/**
 * Opens the stream and answers once it is listening to `trade_updates`. From then on it
 * reconnects forever until closed, and calls `onResyncNeeded` after every (re)subscription.
 */
export function subscribeTradeUpdates(
  options: TradeStreamOptions,
  listener: TradeUpdateListener,
): Promise<BrokerResult<TradeUpdateSubscription>> {
  const log = options.logger;
  const stream = new TradeStream({
    credentials: { keyId: options.keyId, secret: options.secretKey },
    url: options.url,
    maxReconnectAttempts: streaming.UNLIMITED_RECONNECT_ATTEMPTS,
    initialReconnectMs: options.initialReconnectMs ?? 500,
    maxReconnectMs: options.maxReconnectMs ?? 30_000,
    pingIntervalMs: options.pingIntervalMs ?? 10_000,
  });

  let listening = false;
  let closed = false;
  let droppedSinceListening = false;
  let reconnects = 0;
  let lastError: string | undefined;

  const reportError = (message: string): void => {
    log?.warn({ message }, "trade updates stream trouble");
    try {
      listener.onStreamError?.(message);
    } catch (error) {
      log?.error({ err: error }, "trade updates error listener threw");
    }
  };

  const signalResync = (reason: ResyncNeeded["reason"]): void => {
    log?.info({ reason, reconnects }, "trade updates stream listening; resync needed");
    try {
      listener.onResyncNeeded({ reason, reconnects });
    } catch (error) {
      log?.error({ err: error }, "resync listener threw");
    }
  };

  stream.onTradeUpdate((wire) => {
    // Options orders placed outside the desk are none of its business, and no gap either.
    if (!isStockOrder(wire.order)) return;
    let update: ReturnType<typeof fromTradeUpdate>;
    try {
      update = fromTradeUpdate(wire);
    } catch (error) {
      // A lost event is a gap like a dropped connection: ask for a resync.
      reportError(`unreadable trade update: ${error instanceof Error ? error.message : error}`);
      signalResync("unreadable_update");
      return;
    }
    try {
      listener.onTradeUpdate(update);
    } catch (error) {
      log?.error({ err: error, event: update.event }, "trade update listener threw");
    }
  });
  stream.onError((message) => {
    lastError = message;
    // A refusal is told by the disconnect that follows it, in full.
    if (listening && stream.refusal === null) reportError(message);
  });
  stream.onDisconnect(() => {
    if (closed) return;
    if (listening) {
      droppedSinceListening = true;
      if (stream.refusal === null) {
        reportError("trade updates stream disconnected; reconnecting");
      } else {
        // The stream stays down: polling stands in until it is opened anew.
        log?.error({ message: stream.refusal }, "trade updates stream refused the credentials");
        reportError(
          `trade updates stream refused the credentials after a drop (${stream.refusal}); it stays closed until it is opened again`,
        );
      }
    }
  });

  return new Promise((resolve) => {
    let settled = false;
    const subscription: TradeUpdateSubscription = {
      close: async () => {
        closed = true;
        stream.disconnect();
      },
    };
    const settle = (result: BrokerResult<TradeUpdateSubscription>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", giveUp);
      if (!result.ok) {
        closed = true;
        stream.disconnect();
      }
      resolve(result);
    };
    const timer = setTimeout(() => {
      settle(
        lastError === undefined
          ? brokerFailure("TIMEOUT", "trade updates stream did not start listening in time", true)
          : brokerFailure("NETWORK", `trade updates stream unreachable: ${lastError}`, true),
      );
    }, options.connectTimeoutMs ?? 15_000);
    const giveUp = (): void =>
      settle(brokerFailure("NETWORK", "trade updates stream open given up: stopping", true));
    if (options.signal?.aborted) {
      giveUp();
      return;
    }
    options.signal?.addEventListener("abort", giveUp, { once: true });

    stream.on(streaming.EVENT.SUBSCRIPTION, (streams: unknown) => {
      if (closed || !Array.isArray(streams) || !streams.includes("trade_updates")) return;
      if (!listening) {
        listening = true;
        settle({ ok: true, value: subscription });
        signalResync("connected");
        return;
      }
      if (droppedSinceListening) {
        droppedSinceListening = false;
        reconnects += 1;
        signalResync("reconnected");
      }
    });

    void stream.whenAuthenticated().then((result) => {
      if (result.authenticated) return;
      if (result.status === streaming.STREAM_AUTH_STATUS.SERVER_REJECTED) {
        settle(
          brokerFailure(
            "UNAUTHORIZED",
            `trade updates stream refused the credentials: ${result.message}`,
            false,
          ),
        );
      }
    });

    stream.subscribeTradeUpdates();
    stream.connect();
  });
}
