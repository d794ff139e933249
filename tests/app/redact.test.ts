import { describe, expect, it } from "vitest";
import { isSecretName, maskUrl, redactJsonLine, redactText, redactValue } from "../../app/redact";
import { dec } from "../../domain/money";

const BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9";

describe("isSecretName", () => {
  it("recognises secret-bearing names in any spelling", () => {
    const names = [
      "token",
      "botToken",
      "TELEGRAM_BOT_TOKEN",
      "API_TOKEN",
      "secret",
      "secret_key",
      "secretKey",
      "ALPACA_SECRET_KEY",
      "SECRETS_KEY",
      "ALERT_WEBHOOK_SECRET",
      "password",
      "key_id",
      "keyId",
      "ALPACA_KEY_ID",
      "APCA-API-KEY-ID",
      "APCA-API-SECRET-KEY",
      "authorization",
      "Authorization",
      "apiKey",
      "api_key",
      "cookie",
      "X-Signature",
    ];
    for (const name of names) expect(isSecretName(name), name).toBe(true);
  });

  it("leaves trading fields alone", () => {
    for (const name of [
      "symbol",
      "qty",
      "clientOrderId",
      "brokerOrderId",
      "idempotencyKey",
      "url",
    ]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe("redactText", () => {
  it("masks bot tokens in Bot API URLs and on their own", () => {
    expect(redactText(`GET https://api.telegram.org/bot${BOT_TOKEN}/getMe`)).toBe(
      "GET https://api.telegram.org/bot[REDACTED]/getMe",
    );
    expect(redactText(`http://127.0.0.1:9000/bot123:short/sendMessage`)).toBe(
      "http://127.0.0.1:9000/bot[REDACTED]/sendMessage",
    );
    expect(redactText(`token is ${BOT_TOKEN}.`)).toBe("token is [REDACTED].");
  });

  it("masks URL passwords, bearer tokens and secret query parameters", () => {
    expect(redactText("postgres://desk:pw-123@db:5432/desk")).toBe(
      "postgres://desk:[REDACTED]@db:5432/desk",
    );
    expect(redactText("redis://:pw-123@cache:6379")).toBe("redis://:[REDACTED]@cache:6379");
    expect(redactText("Authorization: Bearer abcdef0123456789")).toBe(
      "Authorization: Bearer [REDACTED]",
    );
    expect(redactText("https://x.test/hook?token=abc123&symbol=AAPL")).toBe(
      "https://x.test/hook?token=[REDACTED]&symbol=AAPL",
    );
  });

  it("keeps ordinary text", () => {
    const text = "filled 10 AAPL @ 190.01 at 2026-03-02T14:35:00Z, order dec-42:entry";
    expect(redactText(text)).toBe(text);
    expect(redactText("postgres://desk@db:5432/desk")).toBe("postgres://desk@db:5432/desk");
  });
});

describe("redactValue", () => {
  it("masks secret fields at any depth and keeps the rest", () => {
    const value = {
      a: { b: { c: { d: { headers: { "APCA-API-SECRET-KEY": "s" }, price: dec("1.5") } } } },
      list: [{ password: "p" }, "plain"],
      when: new Date("2026-03-02T14:35:00Z"),
      settings: new Map([["apiKey", "k"]]),
    };
    expect(redactValue(value)).toEqual({
      a: { b: { c: { d: { headers: { "APCA-API-SECRET-KEY": "[REDACTED]" }, price: "1.5" } } } },
      list: [{ password: "[REDACTED]" }, "plain"],
      when: "2026-03-02T14:35:00.000Z",
      settings: { apiKey: "[REDACTED]" },
    });
  });

  it("keeps shared references that are not cycles", () => {
    const shared = { symbol: "AAPL" };
    expect(redactValue({ first: shared, second: shared })).toEqual({
      first: shared,
      second: shared,
    });
  });
});

describe("redactJsonLine", () => {
  it("masks fields and text in one serialized line, keeping the newline", () => {
    const line = `${JSON.stringify({ token: "t-1", url: `https://api.telegram.org/bot${BOT_TOKEN}/x` })}\n`;
    expect(redactJsonLine(line)).toBe(
      '{"token":"[REDACTED]","url":"https://api.telegram.org/bot[REDACTED]/x"}\n',
    );
    expect(redactJsonLine(`not json ${BOT_TOKEN}`)).toBe("not json [REDACTED]");
  });
});

describe("maskUrl", () => {
  it("masks passwords and key parameters", () => {
    expect(maskUrl("postgres://desk:pw@db/desk?sslkey=/k.pem&application_name=desk")).toBe(
      "postgres://desk:[REDACTED]@db/desk?sslkey=[REDACTED]&application_name=desk",
    );
    expect(maskUrl("https://paper-api.alpaca.markets")).toBe("https://paper-api.alpaca.markets");
  });

  it("masks the whole of a password holding @ or quotes, as URL parsers read it", () => {
    // new URL() and the config accept these: the userinfo ends at the authority's last @.
    expect(maskUrl("postgres://desk:p@ss@db:5432/desk")).toBe(
      "postgres://desk:[REDACTED]@db:5432/desk",
    );
    expect(maskUrl(`redis://:pa"ss'wd@cache:6379`)).toBe("redis://:[REDACTED]@cache:6379");
    expect(maskUrl("postgres://desk@db/desk")).toBe("postgres://desk@db/desk");
  });
});

describe("redactJsonLine with URL passwords", () => {
  it("masks a password holding @ or quotes in a logged line, keeping the line JSON", () => {
    const line = JSON.stringify({
      msg: "connect failed",
      database: "postgres://desk:p@ss@db:5432/desk",
      redis: `redis://:pa"ss'wd@cache:6379`,
      note: "AAPL @ 190",
    });
    const redacted = redactJsonLine(line);
    expect(JSON.parse(redacted)).toEqual({
      msg: "connect failed",
      database: "postgres://desk:[REDACTED]@db:5432/desk",
      redis: "redis://:[REDACTED]@cache:6379",
      note: "AAPL @ 190",
    });
  });
});
