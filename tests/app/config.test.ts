import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AppConfig,
  CONFIG_VARIABLES,
  describeConfig,
  loadConfig,
  MIN_SHARED_SECRET_LENGTH,
} from "../../app/config";

type Env = Record<string, string | undefined>;

const BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9";
const KEY_ID = "PKTESTKEYID0000000001";
const SECRET_KEY = "sEcReTkEy0123456789abcdefghijklmnopqrstu";
const WEBHOOK_SECRET = "whsec-0123456789abcdef";
const API_TOKEN = "apitoken-0123456789abcdef";
const SECRETS_KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

function configOf(env: Env): AppConfig {
  const result = loadConfig(env);
  if (!result.ok)
    throw new Error(`expected a valid configuration, got:\n${result.problems.join("\n")}`);
  return result.config;
}

function problemsOf(env: Env): readonly string[] {
  const result = loadConfig(env);
  if (result.ok) throw new Error("expected configuration problems, got a valid configuration");
  return result.problems;
}

describe("loadConfig defaults", () => {
  it("starts a sandbox with nothing set", () => {
    const config = configOf({});
    expect(config.mode).toBe("sandbox");
    expect(config.role).toBe("all");
    expect(config.logLevel).toBe("info");
    expect(config.telegram).toEqual({
      botToken: null,
      apiRoot: "https://api.telegram.org",
      allowedUsers: [],
      webhook: null,
    });
    expect(config.alpaca).toEqual({
      credentials: null,
      tradingUrl: null,
      dataUrl: null,
      streamUrl: null,
    });
    expect(config.database).toEqual({ kind: "embedded", directory: "./data" });
    expect(config.redis).toEqual({
      url: "redis://127.0.0.1:6379",
      isDefault: true,
      prefix: "desk",
    });
    expect(config.http).toEqual({ port: 8080, alertWebhookSecret: null, apiToken: null });
    expect(config.secretsKey).toBeNull();
    expect(config.execution).toEqual({ window: { kind: "immediate" }, nativeBrackets: true });
  });

  it("ignores variables it does not know", () => {
    expect(configOf({ PATH: "/usr/bin", HOME: "/root", SIM_PORT: "5800" }).mode).toBe("sandbox");
  });

  it("refuses an empty value for every variable instead of defaulting", () => {
    for (const name of CONFIG_VARIABLES) {
      const problems = problemsOf({ [name]: "" });
      expect(problems[0]).toMatch(new RegExp(`^${name}: is set but empty; `));
      const whitespace = problemsOf({ [name]: "   " });
      expect(whitespace[0]).toMatch(new RegExp(`^${name}: is set but empty; `));
    }
  });

  it("reports every problem at once, one line each, naming the variable", () => {
    const problems = problemsOf({
      HTTP_PORT: "x",
      ROLE: "web",
      REDIS_URL: "nope",
      TELEGRAM_ALLOWED_USERS: "1:boss",
    });
    expect(problems).toHaveLength(4);
    for (const line of problems) {
      expect(line).not.toContain("\n");
      expect(line).toMatch(/^[A-Z_]+: /);
    }
  });
});

describe("TELEGRAM_BOT_TOKEN", () => {
  it("takes a token and needs an allow list with it", () => {
    const config = configOf({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_ALLOWED_USERS: "1:admin" });
    expect(config.telegram.botToken).toBe(BOT_TOKEN);
    expect(problemsOf({ TELEGRAM_BOT_TOKEN: BOT_TOKEN })).toEqual([
      "TELEGRAM_ALLOWED_USERS: is missing while TELEGRAM_BOT_TOKEN is set, so nobody could use the bot; use id:role pairs like 123456:admin,987:trader",
    ]);
    expect(problemsOf({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_ALLOWED_USERS: " , " })).toEqual([
      "TELEGRAM_ALLOWED_USERS: lists nobody while TELEGRAM_BOT_TOKEN is set; use id:role pairs like 123456:admin,987:trader",
    ]);
  });

  it("trims surrounding whitespace", () => {
    const config = configOf({
      TELEGRAM_BOT_TOKEN: ` ${BOT_TOKEN}\n`,
      TELEGRAM_ALLOWED_USERS: "1:admin",
    });
    expect(config.telegram.botToken).toBe(BOT_TOKEN);
  });

  it("refuses malformed tokens without repeating them", () => {
    for (const token of ["not-a-token", "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9", "123:short"]) {
      const problems = problemsOf({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_ALLOWED_USERS: "1:admin" });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^TELEGRAM_BOT_TOKEN: does not look like a bot token/);
      expect(problems[0]).not.toContain(token);
    }
  });
});

describe("TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET", () => {
  const bot = { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_ALLOWED_USERS: "1:admin" };
  const TELEGRAM_SECRET = "tg_0123456789-abcdef";

  it("switch the bot to a webhook served at the URL's path", () => {
    const config = configOf({
      ...bot,
      TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook",
      TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET,
    });
    expect(config.telegram.webhook).toEqual({
      url: "https://desk.example.com/telegram/hook",
      path: "/telegram/hook",
      secret: TELEGRAM_SECRET,
    });
    expect(configOf(bot).telegram.webhook).toBeNull();
    const banner = describeConfig(config).join("\n");
    expect(banner).toContain("webhook https://desk.example.com/telegram/hook (secret set)");
    expect(banner).not.toContain(TELEGRAM_SECRET);
  });

  it("must come together, and with a bot token", () => {
    expect(
      problemsOf({ ...bot, TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook" }),
    ).toEqual([
      "TELEGRAM_WEBHOOK_SECRET: is missing while TELEGRAM_WEBHOOK_URL is set, so anyone could post updates; generate one with: openssl rand -hex 32",
    ]);
    expect(problemsOf({ ...bot, TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET })).toEqual([
      "TELEGRAM_WEBHOOK_URL: is missing while TELEGRAM_WEBHOOK_SECRET is set; set both for webhook mode, or neither for long polling",
    ]);
    expect(
      problemsOf({
        TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook",
        TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET,
      }),
    ).toEqual([
      "TELEGRAM_WEBHOOK_URL: is set without TELEGRAM_BOT_TOKEN; the local sandbox has no webhook, remove it or set the token",
    ]);
  });

  it("refuse a URL without a path or of another scheme", () => {
    const secret = { ...bot, TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET };
    expect(problemsOf({ ...secret, TELEGRAM_WEBHOOK_URL: "https://desk.example.com" })[0]).toMatch(
      /^TELEGRAM_WEBHOOK_URL: has no path/,
    );
    expect(
      problemsOf({ ...secret, TELEGRAM_WEBHOOK_URL: "ftp://desk.example.com/hook" })[0],
    ).toMatch(/^TELEGRAM_WEBHOOK_URL: is not an http\(s\) URL/);
  });

  it("refuse a URL holding the bot token, without repeating it", () => {
    // /metrics (no auth) labels requests by route, and the start banner names the path.
    const secret = { ...bot, TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET };
    const [, tokenSecret] = BOT_TOKEN.split(":");
    for (const url of [
      `https://desk.example.com/bot${BOT_TOKEN}`,
      `https://desk.example.com/telegram/${tokenSecret}`,
      `https://desk.example.com/telegram/${encodeURIComponent(BOT_TOKEN)}`,
      `https://desk.example.com/telegram?token=${BOT_TOKEN}`,
    ]) {
      const problems = problemsOf({ ...secret, TELEGRAM_WEBHOOK_URL: url });
      expect(problems, url).toHaveLength(1);
      expect(problems[0]).toMatch(/^TELEGRAM_WEBHOOK_URL: holds the bot token/);
      expect(problems[0]).toContain("TELEGRAM_WEBHOOK_SECRET");
      expect(problems[0]).not.toContain(tokenSecret);
    }
  });

  it("refuse a secret Telegram would not take, without repeating it", () => {
    const url = { ...bot, TELEGRAM_WEBHOOK_URL: "https://desk.example.com/telegram/hook" };
    for (const [secret, pattern] of [
      ["tiny-42", /is too short/],
      ["has spaces and $igns 0123456789", /may only hold letters, digits, _ and -/],
      ["a".repeat(257), /is longer than Telegram's 256 characters/],
    ] as const) {
      const problems = problemsOf({ ...url, TELEGRAM_WEBHOOK_SECRET: secret });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^TELEGRAM_WEBHOOK_SECRET: /);
      expect(problems[0]).toMatch(pattern);
      expect(problems[0]).not.toContain(secret);
    }
  });
});

describe("TELEGRAM_API_ROOT", () => {
  it("takes an http(s) root without its trailing slash", () => {
    expect(configOf({ TELEGRAM_API_ROOT: "http://127.0.0.1:9001/" }).telegram.apiRoot).toBe(
      "http://127.0.0.1:9001",
    );
    expect(configOf({ TELEGRAM_API_ROOT: "https://tg.example.com" }).telegram.apiRoot).toBe(
      "https://tg.example.com",
    );
  });

  it("refuses plain http to Telegram's own host, which would carry the token unencrypted", () => {
    expect(problemsOf({ TELEGRAM_API_ROOT: "http://api.telegram.org" })).toEqual([
      "TELEGRAM_API_ROOT: is plain http to api.telegram.org, which would send the bot token unencrypted; use https://api.telegram.org",
    ]);
    expect(problemsOf({ TELEGRAM_API_ROOT: "http://API.Telegram.org:80/" })).toHaveLength(1);
  });

  it("refuses other schemes and non-URLs", () => {
    for (const root of ["ftp://tg.example.com", "api.telegram.org", "http//x"]) {
      expect(problemsOf({ TELEGRAM_API_ROOT: root })).toEqual([
        "TELEGRAM_API_ROOT: is not an http(s) URL; e.g. https://api.telegram.org or http://127.0.0.1:8081 for a local Bot API server",
      ]);
    }
  });
});

describe("TELEGRAM_ALLOWED_USERS", () => {
  it("parses id:role pairs with spaces and a trailing comma", () => {
    const config = configOf({ TELEGRAM_ALLOWED_USERS: "123456:admin, 987:trader ,55: viewer," });
    expect(config.telegram.allowedUsers).toEqual([
      { telegramUserId: 123456, role: "admin" },
      { telegramUserId: 987, role: "trader" },
      { telegramUserId: 55, role: "viewer" },
    ]);
  });

  it("takes the largest safe integer id and refuses larger ones", () => {
    const max = String(Number.MAX_SAFE_INTEGER);
    expect(configOf({ TELEGRAM_ALLOWED_USERS: `${max}:admin` }).telegram.allowedUsers).toEqual([
      { telegramUserId: Number.MAX_SAFE_INTEGER, role: "admin" },
    ]);
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "9007199254740993:admin" })).toEqual([
      "TELEGRAM_ALLOWED_USERS: '9007199254740993:admin' is not a Telegram user id; use id:role pairs like 123456:admin,987:trader",
    ]);
  });

  it("says which entry is wrong and how to write it", () => {
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "12x:admin" })).toEqual([
      "TELEGRAM_ALLOWED_USERS: '12x:admin' is not a Telegram user id; use id:role pairs like 123456:admin,987:trader",
    ]);
    for (const entry of ["0:admin", "-100123:admin", "007:admin", "1.5:admin", ":admin"]) {
      expect(problemsOf({ TELEGRAM_ALLOWED_USERS: entry })).toEqual([
        `TELEGRAM_ALLOWED_USERS: '${entry}' is not a Telegram user id; use id:role pairs like 123456:admin,987:trader`,
      ]);
    }
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "5:boss" })).toEqual([
      "TELEGRAM_ALLOWED_USERS: '5:boss' has role 'boss'; roles are admin, trader, viewer",
    ]);
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "5:Admin" })).toEqual([
      "TELEGRAM_ALLOWED_USERS: '5:Admin' has role 'Admin'; roles are admin, trader, viewer",
    ]);
    for (const entry of ["5", "5:admin:x", "admin"]) {
      expect(problemsOf({ TELEGRAM_ALLOWED_USERS: entry })).toEqual([
        `TELEGRAM_ALLOWED_USERS: '${entry}' is not an id:role pair; use id:role pairs like 123456:admin,987:trader`,
      ]);
    }
  });

  it("refuses the same user twice, even with the same role", () => {
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "7:admin,8:trader,7:viewer" })).toEqual([
      "TELEGRAM_ALLOWED_USERS: user 7 is listed twice ('7:admin' and '7:viewer'); list each user once",
    ]);
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "7:admin,7:admin" })).toHaveLength(1);
  });

  it("reports each bad entry on its own line", () => {
    expect(problemsOf({ TELEGRAM_ALLOWED_USERS: "1:admin,x:trader,2:king,1:viewer" })).toHaveLength(
      3,
    );
  });
});

describe("ALPACA_KEY_ID and ALPACA_SECRET_KEY", () => {
  it("trade on paper when both are set", () => {
    const config = configOf({ ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: SECRET_KEY });
    expect(config.mode).toBe("paper");
    expect(config.alpaca).toEqual({
      credentials: { keyId: KEY_ID, secretKey: SECRET_KEY },
      tradingUrl: "https://paper-api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
  });

  it("must come together", () => {
    expect(problemsOf({ ALPACA_KEY_ID: KEY_ID })).toEqual([
      "ALPACA_SECRET_KEY: is missing while ALPACA_KEY_ID is set; set both, or neither to use the simulator",
    ]);
    const problems = problemsOf({ ALPACA_SECRET_KEY: SECRET_KEY });
    expect(problems).toEqual([
      "ALPACA_KEY_ID: is missing while ALPACA_SECRET_KEY is set; set both, or neither to use the simulator",
    ]);
    expect(problems.join("\n")).not.toContain(SECRET_KEY);
  });
});

describe("ALPACA_PAPER and LIVE_TRADING", () => {
  const credentials = { ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: SECRET_KEY };

  it("accept the usual spellings of true and false", () => {
    for (const yes of ["true", "TRUE", "1", "yes", "on"]) {
      expect(configOf({ ...credentials, ALPACA_PAPER: yes }).mode).toBe("paper");
    }
    for (const no of ["false", "False", "0", "no", "off"]) {
      expect(configOf({ ...credentials, ALPACA_PAPER: no, LIVE_TRADING: "true" }).mode).toBe(
        "live",
      );
      expect(configOf({ ...credentials, LIVE_TRADING: no }).mode).toBe("paper");
    }
  });

  it("refuse anything else", () => {
    expect(problemsOf({ ALPACA_PAPER: "paper" })).toEqual([
      "ALPACA_PAPER: is neither true nor false; use true or false",
    ]);
    expect(problemsOf({ LIVE_TRADING: "sure" })).toEqual([
      "LIVE_TRADING: is neither true nor false; use true or false",
    ]);
  });

  it("go live only with ALPACA_PAPER=false and LIVE_TRADING=true", () => {
    const config = configOf({ ...credentials, ALPACA_PAPER: "false", LIVE_TRADING: "true" });
    expect(config.mode).toBe("live");
    expect(config.alpaca.tradingUrl).toBe("https://api.alpaca.markets");
    expect(config.alpaca.dataUrl).toBe("https://data.alpaca.markets");
    expect(config.alpaca.streamUrl).toBe("wss://api.alpaca.markets/stream");
  });

  it("refuse ALPACA_PAPER=false without LIVE_TRADING=true, never falling back to paper", () => {
    const expected = [
      "ALPACA_PAPER: is false but LIVE_TRADING is not true; live orders need both ALPACA_PAPER=false and LIVE_TRADING=true. Set LIVE_TRADING=true to trade real money, or remove ALPACA_PAPER to stay on paper",
    ];
    expect(problemsOf({ ...credentials, ALPACA_PAPER: "false" })).toEqual(expected);
    expect(problemsOf({ ...credentials, ALPACA_PAPER: "false", LIVE_TRADING: "false" })).toEqual(
      expected,
    );
    expect(problemsOf({ ALPACA_PAPER: "false" })).toEqual(expected);
  });

  it("refuse LIVE_TRADING=true while on paper, never sending live orders to paper silently", () => {
    const expected = [
      "LIVE_TRADING: is true but ALPACA_PAPER is not false, so orders would go to the paper account; set ALPACA_PAPER=false as well to trade live, or remove LIVE_TRADING",
    ];
    expect(problemsOf({ ...credentials, LIVE_TRADING: "true" })).toEqual(expected);
    expect(problemsOf({ ...credentials, LIVE_TRADING: "true", ALPACA_PAPER: "true" })).toEqual(
      expected,
    );
  });

  it("refuse live trading without credentials", () => {
    expect(problemsOf({ ALPACA_PAPER: "false", LIVE_TRADING: "true" })).toEqual([
      "LIVE_TRADING: live trading needs the live account's ALPACA_KEY_ID and ALPACA_SECRET_KEY; without them only the simulator runs",
    ]);
  });

  it("report only the flag itself when one flag is malformed", () => {
    expect(problemsOf({ ALPACA_PAPER: "maybe", LIVE_TRADING: "true" })).toEqual([
      "ALPACA_PAPER: is neither true nor false; use true or false",
    ]);
  });
});

describe("ALPACA_TRADING_URL, ALPACA_DATA_URL, ALPACA_STREAM_URL", () => {
  it("point the sandbox at a running simulator; the trading URL alone gives the other two", () => {
    const config = configOf({ ALPACA_TRADING_URL: "http://127.0.0.1:5800/" });
    expect(config.mode).toBe("sandbox");
    expect(config.alpaca).toEqual({
      credentials: null,
      tradingUrl: "http://127.0.0.1:5800",
      dataUrl: "http://127.0.0.1:5800",
      streamUrl: "ws://127.0.0.1:5800/stream",
    });
    expect(configOf({ ALPACA_TRADING_URL: "https://sim.example.com" }).alpaca.streamUrl).toBe(
      "wss://sim.example.com/stream",
    );
  });

  it("keep Alpaca's market data host when the trading URL names Alpaca's own host", () => {
    // Same origin holds for the simulator only: Alpaca serves market data from data.alpaca.markets.
    const paper = configOf({
      ALPACA_KEY_ID: KEY_ID,
      ALPACA_SECRET_KEY: SECRET_KEY,
      ALPACA_TRADING_URL: "https://paper-api.alpaca.markets",
    });
    expect(paper.alpaca).toEqual({
      credentials: { keyId: KEY_ID, secretKey: SECRET_KEY },
      tradingUrl: "https://paper-api.alpaca.markets",
      dataUrl: "https://data.alpaca.markets",
      streamUrl: "wss://paper-api.alpaca.markets/stream",
    });
    const live = configOf({
      ALPACA_KEY_ID: KEY_ID,
      ALPACA_SECRET_KEY: SECRET_KEY,
      ALPACA_PAPER: "false",
      LIVE_TRADING: "true",
      ALPACA_TRADING_URL: "https://api.alpaca.markets/",
    });
    expect(live.alpaca.dataUrl).toBe("https://data.alpaca.markets");
    expect(live.alpaca.streamUrl).toBe("wss://api.alpaca.markets/stream");
  });

  it("refuse unencrypted schemes to Alpaca's hosts, which would carry the keys in the clear", () => {
    const credentials = { ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: SECRET_KEY };
    expect(
      problemsOf({ ...credentials, ALPACA_TRADING_URL: "http://paper-api.alpaca.markets" }),
    ).toEqual([
      "ALPACA_TRADING_URL: is plain http to paper-api.alpaca.markets, which would send the API keys unencrypted; use https://paper-api.alpaca.markets",
    ]);
    expect(
      problemsOf({ ...credentials, ALPACA_DATA_URL: "http://data.alpaca.markets" })[0],
    ).toMatch(/^ALPACA_DATA_URL: is plain http to data\.alpaca\.markets, .+ use https:/);
    expect(
      problemsOf({ ...credentials, ALPACA_STREAM_URL: "ws://paper-api.alpaca.markets/stream" })[0],
    ).toMatch(/^ALPACA_STREAM_URL: is plain ws to paper-api\.alpaca\.markets, .+ use wss:/);
    // The simulator on this machine or elsewhere is not Alpaca.
    expect(configOf({ ALPACA_TRADING_URL: "http://sim.example.com:5800" }).alpaca.tradingUrl).toBe(
      "http://sim.example.com:5800",
    );
  });

  it("override each endpoint separately", () => {
    const config = configOf({
      ALPACA_KEY_ID: KEY_ID,
      ALPACA_SECRET_KEY: SECRET_KEY,
      ALPACA_DATA_URL: "http://127.0.0.1:5900",
      ALPACA_STREAM_URL: "ws://127.0.0.1:5901/stream",
    });
    expect(config.alpaca.tradingUrl).toBe("https://paper-api.alpaca.markets");
    expect(config.alpaca.dataUrl).toBe("http://127.0.0.1:5900");
    expect(config.alpaca.streamUrl).toBe("ws://127.0.0.1:5901/stream");
  });

  it("refuse wrong schemes", () => {
    expect(problemsOf({ ALPACA_TRADING_URL: "ws://127.0.0.1:5800" })[0]).toMatch(
      /^ALPACA_TRADING_URL: is not an http\(s\) URL; /,
    );
    expect(problemsOf({ ALPACA_DATA_URL: "localhost:5800" })[0]).toMatch(
      /^ALPACA_DATA_URL: is not an http\(s\) URL; /,
    );
    expect(problemsOf({ ALPACA_STREAM_URL: "https://paper-api.alpaca.markets/stream" })).toEqual([
      "ALPACA_STREAM_URL: is not a ws(s) URL; e.g. wss://paper-api.alpaca.markets/stream or the simulator's ws://127.0.0.1:5800/stream",
    ]);
  });

  it("refuse Alpaca's live host unless trading live, and the paper host when live", () => {
    const credentials = { ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: SECRET_KEY };
    expect(
      problemsOf({ ...credentials, ALPACA_TRADING_URL: "https://api.alpaca.markets" }),
    ).toEqual([
      "ALPACA_TRADING_URL: points at Alpaca's live host api.alpaca.markets while not trading live; use paper-api.alpaca.markets for paper, or go live with ALPACA_PAPER=false and LIVE_TRADING=true",
    ]);
    expect(
      problemsOf({ ...credentials, ALPACA_STREAM_URL: "wss://api.alpaca.markets/stream" })[0],
    ).toMatch(/^ALPACA_STREAM_URL: points at Alpaca's live host/);
    expect(
      problemsOf({
        ...credentials,
        ALPACA_PAPER: "false",
        LIVE_TRADING: "true",
        ALPACA_TRADING_URL: "https://paper-api.alpaca.markets",
      }),
    ).toEqual([
      "ALPACA_TRADING_URL: points at Alpaca's paper host paper-api.alpaca.markets while LIVE_TRADING=true; remove it to use api.alpaca.markets, or stay on paper by removing ALPACA_PAPER and LIVE_TRADING",
    ]);
  });
});

describe("DATABASE_URL", () => {
  it("selects PostgreSQL", () => {
    for (const url of ["postgres://desk:pw@db:5432/desk", "postgresql://127.0.0.1/desk"]) {
      expect(configOf({ DATABASE_URL: url }).database).toEqual({ kind: "postgres", url });
    }
  });

  it("refuses other URLs without repeating them", () => {
    const url = "mysql://desk:hunter2secret@db/desk";
    const problems = problemsOf({ DATABASE_URL: url });
    expect(problems).toEqual([
      "DATABASE_URL: is not a PostgreSQL URL; e.g. postgres://user:password@127.0.0.1:5432/desk, or remove it to use the embedded database under ./data",
    ]);
    expect(problems.join("\n")).not.toContain("hunter2secret");
    expect(problemsOf({ DATABASE_URL: "./data/db" })).toHaveLength(1);
  });
});

describe("REDIS_PREFIX", () => {
  it("sets the desk's key prefix, and refuses characters outside a key's", () => {
    expect(configOf({ REDIS_PREFIX: "desk-live" }).redis.prefix).toBe("desk-live");
    expect(problemsOf({ REDIS_PREFIX: "desk live" })).toEqual([
      "REDIS_PREFIX: may only hold 1 to 64 letters, digits, _ . : and -; e.g. desk-live",
    ]);
  });
});

describe("REDIS_URL", () => {
  it("takes redis and rediss URLs", () => {
    expect(configOf({ REDIS_URL: "redis://cache:6379/2" }).redis).toEqual({
      url: "redis://cache:6379/2",
      isDefault: false,
      prefix: "desk",
    });
    expect(configOf({ REDIS_URL: "rediss://:pw@cache:6380" }).redis.url).toBe(
      "rediss://:pw@cache:6380",
    );
  });

  it("refuses other URLs", () => {
    expect(problemsOf({ REDIS_URL: "http://cache:6379" })).toEqual([
      "REDIS_URL: is not a Redis URL; e.g. redis://127.0.0.1:6379 or rediss://:password@host:6380",
    ]);
  });
});

describe("HTTP_PORT", () => {
  it("takes ports 1 to 65535", () => {
    expect(configOf({ HTTP_PORT: "1" }).http.port).toBe(1);
    expect(configOf({ HTTP_PORT: "65535" }).http.port).toBe(65535);
    expect(configOf({ HTTP_PORT: " 9090 " }).http.port).toBe(9090);
  });

  it("refuses an empty value rather than reading it as port 0", () => {
    expect(problemsOf({ HTTP_PORT: "" })).toEqual([
      "HTTP_PORT: is set but empty; remove it to use 8080, or set a port 1..65535",
    ]);
  });

  it("refuses out-of-range and non-numeric ports", () => {
    for (const port of ["0", "65536", "100000"]) {
      expect(problemsOf({ HTTP_PORT: port })).toEqual(["HTTP_PORT: is out of range; use 1..65535"]);
    }
    for (const port of ["80a", "-1", "8080.5", "1e3", "0x50"]) {
      expect(problemsOf({ HTTP_PORT: port })).toEqual([
        "HTTP_PORT: is not a port number; use 1..65535",
      ]);
    }
  });
});

describe("ALERT_WEBHOOK_SECRET and API_TOKEN", () => {
  it("take long enough secrets", () => {
    const config = configOf({ ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET, API_TOKEN: API_TOKEN });
    expect(config.http.alertWebhookSecret).toBe(WEBHOOK_SECRET);
    expect(config.http.apiToken).toBe(API_TOKEN);
    const exact = "x".repeat(MIN_SHARED_SECRET_LENGTH);
    expect(configOf({ API_TOKEN: exact }).http.apiToken).toBe(exact);
  });

  it("refuse short ones, giving the length but never the value", () => {
    const short = "s3cr3t-v4lue";
    for (const name of ["ALERT_WEBHOOK_SECRET", "API_TOKEN"]) {
      const problems = problemsOf({ [name]: short });
      expect(problems).toEqual([
        `${name}: is too short (12 characters); use at least 16 random characters, generate one with: openssl rand -hex 32`,
      ]);
      expect(problems.join("\n")).not.toContain(short);
    }
  });
});

describe("SECRETS_KEY", () => {
  const key = Buffer.from(SECRETS_KEY_HEX, "hex");

  it("takes 32 bytes as hex, base64 or base64url", () => {
    expect(configOf({ SECRETS_KEY: SECRETS_KEY_HEX }).secretsKey).toEqual(key);
    expect(configOf({ SECRETS_KEY: SECRETS_KEY_HEX.toUpperCase() }).secretsKey).toEqual(key);
    expect(configOf({ SECRETS_KEY: key.toString("base64") }).secretsKey).toEqual(key);
    expect(configOf({ SECRETS_KEY: key.toString("base64url") }).secretsKey).toEqual(key);
  });

  it("refuses other lengths and encodings without repeating the value", () => {
    const candidates = [
      SECRETS_KEY_HEX.slice(2),
      `${SECRETS_KEY_HEX}00`,
      Buffer.alloc(31, 7).toString("base64"),
      Buffer.alloc(33, 7).toString("base64"),
      "correct horse battery staple and more words",
    ];
    for (const candidate of candidates) {
      const problems = problemsOf({ SECRETS_KEY: candidate });
      expect(problems).toEqual([
        "SECRETS_KEY: is not a 32-byte key written as 64 hex digits or base64; generate one with: openssl rand -hex 32",
      ]);
    }
  });
});

describe("ROLE and LOG_LEVEL", () => {
  it("take the known values", () => {
    for (const role of ["all", "bot", "worker"] as const) {
      expect(configOf({ ROLE: role }).role).toBe(role);
    }
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const) {
      expect(configOf({ LOG_LEVEL: level }).logLevel).toBe(level);
    }
  });

  it("refuse others, listing the choices", () => {
    expect(problemsOf({ ROLE: "web" })).toEqual(["ROLE: is 'web'; use all, bot, worker"]);
    expect(problemsOf({ LOG_LEVEL: "loud" })).toEqual([
      "LOG_LEVEL: is 'loud'; use fatal, error, warn, info, debug, trace, silent",
    ]);
  });
});

describe("EXECUTION_WINDOW and NATIVE_BRACKETS", () => {
  it("take immediate or a New York time range, and a flag", () => {
    expect(configOf({ EXECUTION_WINDOW: "immediate" }).execution.window).toEqual({
      kind: "immediate",
    });
    expect(configOf({ EXECUTION_WINDOW: "09:45-10:00" }).execution.window).toEqual({
      kind: "window",
      start: "09:45",
      end: "10:00",
    });
    expect(configOf({ NATIVE_BRACKETS: "false" }).execution.nativeBrackets).toBe(false);
  });

  it("refuse a range that is not one, saying how to write it", () => {
    for (const text of ["9:45-10:00", "09:45", "10:00-09:45", "09:45-09:45", "24:00-24:30"]) {
      expect(problemsOf({ EXECUTION_WINDOW: text })).toEqual([
        `EXECUTION_WINDOW: is '${text}'; use immediate, or a start and end in New York time like 09:45-10:00 (end after start)`,
      ]);
    }
    expect(problemsOf({ NATIVE_BRACKETS: "sometimes" })).toEqual([
      "NATIVE_BRACKETS: is neither true nor false; use true or false",
    ]);
  });
});

describe("describeConfig", () => {
  const fullEnv: Env = {
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_ALLOWED_USERS: "1:admin,2:trader,3:trader",
    ALPACA_KEY_ID: KEY_ID,
    ALPACA_SECRET_KEY: SECRET_KEY,
    ALPACA_PAPER: "false",
    LIVE_TRADING: "true",
    DATABASE_URL: "postgres://desk:dbpassword123@db:5432/desk",
    REDIS_URL: "redis://:redispassword456@cache:6379",
    HTTP_PORT: "9000",
    ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    API_TOKEN: API_TOKEN,
    SECRETS_KEY: SECRETS_KEY_HEX,
    ROLE: "bot",
    LOG_LEVEL: "debug",
    EXECUTION_WINDOW: "09:45-10:00",
    NATIVE_BRACKETS: "false",
  };

  it("never prints a secret", () => {
    const banner = describeConfig(configOf(fullEnv)).join("\n");
    const secrets = [
      BOT_TOKEN,
      BOT_TOKEN.split(":")[1] ?? "unreachable",
      KEY_ID,
      SECRET_KEY,
      "dbpassword123",
      "redispassword456",
      WEBHOOK_SECRET,
      API_TOKEN,
      SECRETS_KEY_HEX,
      Buffer.from(SECRETS_KEY_HEX, "hex").toString("base64"),
    ];
    for (const secret of secrets) expect(banner).not.toContain(secret);
  });

  it("says what runs and where, with passwords masked", () => {
    expect(describeConfig(configOf(fullEnv))).toEqual([
      "mode: LIVE; orders go to Alpaca's live account with real money",
      "role: bot",
      "chat: Telegram bot, token set, Bot API https://api.telegram.org; 3 allowed users (1 admin, 2 trader)",
      "broker: credentials set; trading https://api.alpaca.markets, data https://data.alpaca.markets, stream wss://api.alpaca.markets/stream",
      "database: PostgreSQL postgres://desk:[REDACTED]@db:5432/desk",
      "queues: Redis redis://:[REDACTED]@cache:6379",
      "http: port 9000; /api/alerts secret set; /api/execution token set",
      "secrets key: set",
      "execution: entries sent from 09:45 to 10:00 New York time on trading days, as simple orders, an OCO placed on each fill",
      "log level: debug",
    ]);
  });

  it("describes the sandbox", () => {
    expect(describeConfig(configOf({}))).toEqual([
      "mode: sandbox; orders go to the simulator (no ALPACA_KEY_ID / ALPACA_SECRET_KEY)",
      "role: all",
      "chat: local sandbox (no TELEGRAM_BOT_TOKEN); no allowed users",
      "broker: the built-in simulator; credentials not set",
      "database: embedded under ./data",
      "queues: embedded (no REDIS_URL)",
      "http: port 8080; /api/alerts disabled (no ALERT_WEBHOOK_SECRET); /api/execution disabled (no API_TOKEN)",
      "secrets key: not set; broker credentials cannot be stored",
      "execution: entries sent at once, as native brackets",
      "log level: info",
    ]);
    expect(
      describeConfig(configOf({ ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: SECRET_KEY }))[0],
    ).toBe("mode: paper; orders go to Alpaca's paper account");
  });
});

describe(".env.example", () => {
  const example = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");

  it("documents every variable, commented out so a copy starts the sandbox", () => {
    for (const name of CONFIG_VARIABLES) {
      expect(example, name).toMatch(new RegExp(`^# ${name}=`, "m"));
    }
    const active = example.split("\n").filter((line) => /^\s*[A-Z_]+=/.test(line));
    expect(active).toEqual([]);
  });
});
