/**
 * The command-line step that stores broker credentials, encrypted with SECRETS_KEY, on an
 * account: `npm run credentials -- add [--live] [--label NAME]` asks for the key pair (hidden
 * input on a terminal, or two lines on standard input), checks it with the broker, and stores it.
 * `npm run credentials -- list` shows the accounts and whether they hold credentials. Credentials
 * are never taken from the command line (shell history) nor through the chat.
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { alpacaUrls, createAlpacaBroker } from "../broker/alpaca/client";
import {
  ensureBrokerAccount,
  listBrokerAccounts,
  storeEncryptedCredentials,
} from "../db/brokerAccounts";
import { openDatabase } from "../db/database";
import { maskKeyId, openCredentials, sealCredentials } from "./brokerCredentials";
import { loadConfig } from "./config";
import { lockEmbeddedDatabase } from "./embeddedLock";
import { redactText } from "./redact";
import { createSecretBox, SecretsError } from "./secrets";

const USAGE = [
  "usage:",
  "  npm run credentials -- add [--live] [--label NAME]   store an Alpaca key pair (asked for, never an argument)",
  "  npm run credentials -- list                          the accounts and their stored credentials",
].join("\n");

class UsageError extends Error {}

/** Reads the two secrets: hidden when typed on a terminal, two lines when piped. */
async function askKeyPair(): Promise<{ keyId: string; secretKey: string }> {
  const tty = process.stdin.isTTY === true;
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: tty });
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (prompt: string): Promise<string> => {
    process.stderr.write(prompt);
    muted = tty;
    const next = await lines.next();
    muted = false;
    if (tty) process.stderr.write("\n");
    if (next.done === true) throw new UsageError("standard input ended before both keys were read");
    return String(next.value).trim();
  };
  try {
    const keyId = await ask("Alpaca key id: ");
    const secretKey = await ask("Alpaca secret key: ");
    if (keyId === "" || secretKey === "") throw new UsageError("both keys are required");
    return { keyId, secretKey };
  } finally {
    rl.close();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...flags] = argv;
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write("fix the configuration first:\n");
    for (const problem of loaded.problems) process.stderr.write(`  ${problem}\n`);
    return 1;
  }
  const config = loaded.config;
  if (command !== "add" && command !== "list") throw new UsageError(USAGE);
  if (config.secretsKey === null) {
    process.stderr.write(
      "SECRETS_KEY is not set: credentials are stored encrypted with it. Generate one with: openssl rand -hex 32\n",
    );
    return 1;
  }
  const box = createSecretBox(config.secretsKey);
  // A desk running on the embedded database has it: opened here too, writes would be lost.
  const release =
    config.database.kind === "embedded"
      ? await lockEmbeddedDatabase(config.database.directory)
      : async () => {};
  const database = await openDatabase(
    config.database.kind === "postgres"
      ? { url: config.database.url }
      : { dataDir: `${config.database.directory}/db` },
  );
  try {
    if (command === "list") {
      const accounts = await listBrokerAccounts(database.db);
      if (accounts.length === 0) process.stdout.write("no accounts yet\n");
      for (const account of accounts) {
        let stored = "no credentials";
        try {
          const credentials = openCredentials(box, account);
          if (credentials !== null) stored = `key id ${maskKeyId(credentials.keyId)}`;
        } catch (error) {
          stored =
            error instanceof SecretsError
              ? `credentials unreadable (${error.code})`
              : "credentials unreadable";
        }
        process.stdout.write(
          `${account.id}\t${account.environment}\t${account.brokerAccountId}\t${account.label ?? "-"}\t${stored}\n`,
        );
      }
      return 0;
    }

    const live = flags.includes("--live");
    const labelAt = flags.indexOf("--label");
    const label = labelAt >= 0 ? flags[labelAt + 1] : undefined;
    if (labelAt >= 0 && (label === undefined || label.startsWith("--")))
      throw new UsageError(USAGE);
    const unknown = flags.filter((f, i) => f !== "--live" && f !== "--label" && i !== labelAt + 1);
    if (unknown.length > 0) throw new UsageError(`unknown option ${unknown[0]}\n${USAGE}`);

    const credentials = await askKeyPair();
    const urls = alpacaUrls(!live, {
      ...(config.alpaca.tradingUrl === null ? {} : { tradingUrl: config.alpaca.tradingUrl }),
      ...(config.alpaca.dataUrl === null ? {} : { dataUrl: config.alpaca.dataUrl }),
      ...(config.alpaca.streamUrl === null ? {} : { streamUrl: config.alpaca.streamUrl }),
    });
    // One request: no shared budget needed.
    const broker = createAlpacaBroker({
      ...credentials,
      ...urls,
      rateLimiter: { acquire: async () => {} },
      readRetries: 0,
    });
    const account = await broker.getAccount();
    if (!account.ok) {
      process.stderr.write(
        `the broker refused these keys (${account.code}); nothing was stored. Check the pair and whether it is for ${live ? "the live" : "a paper"} account.\n`,
      );
      return 1;
    }
    const now = new Date();
    const row = await ensureBrokerAccount(
      database.db,
      {
        environment: live ? "live" : "paper",
        brokerAccountId: account.value.accountId,
        label: label ?? null,
      },
      now,
    );
    await storeEncryptedCredentials(
      database.db,
      row.id,
      sealCredentials(box, row.id, credentials),
      now,
    );
    process.stdout.write(
      `stored: account ${row.id} (${live ? "live" : "paper"}, ${account.value.accountNumber ?? account.value.accountId}), key id ${maskKeyId(credentials.keyId)}\n`,
    );
    return 0;
  } finally {
    await database.close();
    await release();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      error instanceof UsageError ? `${message}\n` : `failed: ${redactText(message)}\n`,
    );
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
