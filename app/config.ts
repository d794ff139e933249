import { z } from "zod";
import type { ExecutionWindow } from "../jobs/context";
import { LOG_LEVELS, type LogLevel } from "./logger";
import { maskUrl } from "./redact";
import { parseSecretsKey } from "./secrets";

/** Which parts run in this process: every role (`all`), the Telegram bot and HTTP API, or the job workers. */
export const PROCESS_ROLES = ["all", "bot", "worker"] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** What a Telegram user may do. */
export const USER_ROLES = ["admin", "trader", "viewer"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/**
 * Where orders go: `sandbox` is the local Alpaca-compatible simulator (no broker credentials),
 * `paper` Alpaca's paper account, `live` Alpaca's live account with real money.
 */
export type TradingMode = "sandbox" | "paper" | "live";

export interface AllowedUser {
  readonly telegramUserId: number;
  readonly role: UserRole;
}

export interface AlpacaCredentials {
  readonly keyId: string;
  readonly secretKey: string;
}

export interface TelegramWebhook {
  /** The public HTTPS address Telegram posts updates to. */
  readonly url: string;
  /** The path of `url`, served by the desk's HTTP server. */
  readonly path: string;
  /** Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every update. */
  readonly secret: string;
}

export type DatabaseConfig =
  | { readonly kind: "postgres"; readonly url: string }
  | { readonly kind: "embedded"; readonly directory: string };

export interface AppConfig {
  readonly mode: TradingMode;
  readonly role: ProcessRole;
  readonly logLevel: LogLevel;
  readonly telegram: {
    /** null: no Telegram; the bot runs in the local sandbox. */
    readonly botToken: string | null;
    /** Bot API root without a trailing slash. */
    readonly apiRoot: string;
    readonly allowedUsers: readonly AllowedUser[];
    /** null: long polling. Set: Telegram posts updates to `url`, served at `path`. */
    readonly webhook: TelegramWebhook | null;
  };
  readonly alpaca: {
    /** null in sandbox mode. */
    readonly credentials: AlpacaCredentials | null;
    /**
     * Resolved endpoints: the overrides, else Alpaca's hosts for paper or live. In sandbox mode
     * without overrides they are null: the runtime starts the simulator and uses its address.
     */
    readonly tradingUrl: string | null;
    readonly dataUrl: string | null;
    readonly streamUrl: string | null;
  };
  readonly database: DatabaseConfig;
  readonly redis: {
    readonly url: string;
    readonly isDefault: boolean;
    /** Key prefix of the queues, the stream lease and the rate limit: one per desk. */
    readonly prefix: string;
  };
  readonly http: {
    readonly port: number;
    /** null: `/api/alerts` refuses every request. */
    readonly alertWebhookSecret: string | null;
    /** null: `/api/execution/*` refuses every request. */
    readonly apiToken: string | null;
  };
  /** 32-byte key for stored broker credentials; null: credentials cannot be stored. */
  readonly secretsKey: Buffer | null;
  /** How the workers send entries. */
  readonly execution: {
    readonly window: ExecutionWindow;
    readonly nativeBrackets: boolean;
  };
}

export type ConfigResult =
  | { readonly ok: true; readonly config: AppConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

export const DEFAULT_TELEGRAM_API_ROOT = "https://api.telegram.org";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
export const DEFAULT_REDIS_PREFIX = "desk";
export const DEFAULT_HTTP_PORT = 8080;
export const EMBEDDED_DATABASE_DIRECTORY = "./data";
export const MIN_SHARED_SECRET_LENGTH = 16;

const ALPACA_HOSTS = {
  paper: {
    trading: "https://paper-api.alpaca.markets",
    data: "https://data.alpaca.markets",
    stream: "wss://paper-api.alpaca.markets/stream",
  },
  live: {
    trading: "https://api.alpaca.markets",
    data: "https://data.alpaca.markets",
    stream: "wss://api.alpaca.markets/stream",
  },
} as const;
const ALPACA_LIVE_HOST = "api.alpaca.markets";
const ALPACA_PAPER_HOST = "paper-api.alpaca.markets";

const USERS_EXAMPLE = "use id:role pairs like 123456:admin,987:trader";
const GENERATE_SECRET = "generate one with: openssl rand -hex 32";
const WINDOW_EXAMPLE =
  "use immediate, or a start and end in New York time like 09:45-10:00 (end after start)";

/** A set variable, trimmed; an empty value is a problem rather than a silent default. */
function present(whenEmpty: string) {
  return z
    .string()
    .trim()
    .min(1, { error: `is set but empty; ${whenEmpty}` });
}

function urlVariable(protocol: RegExp, whenEmpty: string, invalid: string) {
  // The error never repeats the value: connection strings can carry passwords.
  return present(whenEmpty).pipe(z.url({ protocol, error: invalid }));
}

/**
 * Refuses plain http (ws) to a host that must be reached encrypted: the request carries the bot
 * token or the broker keys. A typo away from the right URL, so it is checked.
 */
function encryptedTo(plain: "http" | "ws", isOwnHost: (host: string) => boolean, carries: string) {
  return [
    (url: string) => {
      // Not a URL at all is the scheme check's problem, already reported.
      if (!URL.canParse(url)) return true;
      const parsed = new URL(url);
      return !(parsed.protocol === `${plain}:` && isOwnHost(parsed.hostname));
    },
    {
      error: (issue: { input: unknown }) => {
        const host = new URL(String(issue.input)).hostname;
        return `is plain ${plain} to ${host}, which would send ${carries} unencrypted; use ${plain === "http" ? "https" : "wss"}://${host}`;
      },
    },
  ] as const;
}

const isTelegramHost = (host: string) => host === "api.telegram.org";
const isAlpacaHost = (host: string) =>
  host === "alpaca.markets" || host.endsWith(".alpaca.markets");

function flagVariable(whenEmpty: string) {
  return present(whenEmpty).pipe(
    z.stringbool({ error: "is neither true nor false; use true or false" }),
  );
}

function sharedSecretVariable(whenEmpty: string) {
  return present(whenEmpty).pipe(
    z.string().min(MIN_SHARED_SECRET_LENGTH, {
      error: (issue) =>
        `is too short (${typeof issue.input === "string" ? issue.input.length : 0} characters); use at least ${MIN_SHARED_SECRET_LENGTH} random characters, ${GENERATE_SECRET}`,
    }),
  );
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

const allowedUsersSchema = present(
  `remove it, or list who may use the bot; ${USERS_EXAMPLE}`,
).transform((text, ctx) => {
  const users: AllowedUser[] = [];
  const firstEntryById = new Map<number, string>();
  for (const rawEntry of text.split(",")) {
    const entry = rawEntry.trim();
    if (entry === "") continue; // tolerate "1:admin," and ", ," from hand-edited files
    const fail = (message: string) => ctx.issues.push({ code: "custom", message, input: text });
    const parts = entry.split(":");
    const [idText, roleText] = parts.map((part) => part.trim());
    if (parts.length !== 2 || idText === undefined || roleText === undefined) {
      fail(`'${entry}' is not an id:role pair; ${USERS_EXAMPLE}`);
      continue;
    }
    const id = Number(idText);
    if (!/^[1-9]\d*$/.test(idText) || !Number.isSafeInteger(id)) {
      fail(`'${entry}' is not a Telegram user id; ${USERS_EXAMPLE}`);
      continue;
    }
    if (!(USER_ROLES as readonly string[]).includes(roleText)) {
      fail(`'${entry}' has role '${roleText}'; roles are ${USER_ROLES.join(", ")}`);
      continue;
    }
    const earlier = firstEntryById.get(id);
    if (earlier !== undefined) {
      fail(`user ${id} is listed twice ('${earlier}' and '${entry}'); list each user once`);
      continue;
    }
    firstEntryById.set(id, entry);
    users.push({ telegramUserId: id, role: roleText as UserRole });
  }
  return users;
});

/** One schema per variable; each yields its value or issues worded for that variable. */
const variables = {
  TELEGRAM_BOT_TOKEN: present(
    "remove it to run the local sandbox, or set the token from @BotFather",
  ).pipe(
    z.string().regex(/^\d+:[A-Za-z0-9_-]{30,}$/, {
      error:
        "does not look like a bot token (digits, a colon, then about 35 letters, digits, - or _); copy it again from @BotFather",
    }),
  ),
  TELEGRAM_API_ROOT: urlVariable(
    /^https?$/,
    `remove it to use ${DEFAULT_TELEGRAM_API_ROOT}, or set a Bot API root URL`,
    `is not an http(s) URL; e.g. ${DEFAULT_TELEGRAM_API_ROOT} or http://127.0.0.1:8081 for a local Bot API server`,
  )
    .refine(...encryptedTo("http", isTelegramHost, "the bot token"))
    .transform(withoutTrailingSlash),
  TELEGRAM_ALLOWED_USERS: allowedUsersSchema,
  TELEGRAM_WEBHOOK_URL: urlVariable(
    /^https?$/,
    "remove it to use long polling, or set the public URL Telegram posts updates to",
    "is not an http(s) URL; e.g. https://desk.example.com/telegram/webhook",
  ).refine((url) => new URL(url).pathname !== "/", {
    error:
      "has no path; add one the desk serves updates at, e.g. https://desk.example.com/telegram/webhook",
  }),
  // Telegram accepts 1 to 256 of A-Z, a-z, 0-9, _ and - as a webhook secret.
  TELEGRAM_WEBHOOK_SECRET: sharedSecretVariable(
    `remove it (with TELEGRAM_WEBHOOK_URL) to use long polling, or set a secret; ${GENERATE_SECRET}`,
  ).pipe(
    z
      .string()
      .max(256, { error: "is longer than Telegram's 256 characters; use a shorter secret" })
      .regex(/^[A-Za-z0-9_-]+$/, {
        error: `may only hold letters, digits, _ and -; ${GENERATE_SECRET}`,
      }),
  ),
  ALPACA_KEY_ID: present(
    "remove it (with ALPACA_SECRET_KEY) to use the simulator, or set the key id",
  ),
  ALPACA_SECRET_KEY: present(
    "remove it (with ALPACA_KEY_ID) to use the simulator, or set the secret key",
  ),
  ALPACA_PAPER: flagVariable("remove it to trade on paper (the default), or set true or false"),
  ALPACA_TRADING_URL: urlVariable(
    /^https?$/,
    "remove it to use Alpaca's trading API",
    "is not an http(s) URL; e.g. https://paper-api.alpaca.markets or the simulator's http://127.0.0.1:5800",
  )
    .refine(...encryptedTo("http", isAlpacaHost, "the API keys"))
    .transform(withoutTrailingSlash),
  ALPACA_DATA_URL: urlVariable(
    /^https?$/,
    "remove it to use Alpaca's market data API",
    "is not an http(s) URL; e.g. https://data.alpaca.markets or the simulator's http://127.0.0.1:5800",
  )
    .refine(...encryptedTo("http", isAlpacaHost, "the API keys"))
    .transform(withoutTrailingSlash),
  ALPACA_STREAM_URL: urlVariable(
    /^wss?$/,
    "remove it to use Alpaca's trade_updates stream",
    "is not a ws(s) URL; e.g. wss://paper-api.alpaca.markets/stream or the simulator's ws://127.0.0.1:5800/stream",
  ).refine(...encryptedTo("ws", isAlpacaHost, "the API keys")),
  LIVE_TRADING: flagVariable("remove it (live trading stays off), or set true or false"),
  DATABASE_URL: urlVariable(
    /^postgres(ql)?$/,
    `remove it to use the embedded database under ${EMBEDDED_DATABASE_DIRECTORY}, or set a PostgreSQL URL`,
    `is not a PostgreSQL URL; e.g. postgres://user:password@127.0.0.1:5432/desk, or remove it to use the embedded database under ${EMBEDDED_DATABASE_DIRECTORY}`,
  ),
  REDIS_URL: urlVariable(
    /^rediss?$/,
    `remove it to use ${DEFAULT_REDIS_URL}, or set a Redis URL`,
    `is not a Redis URL; e.g. ${DEFAULT_REDIS_URL} or rediss://:password@host:6380`,
  ),
  REDIS_PREFIX: present(
    `remove it to use "${DEFAULT_REDIS_PREFIX}", or set a prefix of this desk's own`,
  ).pipe(
    z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, {
      error: "may only hold 1 to 64 letters, digits, _ . : and -; e.g. desk-live",
    }),
  ),
  HTTP_PORT: present(`remove it to use ${DEFAULT_HTTP_PORT}, or set a port 1..65535`)
    .pipe(z.string().regex(/^\d+$/, { error: "is not a port number; use 1..65535" }))
    .transform(Number)
    .pipe(
      z.number().int().min(1, { error: "is out of range; use 1..65535" }).max(65535, {
        error: "is out of range; use 1..65535",
      }),
    ),
  ALERT_WEBHOOK_SECRET: sharedSecretVariable(
    `remove it to disable /api/alerts, or set a secret; ${GENERATE_SECRET}`,
  ),
  API_TOKEN: sharedSecretVariable(
    `remove it to disable /api/execution, or set a token; ${GENERATE_SECRET}`,
  ),
  SECRETS_KEY: present(`remove it, or set a 32-byte key; ${GENERATE_SECRET}`).transform(
    (text, ctx) => {
      const key = parseSecretsKey(text);
      if (key === null) {
        ctx.issues.push({
          code: "custom",
          message: `is not a 32-byte key written as 64 hex digits or base64; ${GENERATE_SECRET}`,
          input: "",
        });
        return z.NEVER;
      }
      return key;
    },
  ),
  ROLE: present(`remove it to run every role (all), or set ${PROCESS_ROLES.join(", ")}`).pipe(
    z.enum(PROCESS_ROLES, {
      error: (issue) => `is '${String(issue.input)}'; use ${PROCESS_ROLES.join(", ")}`,
    }),
  ),
  EXECUTION_WINDOW: present(
    `remove it to send entries at once, or set a New York time range; ${WINDOW_EXAMPLE}`,
  ).transform((text, ctx) => {
    const window = parseExecutionWindow(text);
    if (window === null) {
      ctx.issues.push({
        code: "custom",
        message: `is '${text}'; ${WINDOW_EXAMPLE}`,
        input: "",
      });
      return z.NEVER;
    }
    return window;
  }),
  NATIVE_BRACKETS: flagVariable(
    "remove it to send entries as brackets, or set false for an OCO placed on each fill",
  ),
  LOG_LEVEL: present(`remove it to use info, or set ${LOG_LEVELS.join(", ")}`).pipe(
    z.enum(LOG_LEVELS, {
      error: (issue) => `is '${String(issue.input)}'; use ${LOG_LEVELS.join(", ")}`,
    }),
  ),
} satisfies Record<string, z.ZodType>;

type VariableName = keyof typeof variables;

/** The environment variables this configuration reads. */
export const CONFIG_VARIABLES = Object.keys(variables) as VariableName[];

type ConfigValues = { [N in VariableName]?: z.output<(typeof variables)[N]> };

/**
 * Reads and validates the configuration from environment variables. Returns every problem at
 * once, one line each, naming the variable and what to do; never guesses between paper and live.
 */
export function loadConfig(env: Record<string, string | undefined>): ConfigResult {
  const { values, failed, problems } = parseVariables(env);
  problems.push(...combinationProblems(env, values, failed));
  if (problems.length > 0) return { ok: false, problems };

  const keyId = values.ALPACA_KEY_ID;
  const secretKey = values.ALPACA_SECRET_KEY;
  const credentials = keyId !== undefined && secretKey !== undefined ? { keyId, secretKey } : null;
  const live = values.ALPACA_PAPER === false && values.LIVE_TRADING === true;
  const mode: TradingMode = credentials === null ? "sandbox" : live ? "live" : "paper";
  const databaseUrl = values.DATABASE_URL;

  return {
    ok: true,
    config: {
      mode,
      role: values.ROLE ?? "all",
      logLevel: values.LOG_LEVEL ?? "info",
      telegram: {
        botToken: values.TELEGRAM_BOT_TOKEN ?? null,
        apiRoot: values.TELEGRAM_API_ROOT ?? DEFAULT_TELEGRAM_API_ROOT,
        allowedUsers: values.TELEGRAM_ALLOWED_USERS ?? [],
        webhook:
          values.TELEGRAM_WEBHOOK_URL !== undefined && values.TELEGRAM_WEBHOOK_SECRET !== undefined
            ? {
                url: values.TELEGRAM_WEBHOOK_URL,
                path: new URL(values.TELEGRAM_WEBHOOK_URL).pathname,
                secret: values.TELEGRAM_WEBHOOK_SECRET,
              }
            : null,
      },
      alpaca: {
        credentials,
        ...resolveAlpacaEndpoints(
          mode,
          values.ALPACA_TRADING_URL,
          values.ALPACA_DATA_URL,
          values.ALPACA_STREAM_URL,
        ),
      },
      database:
        databaseUrl === undefined
          ? { kind: "embedded", directory: EMBEDDED_DATABASE_DIRECTORY }
          : { kind: "postgres", url: databaseUrl },
      redis: {
        url: values.REDIS_URL ?? DEFAULT_REDIS_URL,
        isDefault: values.REDIS_URL === undefined,
        prefix: values.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX,
      },
      http: {
        port: values.HTTP_PORT ?? DEFAULT_HTTP_PORT,
        alertWebhookSecret: values.ALERT_WEBHOOK_SECRET ?? null,
        apiToken: values.API_TOKEN ?? null,
      },
      secretsKey: values.SECRETS_KEY ?? null,
      execution: {
        window: values.EXECUTION_WINDOW ?? { kind: "immediate" },
        nativeBrackets: values.NATIVE_BRACKETS ?? true,
      },
    },
  };
}

/**
 * Reads EXECUTION_WINDOW: `immediate`, or `HH:MM-HH:MM` New York time (start inclusive, end
 * exclusive, on one day). Null when it is neither.
 */
export function parseExecutionWindow(text: string): ExecutionWindow | null {
  if (text === "immediate") return { kind: "immediate" };
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match === null) return null;
  const start = `${match[1]}:${match[2]}`;
  const end = `${match[3]}:${match[4]}`;
  // Both zero-padded: the strings order as the times do.
  return start < end ? { kind: "window", start, end } : null;
}

/** Parses each set variable on its own; a failed one is absent from `values` and named in `failed`. */
function parseVariables(env: Record<string, string | undefined>): {
  values: ConfigValues;
  failed: ReadonlySet<VariableName>;
  problems: string[];
} {
  const values: Record<string, unknown> = {};
  const failed = new Set<VariableName>();
  const problems: string[] = [];
  for (const name of CONFIG_VARIABLES) {
    const raw = env[name];
    if (raw === undefined) continue;
    const result = variables[name].safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      failed.add(name);
      for (const issue of result.error.issues) problems.push(`${name}: ${issue.message}`);
    }
  }
  // Each entry was produced by the schema of the same name.
  return { values: values as ConfigValues, failed, problems };
}

/**
 * Rules between variables. A variable that failed on its own is left out of them, so one typo
 * gives one line, not a cascade.
 */
function combinationProblems(
  env: Record<string, string | undefined>,
  values: ConfigValues,
  failed: ReadonlySet<VariableName>,
): string[] {
  const problems: string[] = [];
  const isSet = (name: VariableName) => env[name] !== undefined;

  if (isSet("TELEGRAM_BOT_TOKEN") && !isSet("TELEGRAM_ALLOWED_USERS")) {
    problems.push(
      `TELEGRAM_ALLOWED_USERS: is missing while TELEGRAM_BOT_TOKEN is set, so nobody could use the bot; ${USERS_EXAMPLE}`,
    );
  } else if (isSet("TELEGRAM_BOT_TOKEN") && values.TELEGRAM_ALLOWED_USERS?.length === 0) {
    problems.push(
      `TELEGRAM_ALLOWED_USERS: lists nobody while TELEGRAM_BOT_TOKEN is set; ${USERS_EXAMPLE}`,
    );
  }

  if (isSet("TELEGRAM_WEBHOOK_URL") && !isSet("TELEGRAM_WEBHOOK_SECRET")) {
    problems.push(
      `TELEGRAM_WEBHOOK_SECRET: is missing while TELEGRAM_WEBHOOK_URL is set, so anyone could post updates; ${GENERATE_SECRET}`,
    );
  }
  if (isSet("TELEGRAM_WEBHOOK_SECRET") && !isSet("TELEGRAM_WEBHOOK_URL")) {
    problems.push(
      "TELEGRAM_WEBHOOK_URL: is missing while TELEGRAM_WEBHOOK_SECRET is set; set both for webhook mode, or neither for long polling",
    );
  }
  if (isSet("TELEGRAM_WEBHOOK_URL") && !isSet("TELEGRAM_BOT_TOKEN")) {
    problems.push(
      "TELEGRAM_WEBHOOK_URL: is set without TELEGRAM_BOT_TOKEN; the local sandbox has no webhook, remove it or set the token",
    );
  }

  // The URL is no secret: /metrics labels requests by its path and the banner prints it.
  const webhookUrl = values.TELEGRAM_WEBHOOK_URL;
  const tokenSecret = values.TELEGRAM_BOT_TOKEN?.split(":")[1];
  if (webhookUrl !== undefined && tokenSecret !== undefined) {
    let readable = webhookUrl;
    try {
      readable = decodeURIComponent(webhookUrl);
    } catch {
      // Malformed escapes: the URL as written is what gets compared.
    }
    if (readable.includes(tokenSecret)) {
      problems.push(
        "TELEGRAM_WEBHOOK_URL: holds the bot token, which would show wherever the URL does (metrics, logs, proxies); use a path without it, e.g. https://desk.example.com/telegram/webhook. TELEGRAM_WEBHOOK_SECRET already proves the updates come from Telegram",
      );
    }
  }

  if (isSet("ALPACA_KEY_ID") && !isSet("ALPACA_SECRET_KEY")) {
    problems.push(
      "ALPACA_SECRET_KEY: is missing while ALPACA_KEY_ID is set; set both, or neither to use the simulator",
    );
  }
  if (isSet("ALPACA_SECRET_KEY") && !isSet("ALPACA_KEY_ID")) {
    problems.push(
      "ALPACA_KEY_ID: is missing while ALPACA_SECRET_KEY is set; set both, or neither to use the simulator",
    );
  }

  // Going live takes two explicit switches; any other combination that names live is refused.
  if (failed.has("ALPACA_PAPER") || failed.has("LIVE_TRADING")) return problems;
  const paper = values.ALPACA_PAPER ?? true;
  const liveTrading = values.LIVE_TRADING ?? false;
  if (!paper && !liveTrading) {
    problems.push(
      "ALPACA_PAPER: is false but LIVE_TRADING is not true; live orders need both ALPACA_PAPER=false and LIVE_TRADING=true. Set LIVE_TRADING=true to trade real money, or remove ALPACA_PAPER to stay on paper",
    );
  }
  if (liveTrading && paper) {
    problems.push(
      "LIVE_TRADING: is true but ALPACA_PAPER is not false, so orders would go to the paper account; set ALPACA_PAPER=false as well to trade live, or remove LIVE_TRADING",
    );
  }
  const live = !paper && liveTrading;
  if (live && !isSet("ALPACA_KEY_ID") && !isSet("ALPACA_SECRET_KEY")) {
    problems.push(
      "LIVE_TRADING: live trading needs the live account's ALPACA_KEY_ID and ALPACA_SECRET_KEY; without them only the simulator runs",
    );
  }

  for (const name of ["ALPACA_TRADING_URL", "ALPACA_STREAM_URL"] as const) {
    const url = values[name];
    if (url === undefined) continue;
    const host = new URL(url).hostname;
    if (!live && host === ALPACA_LIVE_HOST) {
      problems.push(
        `${name}: points at Alpaca's live host ${ALPACA_LIVE_HOST} while not trading live; use ${ALPACA_PAPER_HOST} for paper, or go live with ALPACA_PAPER=false and LIVE_TRADING=true`,
      );
    }
    if (live && host === ALPACA_PAPER_HOST) {
      problems.push(
        `${name}: points at Alpaca's paper host ${ALPACA_PAPER_HOST} while LIVE_TRADING=true; remove it to use ${ALPACA_LIVE_HOST}, or stay on paper by removing ALPACA_PAPER and LIVE_TRADING`,
      );
    }
  }
  return problems;
}

/**
 * Overrides win. A trading URL alone (the simulator serves everything from one origin) also
 * gives the data URL (same origin) and the stream URL (same origin, ws scheme, `/stream`).
 */
function resolveAlpacaEndpoints(
  mode: TradingMode,
  tradingUrl: string | undefined,
  dataUrl: string | undefined,
  streamUrl: string | undefined,
): { tradingUrl: string | null; dataUrl: string | null; streamUrl: string | null } {
  const hosts = mode === "live" ? ALPACA_HOSTS.live : mode === "paper" ? ALPACA_HOSTS.paper : null;
  const derived = tradingUrl === undefined ? null : deriveFromTradingUrl(tradingUrl);
  return {
    tradingUrl: tradingUrl ?? hosts?.trading ?? null,
    dataUrl: dataUrl ?? derived?.dataUrl ?? hosts?.data ?? null,
    streamUrl: streamUrl ?? derived?.streamUrl ?? hosts?.stream ?? null,
  };
}

function deriveFromTradingUrl(tradingUrl: string): { dataUrl: string; streamUrl: string } {
  const origin = new URL(tradingUrl);
  const streamScheme = origin.protocol === "https:" ? "wss:" : "ws:";
  // Alpaca's own trading hosts serve no market data: that stays on its data host.
  const alpacaHost = origin.hostname === ALPACA_PAPER_HOST || origin.hostname === ALPACA_LIVE_HOST;
  return {
    dataUrl: alpacaHost ? ALPACA_HOSTS.paper.data : origin.origin,
    streamUrl: `${streamScheme}//${origin.host}/stream`,
  };
}

/**
 * A summary for the start banner, one line per subject. Secrets appear only as "set" or
 * "not set"; URLs have passwords masked.
 */
export function describeConfig(config: AppConfig): string[] {
  const { telegram, alpaca, http } = config;
  const modeLine = {
    sandbox: "mode: sandbox; orders go to the simulator (no ALPACA_KEY_ID / ALPACA_SECRET_KEY)",
    paper: "mode: paper; orders go to Alpaca's paper account",
    live: "mode: LIVE; orders go to Alpaca's live account with real money",
  }[config.mode];
  const roleCounts = USER_ROLES.map(
    (role) => [role, telegram.allowedUsers.filter((user) => user.role === role).length] as const,
  )
    .filter(([, count]) => count > 0)
    .map(([role, count]) => `${count} ${role}`);
  const users =
    telegram.allowedUsers.length === 0
      ? "no allowed users"
      : `${telegram.allowedUsers.length} allowed users (${roleCounts.join(", ")})`;

  return [
    modeLine,
    `role: ${config.role}`,
    telegram.botToken === null
      ? `chat: local sandbox (no TELEGRAM_BOT_TOKEN); ${users}`
      : `chat: Telegram bot, token set, Bot API ${maskUrl(telegram.apiRoot)}${telegram.webhook === null ? "" : `, webhook ${maskUrl(telegram.webhook.url)} (secret set)`}; ${users}`,
    describeBroker(alpaca),
    config.database.kind === "postgres"
      ? `database: PostgreSQL ${maskUrl(config.database.url)}`
      : `database: embedded under ${config.database.directory}`,
    config.mode === "sandbox" && config.redis.isDefault
      ? "queues: embedded (no REDIS_URL)"
      : `queues: Redis ${maskUrl(config.redis.url)}${config.redis.isDefault ? " (default)" : ""}`,
    `http: port ${http.port}; /api/alerts ${http.alertWebhookSecret === null ? "disabled (no ALERT_WEBHOOK_SECRET)" : "secret set"}; /api/execution ${http.apiToken === null ? "disabled (no API_TOKEN)" : "token set"}`,
    `secrets key: ${config.secretsKey === null ? "not set; broker credentials cannot be stored" : "set"}`,
    describeExecution(config.execution),
    `log level: ${config.logLevel}`,
  ];
}

function describeExecution(execution: AppConfig["execution"]): string {
  const when =
    execution.window.kind === "immediate"
      ? "entries sent at once"
      : `entries sent from ${execution.window.start} to ${execution.window.end} New York time on trading days`;
  const how = execution.nativeBrackets
    ? "as native brackets"
    : "as simple orders, an OCO placed on each fill";
  return `execution: ${when}, ${how}`;
}

function describeBroker(alpaca: AppConfig["alpaca"]): string {
  const credentials = `credentials ${alpaca.credentials === null ? "not set" : "set"}`;
  const { tradingUrl, dataUrl, streamUrl } = alpaca;
  if (tradingUrl === null && dataUrl === null && streamUrl === null) {
    return `broker: the built-in simulator; ${credentials}`;
  }
  const show = (url: string | null) => (url === null ? "the built-in simulator" : maskUrl(url));
  return `broker: ${credentials}; trading ${show(tradingUrl)}, data ${show(dataUrl)}, stream ${show(streamUrl)}`;
}
