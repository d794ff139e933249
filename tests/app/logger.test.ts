import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/logger";
import { dec } from "../../domain/money";

/** A destination that keeps every line written to it. */
function collectLines() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return {
    lines,
    stream,
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9";
const SECRET_VALUES = [
  "tok-3f9a8b7c6d5e",
  "sec-1a2b3c4d5e6f",
  "pw-hunter2hunter2",
  "PKKEYID1234567890",
  "alpacaSecretKey0987654321",
  "Bearer-value-abcdef123456",
  "apikey-value-998877",
  "apca-header-secret-112233",
  "apca-header-keyid-445566",
  BOT_TOKEN,
  "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9",
  "dbpass-556677",
];

describe("createLogger", () => {
  it("writes JSON lines with the level name at and above the chosen level", () => {
    const { stream, records } = collectLines();
    const logger = createLogger({ level: "info", destination: stream });
    logger.debug("hidden");
    logger.info({ symbol: "AAPL", qty: dec("10") }, "order accepted");
    logger.warn("slow broker");
    expect(records().map((record) => [record.level, record.msg])).toEqual([
      ["info", "order accepted"],
      ["warn", "slow broker"],
    ]);
    expect(records()[0]).toMatchObject({ symbol: "AAPL", qty: "10" });
  });

  it("never prints secret-bearing fields or a bot token inside a URL", () => {
    const { stream, lines, records } = collectLines();
    const logger = createLogger({ level: "trace", destination: stream });
    logger.info(
      {
        token: "tok-3f9a8b7c6d5e",
        secret: "sec-1a2b3c4d5e6f",
        password: "pw-hunter2hunter2",
        key_id: "PKKEYID1234567890",
        secret_key: "alpacaSecretKey0987654321",
        apiKey: "apikey-value-998877",
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        request: {
          url: `https://api.telegram.org/bot${BOT_TOKEN}/sendMessage`,
          headers: {
            authorization: "Bearer Bearer-value-abcdef123456",
            "APCA-API-KEY-ID": "apca-header-keyid-445566",
            "APCA-API-SECRET-KEY": "apca-header-secret-112233",
            "content-type": "application/json",
          },
        },
        database: "postgres://desk:dbpass-556677@db:5432/desk",
        symbol: "AAPL",
      },
      `calling https://api.telegram.org/bot${BOT_TOKEN}/getUpdates`,
    );
    const output = lines.join("\n");
    for (const secret of SECRET_VALUES) expect(output).not.toContain(secret);

    const [record] = records();
    expect(record).toMatchObject({
      token: "[REDACTED]",
      secret: "[REDACTED]",
      password: "[REDACTED]",
      key_id: "[REDACTED]",
      secret_key: "[REDACTED]",
      apiKey: "[REDACTED]",
      TELEGRAM_BOT_TOKEN: "[REDACTED]",
      request: {
        url: "https://api.telegram.org/bot[REDACTED]/sendMessage",
        headers: {
          authorization: "[REDACTED]",
          "APCA-API-KEY-ID": "[REDACTED]",
          "APCA-API-SECRET-KEY": "[REDACTED]",
          "content-type": "application/json",
        },
      },
      database: "postgres://desk:[REDACTED]@db:5432/desk",
      symbol: "AAPL",
      msg: "calling https://api.telegram.org/bot[REDACTED]/getUpdates",
    });
  });

  it("redacts errors: message, stack, and fields such as request headers", () => {
    const { stream, lines, records } = collectLines();
    const logger = createLogger({ level: "info", destination: stream });
    const error = Object.assign(
      new Error(`request to https://api.telegram.org/bot${BOT_TOKEN}/getMe failed`),
      { config: { headers: { "APCA-API-SECRET-KEY": "apca-header-secret-112233" } } },
    );
    logger.error({ err: error }, "Bot API unreachable");
    logger.error(error);
    const output = lines.join("\n");
    for (const secret of SECRET_VALUES) expect(output).not.toContain(secret);
    const [first, second] = records();
    expect(first).toMatchObject({
      msg: "Bot API unreachable",
      err: {
        type: "Error",
        message: "request to https://api.telegram.org/bot[REDACTED]/getMe failed",
        config: { headers: { "APCA-API-SECRET-KEY": "[REDACTED]" } },
      },
    });
    const stack = (first?.err as { stack?: unknown } | undefined)?.stack;
    expect(String(stack)).toContain("bot[REDACTED]/getMe");
    expect(second?.msg).toBe("request to https://api.telegram.org/bot[REDACTED]/getMe failed");
  });

  it("redacts child bindings and interpolated message arguments", () => {
    const { stream, lines, records } = collectLines();
    const logger = createLogger({ level: "info", destination: stream });
    const child = logger.child({ component: "broker", secretKey: "alpacaSecretKey0987654321" });
    child.info("connecting with %s", `https://api.telegram.org/bot${BOT_TOKEN}/getMe`);
    const output = lines.join("\n");
    for (const secret of SECRET_VALUES) expect(output).not.toContain(secret);
    expect(records()[0]).toMatchObject({ component: "broker", secretKey: "[REDACTED]" });
  });

  it("keeps working on cyclic objects", () => {
    const { stream, records } = collectLines();
    const logger = createLogger({ level: "info", destination: stream });
    const order: Record<string, unknown> = { clientOrderId: "dec-1-entry" };
    order.self = order;
    logger.info({ order }, "cyclic");
    expect(records()[0]).toMatchObject({
      order: { clientOrderId: "dec-1-entry", self: "[Circular]" },
    });
  });

  it("can log the whole configuration without printing a secret", () => {
    const env = {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_ALLOWED_USERS: "1:admin",
      ALPACA_KEY_ID: "PKKEYID1234567890",
      ALPACA_SECRET_KEY: "alpacaSecretKey0987654321",
      DATABASE_URL: "postgres://desk:dbpass-556677@db:5432/desk",
      ALERT_WEBHOOK_SECRET: "sec-1a2b3c4d5e6f-webhook",
      API_TOKEN: "tok-3f9a8b7c6d5e-api-token",
      SECRETS_KEY: "ab".repeat(32),
    };
    const result = loadConfig(env);
    if (!result.ok) throw new Error(result.problems.join("\n"));
    const { stream, lines, records } = collectLines();
    createLogger({ level: "info", destination: stream }).info({ config: result.config }, "start");
    const output = lines.join("\n");
    for (const secret of [...SECRET_VALUES, ...Object.values(env).slice(2), "ab".repeat(32)]) {
      expect(output).not.toContain(secret);
    }
    expect(records()[0]).toMatchObject({ config: { mode: "paper", http: { port: 8080 } } });
  });
});
