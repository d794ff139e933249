/**
 * Broker credentials kept per account in the database, sealed with SECRETS_KEY (app/secrets.ts).
 * The sealed value is bound to its account row, so a value copied to another row does not open.
 */
import { z } from "zod";
import type { BrokerAccount } from "../db/brokerAccounts";
import type { AlpacaCredentials } from "./config";
import type { SecretBox } from "./secrets";

const sealedCredentialsSchema = z.object({
  keyId: z.string().min(1),
  secretKey: z.string().min(1),
});

/** The context that binds sealed credentials to one account row. */
export function credentialsContext(accountId: number): string {
  return `account:${accountId}:alpaca-credentials`;
}

/** Seals a key pair for one account. */
export function sealCredentials(
  box: SecretBox,
  accountId: number,
  credentials: AlpacaCredentials,
): string {
  return box.encrypt(
    JSON.stringify({ keyId: credentials.keyId, secretKey: credentials.secretKey }),
    credentialsContext(accountId),
  );
}

/** Opens an account's stored key pair; null when it has none. Throws SecretsError on a wrong key or tampering. */
export function openCredentials(box: SecretBox, account: BrokerAccount): AlpacaCredentials | null {
  if (account.encryptedCredentials === null) return null;
  const plain = box.decrypt(account.encryptedCredentials, credentialsContext(account.id));
  return sealedCredentialsSchema.parse(JSON.parse(plain));
}

/** A key id fit for display: its last four characters. */
export function maskKeyId(keyId: string): string {
  return keyId.length <= 4 ? "****" : `****${keyId.slice(-4)}`;
}
