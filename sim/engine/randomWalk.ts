import { Dec, roundToTick } from "./decimal";

/** A seeded 32-bit generator (mulberry32): the same seed always walks the same path. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One step of the walk: the price moves a whole number of ticks, from -3 to +3, chosen by the
 * generator; the random draw only picks an integer, so prices stay exact decimals.
 */
export function stepPrice(price: Dec, random: () => number): Dec {
  const tick = price.gte(1) ? new Dec("0.01") : new Dec("0.0001");
  const ticks = Math.floor(random() * 7) - 3;
  const next = roundToTick(price.plus(tick.times(ticks)));
  return next.gt(tick) ? next : tick;
}
