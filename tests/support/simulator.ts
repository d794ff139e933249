import { type RunningSimulator, type SimulatorOptions, startSimulator } from "../../sim/server";

/** A Monday 09:35 New York: the market is open, so orders route and fill at once. */
export const MARKET_OPEN_TIME = "2026-03-02T14:35:00Z";

export interface TestSimulator {
  sim: RunningSimulator;
  url: string;
  streamUrl: string;
  /** POSTs JSON to a `/sim/*` control endpoint and returns the parsed answer; throws on non-2xx. */
  control: (path: string, body?: unknown) => Promise<unknown>;
  close: () => Promise<void>;
}

/**
 * Starts an in-process simulator on a free port with a frozen clock at `MARKET_OPEN_TIME` (unless
 * told otherwise). Call `close()` in `afterAll`.
 */
export async function startTestSimulator(options: SimulatorOptions = {}): Promise<TestSimulator> {
  const sim = await startSimulator({ time: MARKET_OPEN_TIME, ...options });
  const control = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${sim.url}${path}`, {
      method: path === "/sim/state" ? "GET" : "POST",
      headers: { "Content-Type": "application/json" },
      ...(path === "/sim/state" ? {} : { body: JSON.stringify(body) }),
    });
    const parsed: unknown = await res.json();
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(parsed)}`);
    return parsed;
  };
  return { sim, url: sim.url, streamUrl: sim.streamUrl, control, close: () => sim.close() };
}
