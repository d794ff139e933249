import { Alpaca } from "@alpacahq/alpaca-trade-api";

export const TEST_KEY_ID = "sim-test-key";
export const TEST_SECRET = "sim-test-secret";

/**
 * The real Alpaca SDK pointed at a simulator: the client has no base-URL option, so a fetch
 * wrapper swaps Alpaca's hosts for the simulator's origin. Retries and the client-side rate
 * limiter are off so tests see the simulator's answers as they are.
 */
export function alpacaFor(baseUrl: string, extra: Record<string, unknown> = {}): Alpaca {
  const fetchApi = (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input).replace(
      /^https?:\/\/[^/]+/,
      baseUrl,
    );
    return fetch(url, init);
  };
  return new Alpaca({
    keyId: TEST_KEY_ID,
    secret: TEST_SECRET,
    paper: true,
    retry: false,
    rateLimit: false,
    fetchApi,
    ...extra,
  });
}
