/**
 * Masking of secrets in text and structured values, shared by the logger and the start banner.
 * Key names decide which fields are secret; text patterns catch secrets embedded in strings
 * (a bot token inside a Bot API URL, a password inside a connection string, a bearer header).
 */

export const REDACTED = "[REDACTED]";

/**
 * Fragments of a field name (lowercased, with `_`, `-` and spaces removed) that mark its value as
 * secret. `keyid` covers `key_id`, `ALPACA_KEY_ID` and the `APCA-API-KEY-ID` header; `secret` covers
 * `secret_key`, `SECRETS_KEY`, `APCA-API-SECRET-KEY` and `ALERT_WEBHOOK_SECRET`.
 */
const SECRET_NAME_FRAGMENTS = [
  "token",
  "secret",
  "password",
  "passwd",
  "passphrase",
  "authorization",
  "cookie",
  "apikey",
  "keyid",
  "privatekey",
  "credential",
  "signature",
];

/** Whether a field or header name carries a secret value, e.g. `apiKey`, `APCA-API-SECRET-KEY`. */
export function isSecretName(name: string): boolean {
  const normalized = name.toLowerCase().replace(/[^a-z0-9]/g, "");
  return SECRET_NAME_FRAGMENTS.some((fragment) => normalized.includes(fragment));
}

// Bot API paths carry the token: https://api.telegram.org/bot123456:AAE.../sendMessage
const BOT_PATH_TOKEN = /\/bot\d+:[A-Za-z0-9_-]+/g;
// A bare Telegram bot token anywhere in text: numeric bot id, colon, 30+ token characters.
const BARE_BOT_TOKEN = /\b\d{3,}:[A-Za-z0-9_-]{30,}/g;
// user:password@ in any URL (postgres://, redis://, https://). The password runs to the last @
// of the authority, as URL parsers read it (a password may hold @ and quotes); in a serialized
// line a quote inside it is escaped (\"), and a bare quote ends the JSON string.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"'\\]*:)(?:[^\s/?#"\\]|\\.)+@/gi;
// Authorization: Bearer <token> / Basic <credentials> written out as text.
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;
// Secret-looking query parameters: ?token=..., &password=..., &secret_key=...
const SECRET_QUERY_PARAM =
  /([?&](?:[a-z0-9_-]*(?:token|secret|password|passwd|apikey|api_key|key_id|signature)[a-z0-9_-]*)=)[^&\s"'#]+/gi;

/** Replaces secrets embedded in free text (bot tokens, URL passwords, bearer tokens, secret query parameters). */
export function redactText(text: string): string {
  return text
    .replace(BOT_PATH_TOKEN, `/bot${REDACTED}`)
    .replace(BARE_BOT_TOKEN, REDACTED)
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(AUTH_SCHEME, `$1 ${REDACTED}`)
    .replace(SECRET_QUERY_PARAM, `$1${REDACTED}`);
}

/**
 * Redacts one serialized JSON line: secret-named fields at any depth, then secrets embedded in
 * text. Text that is not JSON gets the text pass only.
 */
export function redactJsonLine(line: string): string {
  const ending = line.endsWith("\n") ? "\n" : "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return redactText(line);
  }
  return redactText(JSON.stringify(redactValue(parsed))) + ending;
}

const MAX_DEPTH = 12;

/**
 * Copies a value for logging with every secret-named field replaced by `[REDACTED]`, at any depth
 * (request headers nested in an error, credentials inside a config object). Errors become plain
 * objects with `type`, `message`, `stack` and their own fields, so their nested fields are checked too.
 * Strings are left for the final text pass (`redactText`), which sees the whole serialized line.
 */
export function redactValue(value: unknown): unknown {
  return redactAt(value, 0, new WeakSet());
}

function redactAt(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  seen.add(value);
  try {
    if (value instanceof Error) return redactAt(errorToObject(value), depth, seen);
    if (Array.isArray(value)) return value.map((item) => redactAt(item, depth + 1, seen));
    if (value instanceof Map) {
      return redactAt(Object.fromEntries(value), depth, seen);
    }
    if (value instanceof Headers) {
      return redactAt(Object.fromEntries(value.entries()), depth, seen);
    }
    // Dates, decimals, URLs and buffers serialize through toJSON: log that form.
    const withToJson = value as { toJSON?: unknown };
    if (typeof withToJson.toJSON === "function") {
      const json: unknown = withToJson.toJSON();
      return json === value ? json : redactAt(json, depth + 1, seen);
    }
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      copy[key] = isSecretName(key) ? REDACTED : redactAt(field, depth + 1, seen);
    }
    return copy;
  } finally {
    seen.delete(value);
  }
}

function errorToObject(error: Error): Record<string, unknown> {
  const plain: Record<string, unknown> = {
    type: error.constructor.name,
    message: error.message,
    stack: error.stack,
  };
  for (const [key, field] of Object.entries(error)) plain[key] = field;
  if (error.cause !== undefined) plain.cause = error.cause;
  return plain;
}

// Query parameters that name a key (sslkey, api_key, key) are masked in displayed URLs as well.
const KEY_QUERY_PARAM = /([?&][a-z0-9_-]*key[a-z0-9_-]*=)[^&\s"'#]+/gi;

// The authority of a URL: after the scheme, up to the path, query or fragment.
const URL_AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\s]*)/i;

/** A URL fit for display: password, bot token and secret or key query parameters masked. */
export function maskUrl(url: string): string {
  // One URL: its password is everything between the userinfo's first ':' and the last '@'.
  const masked = url.replace(URL_AUTHORITY, (whole, scheme: string, authority: string) => {
    const at = authority.lastIndexOf("@");
    const colon = authority.indexOf(":");
    if (at < 0 || colon < 0 || colon > at) return whole;
    return `${scheme}${authority.slice(0, colon + 1)}${REDACTED}${authority.slice(at)}`;
  });
  return redactText(masked).replace(KEY_QUERY_PARAM, `$1${REDACTED}`);
}
