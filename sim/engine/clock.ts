/**
 * The simulated clock. Frozen by default so tests decide when time moves; `run()` makes it follow
 * the wall clock from its current reading (for `npm run sim`). The wall clock is injected.
 */
export class SimClock {
  private base: number;
  private runningSince: number | null = null;

  constructor(
    start: Date,
    private readonly wallNow: () => number,
  ) {
    this.base = start.getTime();
  }

  now(): Date {
    const drift = this.runningSince === null ? 0 : this.wallNow() - this.runningSince;
    return new Date(this.base + drift);
  }

  set(t: Date): void {
    this.base = t.getTime();
    if (this.runningSince !== null) this.runningSince = this.wallNow();
  }

  advance(ms: number): void {
    this.set(new Date(this.now().getTime() + ms));
  }

  run(): void {
    if (this.runningSince !== null) return;
    this.base = this.now().getTime();
    this.runningSince = this.wallNow();
  }

  freeze(): void {
    this.base = this.now().getTime();
    this.runningSince = null;
  }

  isRunning(): boolean {
    return this.runningSince !== null;
  }
}
