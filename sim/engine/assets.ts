import { createHash } from "node:crypto";

export interface Asset {
  symbol: string;
  name: string;
  exchange: string;
  tradable: boolean;
  shortable: boolean;
  easyToBorrow: boolean;
  marginable: boolean;
  fractionable: boolean;
}

/** Default prices for the symbols every fresh simulator knows. */
export const DEFAULT_SYMBOLS: Record<string, { price: string; name: string; exchange: string }> = {
  AAPL: { price: "190.00", name: "Apple Inc. Common Stock", exchange: "NASDAQ" },
  MSFT: { price: "410.00", name: "Microsoft Corporation Common Stock", exchange: "NASDAQ" },
  NVDA: { price: "120.00", name: "NVIDIA Corporation Common Stock", exchange: "NASDAQ" },
  AMZN: { price: "180.00", name: "Amazon.com, Inc. Common Stock", exchange: "NASDAQ" },
  GOOGL: { price: "165.00", name: "Alphabet Inc. Class A Common Stock", exchange: "NASDAQ" },
  META: { price: "500.00", name: "Meta Platforms, Inc. Class A Common Stock", exchange: "NASDAQ" },
  TSLA: { price: "250.00", name: "Tesla, Inc. Common Stock", exchange: "NASDAQ" },
  SPY: { price: "560.00", name: "SPDR S&P 500 ETF Trust", exchange: "ARCA" },
  QQQ: { price: "480.00", name: "Invesco QQQ Trust, Series 1", exchange: "NASDAQ" },
  IWM: { price: "210.00", name: "iShares Russell 2000 ETF", exchange: "ARCA" },
};

/** A stable UUID for a symbol, so an asset keeps its id across restarts. */
export function assetIdFor(symbol: string): string {
  const h = createHash("sha1").update(`asset:${symbol}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function makeAsset(symbol: string, name?: string, exchange?: string): Asset {
  return {
    symbol,
    name: name ?? `${symbol} Common Stock`,
    exchange: exchange ?? "NASDAQ",
    tradable: true,
    shortable: true,
    easyToBorrow: true,
    marginable: true,
    fractionable: true,
  };
}

/** An asset as `GET /v2/assets/{symbol}` prints it. */
export function assetJson(asset: Asset): Record<string, unknown> {
  return {
    id: assetIdFor(asset.symbol),
    class: "us_equity",
    exchange: asset.exchange,
    symbol: asset.symbol,
    name: asset.name,
    status: asset.tradable ? "active" : "inactive",
    tradable: asset.tradable,
    marginable: asset.marginable,
    maintenance_margin_requirement: 30,
    margin_requirement_long: "30",
    margin_requirement_short: "100",
    shortable: asset.shortable,
    easy_to_borrow: asset.easyToBorrow,
    fractionable: asset.fractionable,
    attributes: [],
  };
}
