/** One injected HTTP failure: which requests it hits, what they get, and how many times. */
export interface HttpFault {
  method: string | null;
  path: string | null;
  status: number | null;
  delayMs: number;
  times: number; // remaining hits; Infinity until cleared
  /** Handle the request for real, then answer with the failure (an ambiguous outcome). */
  afterHandling: boolean;
  /** Sent as `Retry-After` (seconds) with the failure, when set. */
  retryAfterSeconds: number | null;
}

/** Injected failures for HTTP and the stream, set through `POST /sim/faults`. */
export class Faults {
  http: HttpFault[] = [];
  /** Delay added to every trading and data response. */
  delayMs = 0;
  /** Delay before each stream event goes out. */
  streamDelayMs = 0;
  /** How many upcoming stream events are sent twice (Infinity: all). */
  duplicateEvents = 0;
  /** How many upcoming stream events are silently dropped (Infinity: all). */
  dropEvents = 0;

  clear(): void {
    this.http = [];
    this.delayMs = 0;
    this.streamDelayMs = 0;
    this.duplicateEvents = 0;
    this.dropEvents = 0;
  }

  /** Takes the first fault matching a request, counting one use. */
  take(method: string, path: string): HttpFault | null {
    const fault = this.http.find(
      (f) => f.times > 0 && (!f.method || f.method === method) && (!f.path || f.path === path),
    );
    if (!fault) return null;
    fault.times -= 1;
    this.http = this.http.filter((f) => f.times > 0);
    return fault;
  }

  /** Whether the next stream event is duplicated; counts one use. */
  takeDuplicate(): boolean {
    if (this.duplicateEvents <= 0) return false;
    this.duplicateEvents -= 1;
    return true;
  }

  takeDrop(): boolean {
    if (this.dropEvents <= 0) return false;
    this.dropEvents -= 1;
    return true;
  }
}

/** Alpaca's limit: requests per minute per account, reported in X-RateLimit-* headers. */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    public limit: number,
    private readonly wallNow: () => number,
  ) {}

  /** Counts one request for a key; returns the headers and whether it is over the limit. */
  hit(key: string): { limited: boolean; headers: Record<string, string> } {
    const now = this.wallNow();
    let w = this.windows.get(key);
    if (!w || now - w.start >= 60_000) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    const limited = w.count > this.limit;
    return {
      limited,
      headers: {
        "X-RateLimit-Limit": String(this.limit),
        "X-RateLimit-Remaining": String(Math.max(0, this.limit - w.count)),
        "X-RateLimit-Reset": String(Math.ceil((w.start + 60_000) / 1000)),
      },
    };
  }

  reset(): void {
    this.windows.clear();
  }
}
