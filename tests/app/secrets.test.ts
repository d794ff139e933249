import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSecretBox, parseSecretsKey, SecretsError } from "../../app/secrets";

const PLAINTEXT = "alpaca-secret-9f8e7d6c5b4a";

/** Calls fn, which must throw a SecretsError, and returns that error. */
function secretsErrorOf(fn: () => unknown): SecretsError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SecretsError) return error;
    throw error;
  }
  throw new Error("expected a SecretsError");
}

function expectNoLeak(error: Error, key: Buffer) {
  const text = `${error.message}\n${error.stack ?? ""}`;
  expect(text).not.toContain(PLAINTEXT);
  expect(text).not.toContain(key.toString("hex"));
  expect(text).not.toContain(key.toString("base64"));
  expect(text).not.toContain(key.toString("base64url"));
}

describe("createSecretBox", () => {
  const key = randomBytes(32);
  const box = createSecretBox(key);

  it("round-trips text, including empty and non-ASCII", () => {
    for (const text of [PLAINTEXT, "", "ключ-🔑-clé", "x".repeat(10_000)]) {
      expect(box.decrypt(box.encrypt(text))).toBe(text);
    }
  });

  it("writes the versioned format and never the plaintext", () => {
    const sealed = box.encrypt(PLAINTEXT);
    expect(sealed).toMatch(
      /^v1:[A-Za-z0-9_-]{11}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/,
    );
    expect(sealed.split(":")[1]).toBe(box.keyId);
    expect(sealed).not.toContain(PLAINTEXT);
    expect(sealed).not.toContain(Buffer.from(PLAINTEXT).toString("base64url"));
  });

  it("uses a fresh IV for every encryption", () => {
    const sealed = Array.from({ length: 50 }, () => box.encrypt(PLAINTEXT));
    expect(new Set(sealed).size).toBe(50);
    expect(new Set(sealed.map((value) => value.split(":")[2])).size).toBe(50);
  });

  it("opens values sealed by another box built from the same key", () => {
    expect(createSecretBox(Buffer.from(key)).decrypt(box.encrypt(PLAINTEXT))).toBe(PLAINTEXT);
  });

  it("detects any single changed character in the IV, tag or ciphertext", () => {
    const sealed = box.encrypt(PLAINTEXT);
    const parts = sealed.split(":");
    for (const partIndex of [2, 3, 4]) {
      const part = parts[partIndex] ?? "";
      for (let position = 0; position < part.length; position++) {
        const original = part[position];
        const replacement = original === "A" ? "B" : "A";
        const changedPart = part.slice(0, position) + replacement + part.slice(position + 1);
        const changed = parts.map((p, i) => (i === partIndex ? changedPart : p)).join(":");
        const error = secretsErrorOf(() => box.decrypt(changed));
        expect(["TAMPERED", "MALFORMED"]).toContain(error.code);
        expectNoLeak(error, key);
      }
    }
  });

  it("reports a modified ciphertext as tampered, with a clear message", () => {
    const sealed = box.encrypt(PLAINTEXT);
    const parts = sealed.split(":");
    const ciphertext = Buffer.from(parts[4] ?? "", "base64url");
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 0x01;
    parts[4] = ciphertext.toString("base64url");
    const error = secretsErrorOf(() => box.decrypt(parts.join(":")));
    expect(error.code).toBe("TAMPERED");
    expect(error.message).toBe(
      "sealed secret failed authentication: it was modified, or stored under a different context",
    );
    expectNoLeak(error, key);
  });

  it("refuses truncated or extended ciphertexts", () => {
    const sealed = box.encrypt(PLAINTEXT);
    expect(secretsErrorOf(() => box.decrypt(sealed.slice(0, -2))).code).toMatch(
      /TAMPERED|MALFORMED/,
    );
    expect(secretsErrorOf(() => box.decrypt(`${sealed}AAAA`)).code).toBe("TAMPERED");
  });

  it("says when the value was sealed with another key", () => {
    const otherKey = randomBytes(32);
    const sealed = createSecretBox(otherKey).encrypt(PLAINTEXT);
    const error = secretsErrorOf(() => box.decrypt(sealed));
    expect(error.code).toBe("WRONG_KEY");
    expect(error.message).toMatch(/^sealed secret was encrypted with another SECRETS_KEY/);
    expectNoLeak(error, key);
    expectNoLeak(error, otherKey);
  });

  it("fails authentication when the key id is forged to match the current key", () => {
    const otherKey = randomBytes(32);
    const parts = createSecretBox(otherKey).encrypt(PLAINTEXT).split(":");
    parts[1] = box.keyId;
    const error = secretsErrorOf(() => box.decrypt(parts.join(":")));
    expect(error.code).toBe("TAMPERED");
    expectNoLeak(error, key);
  });

  it("binds a value to its context", () => {
    const sealed = box.encrypt(PLAINTEXT, "account:1:secret_key");
    expect(box.decrypt(sealed, "account:1:secret_key")).toBe(PLAINTEXT);
    expect(secretsErrorOf(() => box.decrypt(sealed, "account:2:secret_key")).code).toBe("TAMPERED");
    expect(secretsErrorOf(() => box.decrypt(sealed)).code).toBe("TAMPERED");
  });

  it("refuses malformed and unknown-version values", () => {
    const sealed = box.encrypt(PLAINTEXT);
    for (const bad of [
      "",
      "plain text",
      "v1:a:b:c",
      `${sealed}:extra`,
      sealed.replace("v1:", "x1:"),
    ]) {
      expect(secretsErrorOf(() => box.decrypt(bad)).code).toBe("MALFORMED");
    }
    const parts = sealed.split(":");
    parts[2] = "short";
    expect(secretsErrorOf(() => box.decrypt(parts.join(":"))).code).toBe("MALFORMED");
    const withPadding = sealed.replace(/:([^:]+)$/, ":$1=");
    expect(secretsErrorOf(() => box.decrypt(withPadding)).code).toBe("MALFORMED");
    const v2 = secretsErrorOf(() => box.decrypt(sealed.replace(/^v1:/, "v2:")));
    expect(v2.code).toBe("UNSUPPORTED_VERSION");
    expect(v2.message).toBe("sealed secret has format v2; this version reads v1 only");
  });

  it("refuses keys that are not 32 bytes", () => {
    for (const length of [0, 16, 31, 33, 64]) {
      const error = secretsErrorOf(() => createSecretBox(randomBytes(length)));
      expect(error.code).toBe("INVALID_KEY");
    }
  });
});

describe("parseSecretsKey", () => {
  const key = randomBytes(32);

  it("reads 64 hex digits, base64 and base64url", () => {
    expect(parseSecretsKey(key.toString("hex"))).toEqual(key);
    expect(parseSecretsKey(` ${key.toString("hex").toUpperCase()}\n`)).toEqual(key);
    expect(parseSecretsKey(key.toString("base64"))).toEqual(key);
    expect(parseSecretsKey(key.toString("base64").replace(/=$/, ""))).toEqual(key);
    expect(parseSecretsKey(key.toString("base64url"))).toEqual(key);
  });

  it("refuses other sizes and text", () => {
    expect(parseSecretsKey(randomBytes(31).toString("hex"))).toBeNull();
    expect(parseSecretsKey(randomBytes(33).toString("hex"))).toBeNull();
    expect(parseSecretsKey(randomBytes(24).toString("base64"))).toBeNull();
    expect(parseSecretsKey(randomBytes(48).toString("base64"))).toBeNull();
    expect(parseSecretsKey("g".repeat(64))).toBeNull();
    expect(parseSecretsKey("")).toBeNull();
  });
});
