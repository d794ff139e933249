import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

/**
 * Encryption of broker credentials stored in the database, with the 32-byte SECRETS_KEY.
 *
 * Sealed format: `v1:<key id>:<iv>:<tag>:<ciphertext>`, each part base64url. AES-256-GCM with a
 * fresh 12-byte IV per encryption; the 16-byte tag authenticates the ciphertext together with the
 * version, the key id and the optional context, so any change fails to decrypt instead of yielding
 * garbage. The key id is a short HMAC of the key (it reveals nothing about it) and tells "encrypted
 * with another key" apart from "modified".
 */

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 8;

export type SecretsErrorCode =
  | "INVALID_KEY"
  | "MALFORMED"
  | "UNSUPPORTED_VERSION"
  | "WRONG_KEY"
  | "TAMPERED";

/** Why a sealed secret could not be opened. Messages never contain the plaintext or the key. */
export class SecretsError extends Error {
  readonly code: SecretsErrorCode;

  constructor(code: SecretsErrorCode, message: string) {
    super(message);
    this.name = "SecretsError";
    this.code = code;
  }
}

export interface SecretBox {
  /** Identifies the key without revealing it (base64url); stored inside each sealed value. */
  readonly keyId: string;
  /**
   * Encrypts text. `context` (e.g. "account:42:alpaca_secret_key") binds the sealed value to its
   * place, so a value copied to another row does not decrypt there; decrypt needs the same context.
   */
  encrypt(plaintext: string, context?: string): string;
  /** Decrypts a sealed value; throws SecretsError when it is malformed, modified or from another key. */
  decrypt(sealed: string, context?: string): string;
}

/**
 * Parses SECRETS_KEY text: 32 bytes written as 64 hex digits, or as base64 / base64url (43
 * characters, or 44 with padding). Returns null for anything else.
 */
export function parseSecretsKey(text: string): Buffer | null {
  const trimmed = text.trim();
  // Checked first: 64 hex digits are also valid base64 but would decode to 48 bytes.
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, "base64");
    if (bytes.length === KEY_BYTES) return bytes;
  }
  return null;
}

/** Builds the encrypt/decrypt pair for one 32-byte key. */
export function createSecretBox(key: Uint8Array): SecretBox {
  if (key.length !== KEY_BYTES) {
    throw new SecretsError("INVALID_KEY", `the secrets key must be ${KEY_BYTES} bytes`);
  }
  const keyBytes = Buffer.from(key);
  const keyId = createHmac("sha256", keyBytes)
    .update("secrets-key-id")
    .digest()
    .subarray(0, KEY_ID_BYTES)
    .toString("base64url");

  return {
    keyId,
    encrypt(plaintext, context = "") {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", keyBytes, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(associatedData(keyId, context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, keyId, iv, tag, ciphertext]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(":");
    },
    decrypt(sealed, context = "") {
      const parts = sealed.split(":");
      const [version, sealedKeyId, ivText, tagText, ciphertextText] = parts;
      if (version !== undefined && version !== VERSION && /^v\d+$/.test(version)) {
        throw new SecretsError(
          "UNSUPPORTED_VERSION",
          `sealed secret has format ${version}; this version reads ${VERSION} only`,
        );
      }
      if (
        parts.length !== 5 ||
        version !== VERSION ||
        sealedKeyId === undefined ||
        ivText === undefined ||
        tagText === undefined ||
        ciphertextText === undefined ||
        ![sealedKeyId, ivText, tagText, ciphertextText].every(isBase64Url)
      ) {
        throw new SecretsError(
          "MALFORMED",
          `sealed secret is not in the ${VERSION}:<key id>:<iv>:<tag>:<ciphertext> format`,
        );
      }
      const iv = Buffer.from(ivText, "base64url");
      const tag = Buffer.from(tagText, "base64url");
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SecretsError("MALFORMED", "sealed secret has a wrong IV or tag length");
      }
      if (sealedKeyId !== keyId) {
        throw new SecretsError(
          "WRONG_KEY",
          `sealed secret was encrypted with another SECRETS_KEY (key id ${sealedKeyId}, current key id ${keyId})`,
        );
      }
      const decipher = createDecipheriv("aes-256-gcm", keyBytes, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(keyId, context));
      decipher.setAuthTag(tag);
      try {
        const ciphertext = Buffer.from(ciphertextText, "base64url");
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
      } catch {
        // GCM reports only "unable to authenticate"; the cause (Node's error) adds nothing and is dropped.
        throw new SecretsError(
          "TAMPERED",
          "sealed secret failed authentication: it was modified, or stored under a different context",
        );
      }
    },
  };
}

function associatedData(keyId: string, context: string): Buffer {
  return Buffer.from(`${VERSION}:${keyId}:${context}`, "utf8");
}

/** Canonical base64url only: a changed final character that decodes to the same bytes is still a change. */
function isBase64Url(text: string): boolean {
  return (
    /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, "base64url").toString("base64url") === text
  );
}
