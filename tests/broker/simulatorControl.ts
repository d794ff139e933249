/**
 * The simulator's control endpoints (`/sim/*`), for tests that need to move the market, the
 * clock, or inject failures.
 */

export interface SimOrderState {
  readonly id: string;
  readonly client_order_id: string;
  readonly status: string;
  readonly symbol: string;
  readonly [field: string]: unknown;
}

export interface SimState {
  readonly orders: readonly SimOrderState[];
  readonly positions: readonly { readonly symbol: string; readonly qty: string }[];
  readonly [field: string]: unknown;
}

export interface SimFault {
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly times?: number;
  readonly dropStream?: boolean;
  readonly delayMs?: number;
  readonly [field: string]: unknown;
}

export interface SimulatorControl {
  readonly url: string;
  reset(body?: { cash?: string; time?: string }): Promise<void>;
  setQuote(symbol: string, bid: string, ask: string): Promise<void>;
  setClock(body: { time: string } | { advanceSeconds: number }): Promise<void>;
  inject(fault: SimFault): Promise<void>;
  /** Fills orders in `symbol` at most `sharesPerFill` shares per price update (null: no cap). */
  setLiquidity(symbol: string, sharesPerFill: string | null): Promise<void>;
  state(): Promise<SimState>;
  /** Books cash in (positive) or out (negative): a CSD or CSW, or the type given. */
  transferCash(amount: string, type?: "CSD" | "CSW" | "JNLC"): Promise<void>;
}

async function call(url: string, method: "GET" | "POST", body?: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
  return text === "" ? null : JSON.parse(text);
}

/** Controls the simulator at `url` (its base URL, no trailing slash). */
export function simulatorControl(url: string): SimulatorControl {
  return {
    url,
    async reset(body = {}) {
      await call(`${url}/sim/reset`, "POST", body);
    },
    async transferCash(amount, type) {
      await call(`${url}/sim/cash`, "POST", { amount, ...(type ? { type } : {}) });
    },
    async setQuote(symbol, bid, ask) {
      await call(`${url}/sim/quotes`, "POST", { symbol, bid, ask });
    },
    async setClock(body) {
      await call(`${url}/sim/clock`, "POST", body);
    },
    async inject(fault) {
      await call(`${url}/sim/faults`, "POST", fault);
    },
    async setLiquidity(symbol, sharesPerFill) {
      await call(`${url}/sim/liquidity`, "POST", { symbol, sharesPerFill });
    },
    async state() {
      return (await call(`${url}/sim/state`, "GET")) as SimState;
    },
  };
}
