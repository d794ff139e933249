/**
 * The bot's read-only view of the broker (bot/features/planPorts.ts `MarketFacts`): asset flags,
 * the latest quote and a fresh account snapshot for the pre-trade checks. Failed I/O throws.
 */
import type { Logger } from "pino";
import type { MarketFacts } from "../bot/features/planPorts";
import type { Database } from "../db/database";
import type { Broker } from "../domain/broker";
import { createSnapshotCaches, loadAccountSnapshot } from "./accountSnapshot";

export interface MarketFactsDeps {
  readonly broker: Broker;
  readonly db: Database;
  readonly now: () => Date;
  /** Where a calendar kept past a failed refresh is told. */
  readonly logger?: Pick<Logger, "warn">;
}

export function createMarketFacts(deps: MarketFactsDeps): MarketFacts {
  const { broker, db, now } = deps;
  const caches = createSnapshotCaches(deps.logger ? { logger: deps.logger } : {});
  return {
    async getAsset(symbol) {
      const asset = await broker.getAsset(symbol);
      if (!asset.ok) {
        if (asset.code === "NOT_FOUND") return null;
        throw new Error(`broker: ${asset.code}: ${asset.message}`);
      }
      const a = asset.value;
      return {
        symbol: a.symbol,
        name: a.name,
        tradable: a.tradable && a.status === "active",
        shortable: a.shortable,
        fractionable: a.fractionable,
      };
    },
    async getLatestQuote(symbol) {
      const quotes = await broker.getLatestQuotes([symbol]);
      if (!quotes.ok) throw new Error(`broker: ${quotes.code}: ${quotes.message}`);
      const quote = quotes.value.get(symbol);
      if (quote === undefined) return null;
      return {
        bid: quote.bidPrice?.toString() ?? null,
        ask: quote.askPrice?.toString() ?? null,
        last: null,
      };
    },
    // One account per process: the runtime's broker is that account's.
    async getAccountSnapshot(accountId, symbols) {
      // The snapshot is built for the order being checked, in one symbol (its recent entries in
      // full, the others by time only).
      const [symbol] = symbols;
      if (symbol === undefined || symbols.length > 1) {
        throw new Error(`an account snapshot is read for one symbol, not ${symbols.length}`);
      }
      const loaded = await loadAccountSnapshot({ db, broker, caches }, accountId, symbol, now());
      if (!loaded.ok) throw new Error(`broker: ${loaded.code}: ${loaded.message}`);
      return loaded.value.snapshot;
    },
  };
}
