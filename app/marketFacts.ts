/**
 * The bot's read-only view of the broker (bot/features/planPorts.ts `MarketFacts`): asset flags,
 * the latest quote and a fresh account snapshot for the pre-trade checks. Failed I/O throws.
 */
import type { MarketFacts } from "../bot/features/planPorts";
import type { Broker } from "../domain/broker";
import { loadAccountSnapshot } from "./accountSnapshot";

export function createMarketFacts(broker: Broker, now: () => Date): MarketFacts {
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
    async getAccountSnapshot(_accountId, symbols) {
      const loaded = await loadAccountSnapshot(broker, symbols, now());
      if (!loaded.ok) throw new Error(`broker: ${loaded.code}: ${loaded.message}`);
      return loaded.value.snapshot;
    },
  };
}
