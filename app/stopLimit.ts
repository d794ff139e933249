/**
 * How long the entry point lets a graceful stop take before it exits anyway. A module of its own
 * so that what only needs the limit (the compose file's check) does not load the whole desk.
 */
export const STOP_LIMIT_MS = 20_000;
