import pino, { type DestinationStream, type Logger } from "pino";
import { redactJsonLine, redactValue } from "./redact";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where JSON lines go; standard output when absent. Tests pass a stream that collects them. */
  readonly destination?: DestinationStream;
}

/**
 * Builds the structured (JSON lines) logger. Secrets never reach the output: every finished line
 * passes one choke point that replaces secret-named fields (token, secret, password, key id,
 * authorization, API key headers...) at any depth, including child bindings, and then scrubs
 * secrets embedded in text, such as a bot token in a Bot API URL, a message or an error's stack.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level,
    formatters: {
      level: (label) => ({ level: label }),
      // Errors anywhere in a logged object become plain objects here, so their message, stack
      // and fields (e.g. request headers) are written out and then checked like everything else.
      log: (object) => redactRecord(object),
    },
    // The log formatter already turned errors into plain objects; pino's would re-type them.
    serializers: { err: (value: unknown) => value },
    hooks: { streamWrite: redactJsonLine },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

function redactRecord(record: Record<string, unknown>): Record<string, unknown> {
  const redacted = redactValue(record);
  return typeof redacted === "object" && redacted !== null && !Array.isArray(redacted)
    ? (redacted as Record<string, unknown>)
    : {};
}
