/**
 * Running a transaction again when it lost a race with another worker: a serialization failure
 * (a row changed after it was read), a deadlock, or a unique insert someone else made first. The
 * work is idempotent, so the next run on fresh rows sees what the winner did.
 */

const RACE_CODES = new Set(["40001", "40P01", "23505", "25P02"]);

/** Whether an error (or one of its causes) is a lost race worth running again. */
export function isLostRace(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && RACE_CODES.has(code)) return true;
  }
  return false;
}

/** Runs `work`, again after a lost race (at most `attempts` times, with a short jittered pause). */
export async function withRaceRetry<T>(work: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isLostRace(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}
