/** A successful outcome carrying its value. */
export interface Ok<T> {
  readonly ok: true;
  readonly value: T;
}

/**
 * A business refusal: a stable machine code for programs and tests, and a sentence a trader
 * understands. Refusals are values, not exceptions; exceptions are for bugs and failed I/O.
 */
export interface Refusal<C extends string = string> {
  readonly ok: false;
  readonly code: C;
  readonly message: string;
}

/** Either a value or a coded refusal. */
export type Outcome<T, C extends string = string> = Ok<T> | Refusal<C>;

/** Wraps a value as a successful outcome. */
export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

/** Builds a coded refusal. */
export function refuse<C extends string>(code: C, message: string): Refusal<C> {
  return { ok: false, code, message };
}
